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
the process with one line when a peer never comes up or stops answering.
"""

import dataclasses
import hashlib
import json
import os
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
    def name(self):
        """How messages name it: `worker 1 (10.0.0.2:2222)` or `chief (10.0.0.1:2222)`."""
        label = "chief" if self.job == "chief" else f"worker {self.index}"
        return f"{label} ({self.address})"


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


def _parse(text):
    try:
        config = json.loads(text)
        return config["cluster"], config["task"]["type"], int(config["task"]["index"])
    except (ValueError, KeyError, TypeError) as error:
        raise UsageError(f"TF_CONFIG is not valid ({type(error).__name__}: {error}): set it "
                         f"like {TF_CONFIG_EXAMPLE}") from None


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
    tasks = tuple(Task(name, i, address) for name in SUPPORTED_JOBS
                  for i, address in enumerate(jobs.get(name, [])))
    matching = [task for task in tasks if (task.job, task.index) == (job, index)]
    if not matching:
        raise UsageError(f"TF_CONFIG's task {job} {index} is not in its cluster "
                         f"({', '.join(t.name for t in tasks)}): fix the task index")
    if len(jobs.get("chief", [])) > 1:
        raise UsageError("TF_CONFIG lists more than one chief: keep one")
    return Cluster(tasks, matching[0])


def from_environment():
    """The Cluster of this process's TF_CONFIG."""
    return from_tf_config(os.environ.get("TF_CONFIG", ""))


def device_list(devices):
    """`--devices /gpu:0,/gpu:1` as a list of device names ([] when empty)."""
    return [name.strip() for name in (devices or "").split(",") if name.strip()]


def check_flags(flags):
    """Check --distribute, --devices and, where the replica count is known, --batch_size."""
    kind = flags.get("distribute") or "none"
    require(kind in STRATEGIES,
            f"--distribute must be one of {', '.join(STRATEGIES)}, not {kind!r}")
    devices = device_list(flags.get("devices"))
    require(not devices or kind == "mirrored", "--devices names the devices of --distribute "
            "mirrored: add --distribute mirrored or drop --devices")
    require(len(set(devices)) == len(devices), f"--devices {flags.get('devices')} names a "
            "device twice")
    if devices:
        check_batch(flags["batch_size"], len(devices))
    timeout = flags.get("worker_timeout", ARRIVAL_TIMEOUT_S)
    require(timeout is not None and timeout > 0,
            f"--worker_timeout must be a positive number of seconds, not {timeout}")


def check_batch(batch_size, replicas):
    """Refuse a global batch that cannot be split evenly over the replicas."""
    require(batch_size % replicas == 0, f"--batch_size {batch_size} does not split evenly over "
            f"{replicas} replicas: make it a multiple of {replicas}")


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
