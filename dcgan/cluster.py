"""Who this process is in a distributed run, and whether the other tasks are still there.

Free of TensorFlow, so the flags can be checked (and a non-chief worker can know it must write
nothing) before TensorFlow is imported. The cluster comes from `TF_CONFIG`, the JSON that
Kubeflow's TFJob, Vertex AI and SageMaker set on every task:

    {"cluster": {"worker": ["host0:port", "host1:port"]}, "task": {"type": "worker", "index": 1}}

A `chief` job of one task may stand beside the workers; without one, worker 0 is the chief.
The chief writes the run's checkpoints, run.json, sample grids and TensorBoard events; the
others write nothing into the run's folders.

Faults: TensorFlow's collective all-reduce waits forever for a peer that died (measured: a
`kill -9` of one worker leaves the other blocked in its next all-reduce until a RunOptions
timeout). So every task watches the others' server ports from a thread (`Watchdog`) and stops
the process with one line when a peer never comes up or stops answering; and while a task waits
for its peers, SIGINT/SIGTERM stop it at once (`StopOnSignal`) rather than when the wait ends.
Mistakes in TF_CONFIG and --devices are UsageErrors found here, before TensorFlow loads.
"""

import dataclasses
import hashlib
import json
import os
import re
import signal
import socket
import sys
import threading
import time

from dcgan.errors import UsageError, require

STRATEGIES = ("none", "mirrored", "multi_worker")
ARRIVAL_TIMEOUT_S = 60  # default --worker_timeout: a task not up by then is missing
LOST_AFTER_S = 10.0  # a task whose port refuses connections this long has died
PROBE_EVERY_S = 2.0
SUPPORTED_JOBS = ("chief", "worker")


@dataclasses.dataclass(frozen=True)
class Task:
    """One task of the cluster: its job ("chief" or "worker"), index and host:port."""

    job: str
    index: int
    address: str

    @property
    def label(self):
        """`worker 1` or `chief`."""
        return "chief" if self.job == "chief" else f"worker {self.index}"

    @property
    def name(self):
        """How messages name it: `worker 1 (10.0.0.2:2222)` or `chief (10.0.0.1:2222)`."""
        return f"{self.label} ({self.address})"


@dataclasses.dataclass(frozen=True)
class Cluster:
    """The tasks of TF_CONFIG's cluster (chief first, then the workers) and this process's."""

    tasks: tuple
    me: Task

    @property
    def rank(self):
        """This task's position among all tasks (the chief is 0): its shard of the data."""
        return self.tasks.index(self.me)

    @property
    def size(self):
        """How many tasks train."""
        return len(self.tasks)

    @property
    def is_chief(self):
        """Whether this task writes the run's outputs."""
        return self.rank == 0

    @property
    def peers(self):
        """Every task but this one."""
        return [task for task in self.tasks if task != self.me]

    def spec(self):
        """The cluster as a {job: [addresses]} dict, for tf.train.ClusterSpec."""
        jobs = {}
        for task in self.tasks:
            jobs.setdefault(task.job, []).append(task.address)
        return jobs


TF_CONFIG_EXAMPLE = ('TF_CONFIG=\'{"cluster": {"worker": ["host0:2222", "host1:2222"]}, '
                     '"task": {"type": "worker", "index": 0}}\'')
# host:port, the host a name, an IPv4 address or a bracketed IPv6 address.
ADDRESS = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[^\s:/\[\]]+):(\d{1,5})")


def _invalid(what):
    """The UsageError for a TF_CONFIG that says `what` is wrong, with an example to copy."""
    return UsageError(f"TF_CONFIG {what}: set it like {TF_CONFIG_EXAMPLE}")


def _parse(text):
    """TF_CONFIG's (jobs, task type, task index), each of the right type."""
    try:
        config = json.loads(text)
    except json.JSONDecodeError as error:
        raise _invalid(f"is not JSON ({error.msg} at character {error.pos})") from None
    if not isinstance(config, dict):
        raise _invalid(f"is {json.dumps(config)}, not an object")
    jobs, task = config.get("cluster"), config.get("task")
    if not isinstance(jobs, dict) or not jobs:
        raise _invalid(f'has "cluster": {json.dumps(jobs)}, not an object of jobs and their '
                       'host:port lists')
    job, index = (task.get("type"), task.get("index")) if isinstance(task, dict) else (None, None)
    if isinstance(index, str) and index.isdigit():
        index = int(index)
    if not isinstance(job, str) or not isinstance(index, int) or isinstance(index, bool):
        raise _invalid(f'has "task": {json.dumps(task)}, not this task\'s job and index')
    return jobs, job, index


def _tasks(jobs):
    """The cluster's Tasks, chief first, each address checked to be host:port."""
    tasks = []
    for job in SUPPORTED_JOBS:
        addresses = jobs.get(job, [])
        if not isinstance(addresses, list) or not all(isinstance(a, str) for a in addresses):
            raise _invalid(f'has "{job}": {json.dumps(addresses)}, not a list of host:port')
        tasks += [Task(job, index, address) for index, address in enumerate(addresses)]
    for task in tasks:
        port = ADDRESS.fullmatch(task.address)
        if not port or not 0 < int(port.group(1)) < 65536:
            raise UsageError(f"TF_CONFIG gives {task.label} the address {task.address!r}, not "
                             "host:port with a port from 1 to 65535: write it like "
                             "10.0.0.1:2222")
    return tuple(tasks)


def _check_distinct(tasks):
    """Refuse two tasks at one address (they would be one server talking to itself)."""
    seen = {}
    for task in tasks:
        if task.address in seen:
            raise UsageError(f"TF_CONFIG gives {seen[task.address].label} and {task.name} "
                             "the same address: give every task its own host:port")
        seen[task.address] = task


def from_tf_config(text):
    """The Cluster described by a TF_CONFIG string; raises UsageError saying what is wrong."""
    if not text:
        raise UsageError(f"--distribute multi_worker needs the cluster in TF_CONFIG: set it on "
                         f"every task, e.g. {TF_CONFIG_EXAMPLE}")
    jobs, job, index = _parse(text)
    unknown = sorted(set(jobs) - set(SUPPORTED_JOBS))
    if unknown or job not in SUPPORTED_JOBS:
        raise UsageError(f"TF_CONFIG names job {(unknown or [job])[0]!r}: only 'chief' (at most "
                         "one) and 'worker' tasks train; drop the others")
    tasks = _tasks(jobs)
    if len(jobs.get("chief", [])) > 1:
        raise UsageError("TF_CONFIG lists more than one chief: keep one")
    _check_distinct(tasks)
    matching = [task for task in tasks if (task.job, task.index) == (job, index)]
    if not matching:
        raise UsageError(f"TF_CONFIG's task {job} {index} is not in its cluster "
                         f"({', '.join(t.name for t in tasks)}): fix the task index")
    return Cluster(tasks, matching[0])


def from_environment():
    """The Cluster of this process's TF_CONFIG."""
    return from_tf_config(os.environ.get("TF_CONFIG", ""))


def check_port_free(task):
    """Refuse to start when this task's port is taken: TensorFlow's server would fail to bind
    it (listening on every interface, as here) with a C++ log and a traceback."""
    port = int(task.address.rpartition(":")[2])
    with socket.socket() as probe:
        # As the server does: a port whose old connections linger (TIME_WAIT) is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("0.0.0.0", port))
        except OSError as error:
            raise UsageError(f"this task's port {port} ({task.name} in TF_CONFIG) is taken "
                             f"({error.strerror}): stop what listens there, or give this task "
                             "another port in TF_CONFIG on every task") from None


# A device --devices may name: a CPU or a GPU of this machine, as /gpu:1 or /device:GPU:1.
DEVICE = re.compile(r"/?(?:device:)?(cpu|gpu):(\d+)", re.IGNORECASE)


def device_list(devices):
    """`--devices /gpu:0,/GPU:1` as canonical names (['/gpu:0', '/gpu:1']; [] when empty).

    Raises UsageError for a name that is not a local CPU or GPU, or a device named twice."""
    names = []
    for given in (name.strip() for name in (devices or "").split(",")):
        if not given:
            continue
        match = DEVICE.fullmatch(given)
        require(match is not None, f"--devices names {given!r}, which is not a CPU or GPU of "
                "this machine: name devices like /gpu:0,/gpu:1 (or /cpu:0,/cpu:1)")
        name = f"/{match.group(1).lower()}:{int(match.group(2))}"
        require(name not in names, f"--devices {devices} names {name} twice: name each device "
                "once")
        names.append(name)
    return names


def check_devices_exist(devices, gpus):
    """Refuse a --devices GPU beyond the `gpus` this machine has. Any /cpu:N is allowed: the
    session creates that many logical CPUs (distribute.Replication)."""
    for name in devices:
        kind, index = name[1:].split(":")
        if kind == "gpu" and int(index) >= gpus:
            have = f"{gpus} GPUs (/gpu:0 to /gpu:{gpus - 1})" if gpus else "no GPU"
            raise UsageError(f"--devices names {name}, but TensorFlow sees {have} on this "
                             "machine: name devices that exist, or drop --devices (every GPU, "
                             "else the CPU)")


def check_flags(flags, resumed=None):
    """Check --distribute, --devices, --worker_timeout, TF_CONFIG and, where the replica count
    is known, --batch_size. `resumed`: the folder of the run a resume continues, whose batch
    is kept."""
    kind = flags["distribute"]
    require(kind in STRATEGIES,
            f"--distribute must be one of {', '.join(STRATEGIES)}, not {kind!r}")
    devices = device_list(flags["devices"])
    require(not devices or kind == "mirrored", "--devices names the devices of --distribute "
            "mirrored: add --distribute mirrored or drop --devices")
    timeout = flags["worker_timeout"]
    require(timeout is not None and timeout > 0,
            f"--worker_timeout must be a positive number of seconds, not {timeout}")
    if devices:
        check_batch(flags["batch_size"], len(devices), resumed)
    if kind == "multi_worker":
        joined = from_environment()
        check_port_free(joined.me)
        # At least one replica a worker (a GPU worker has one a GPU: distribute.Replication).
        check_batch(flags["batch_size"], joined.size, resumed)


def check_batch(batch_size, replicas, resumed=None):
    """Refuse a global batch that cannot be split evenly over the replicas. `resumed`: the
    folder of the run this launch resumes (its batch is the run's, so the fix is another
    replica count)."""
    if batch_size % replicas == 0:
        return
    if resumed:
        raise UsageError(f"the run in {resumed} trains with global batch {batch_size} "
                         f"(--batch_size), which does not split evenly over {replicas} "
                         f"replicas: resume it on a number of replicas that divides "
                         f"{batch_size}, or pass --name NAME for a new run")
    raise UsageError(f"--batch_size {batch_size} does not split evenly over {replicas} "
                     f"replicas: make it a multiple of {replicas}")


def writes_outputs(distribute):
    """Whether this process writes the run's outputs (everyone but a non-chief worker)."""
    return distribute != "multi_worker" or from_environment().is_chief


def free_local_ports(count):
    """`count` TCP ports that are free on 127.0.0.1 now (for a cluster on one machine)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def local_tf_config(ports, index):
    """TF_CONFIG of worker `index` in a cluster of workers on 127.0.0.1 at `ports`."""
    workers = [f"127.0.0.1:{port}" for port in ports]
    return json.dumps({"cluster": {"worker": workers},
                       "task": {"type": "worker", "index": index}})


def reachable(address, timeout=1.0):
    """Whether a TCP connection to host:port succeeds (a TensorFlow server listens there)."""
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            return True
    except OSError:
        return False


def stop_process(message):
    """Print `error: message` on one line and end the process with status 1 at once.

    Used from the watchdog thread while the main thread is blocked in an all-reduce that will
    never finish: there is nothing to save (checkpoints are written atomically, so the last
    one is intact) and no way to interrupt the blocked call.
    """
    print(f"error: {message}", file=sys.stderr, flush=True)
    os._exit(1)


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopOnSignal:
    """While the block runs, SIGINT or SIGTERM call `on_signal(signum)` at once, from a thread.

    For a task that waits for its peers: its main thread is then inside TensorFlow's C++ code
    (a collective that waits for every task), where no Python runs, so a Python signal handler
    (train.StopRequest's) would run only when the wait ends, up to --worker_timeout later.
    CPython's C-level handler writes the signal's number to the wakeup fd at once even so; a
    thread reads it there. Must be entered from the main thread (as signal handlers are).
    `pending`: a signal that came before the block (caught by another handler): it calls
    `on_signal` on entering.
    """

    def __init__(self, on_signal, pending=None):
        self.on_signal = on_signal
        self.pending = pending
        self._previous = {}
        self._pipe = self._thread = None
        self._old_fd = -1

    def __enter__(self):
        read_end, write_end = os.pipe()
        os.set_blocking(write_end, False)  # as set_wakeup_fd requires
        self._pipe = (read_end, write_end)
        for signum in STOP_SIGNALS:
            # CPython's C handler, which writes to the wakeup fd, is installed only for signals
            # with a Python handler.
            self._previous[signum] = signal.signal(signum, self._ignore)
        self._old_fd = signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
        self._thread = threading.Thread(target=self._watch, name="signal-watch", daemon=True)
        self._thread.start()
        if self.pending is not None:
            self.on_signal(self.pending)
        return self

    def _ignore(self, signum, frame):
        """The Python handler, run in the main thread once it runs Python again: the watcher
        has already acted on the signal."""

    def _watch(self):
        while True:
            byte = os.read(self._pipe[0], 1)
            if not byte:  # __exit__ closed the pipe
                return
            if byte[0] in STOP_SIGNALS:
                self.on_signal(signal.Signals(byte[0]))

    def __exit__(self, *exc):
        signal.set_wakeup_fd(self._old_fd)
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        os.close(self._pipe[1])  # the watcher reads the pipe's end and returns
        self._thread.join()
        os.close(self._pipe[0])


class Watchdog:
    """Watches the other tasks' ports from a daemon thread; `on_fault(message)` when one is
    missing: not up within `arrival_s` of start, or refusing connections for LOST_AFTER_S.

    `advice()` returns what to do, appended to the message (it names the last checkpoint).
    """

    def __init__(self, cluster, advice, arrival_s=ARRIVAL_TIMEOUT_S, on_fault=stop_process):
        self.cluster = cluster
        self.advice = advice
        self.arrival_s = arrival_s
        self.on_fault = on_fault
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="peer-watchdog", daemon=True)

    def start(self):
        """Start watching (as soon as this task's own server is up)."""
        self._thread.start()

    def stop(self):
        """Stop watching (before a normal exit, when peers may leave first)."""
        self._stop.set()

    def _watch(self):
        started = time.monotonic()
        last_seen = {task: None for task in self.cluster.peers}
        while not self._stop.wait(PROBE_EVERY_S):
            now = time.monotonic()
            for task in last_seen:
                if reachable(task.address):
                    last_seen[task] = now
            problem = self._problem(last_seen, now - started > self.arrival_s, now)
            if problem and not self._stop.is_set():
                self.on_fault(f"{problem}: {self.advice()}")
                return

    def _problem(self, last_seen, late, now):
        """The first missing task in words, or None."""
        for task, seen in last_seen.items():
            if seen is None and late:
                return (f"{task.name} did not start within {self.arrival_s} s (see "
                        "--worker_timeout)")
            if seen is not None and now - seen > LOST_AFTER_S:
                return f"{task.name} stopped answering (dead or unreachable)"
        return None


def missing_tasks(cluster):
    """Names of the other tasks that do not answer now (one probe each)."""
    return [task.name for task in cluster.peers if not reachable(task.address)]


def fingerprint(named_arrays):
    """A short hash of {name: numpy array}: equal on two tasks iff their values are equal."""
    digest = hashlib.sha1()
    for name in sorted(named_arrays):
        value = named_arrays[name]
        digest.update(f"{name}:{value.dtype}:{value.shape}\n".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()[:16]
