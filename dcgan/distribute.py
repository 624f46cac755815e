"""Training on several devices or machines with tf.distribute, in the same tf.compat.v1 graph.

`--distribute mirrored` builds one replica of the DCGAN per local device
(`tf.compat.v1.distribute.MirroredStrategy`); `--distribute multi_worker` one per worker of the
TF_CONFIG cluster (`MultiWorkerMirroredStrategy`: collective all-reduce, RING on CPUs, NCCL on
GPUs), each worker a process that starts its own `tf.distribute.Server` and runs its own copy of
the graph. The semantics (README, "Several GPUs or machines"):

- `--batch_size` is the global batch, split evenly over the replicas; each replica minimises its
  share of the global-batch mean loss, so the summed gradients are the mean over the global
  batch and the same flags give the same updates as on one device;
- batch norm normalises by each replica's own batch; its moving averages (and the EMA) move by
  the mean of the replicas' updates;
- each worker reads a disjoint shard (every size-th image), and an epoch is still one pass over
  the data by the whole job; worker 0 draws with `--seed`, worker k with `--seed` + k;
- only the chief writes checkpoints, run.json, sample grids and TensorBoard events. Every worker
  restores the chief's newest checkpoint (they check that they agree on its step) and the
  workers agree before every step whether one of them was asked to stop (SIGTERM, Ctrl-C, or
  the chief's clock once --minutes are spent), so they stop together and the chief saves once.
  --steps and --epoch give every worker the same last step. A task still waiting for the
  others to start stops at once on a signal (cluster.StopOnSignal): it has nothing to save.
"""

import contextlib
import dataclasses
import fcntl
import logging
import os
import sys

import tensorflow as tf
from tensorflow.core.protobuf import rewriter_config_pb2

from dcgan import checkpoints, cluster, data, durable, runtime, train
from dcgan.errors import TrainingError

tf1 = tf.compat.v1
log = logging.getLogger(__name__)

# A step (or the first synchronisation, while another worker still loads its data) that takes
# longer than this ends the run: a peer is alive but stuck. A dead peer is caught sooner by
# cluster.Watchdog, which sees its port close.
STEP_TIMEOUT_S = 300
# No RunOptions.experimental.collective_graph_key (tf_cnn_benchmarks sets one): with it, every
# run draws from a step-id sequence shared by the workers, so the chief's runs without
# collectives (checkpoint, sample grid) shift its sequence and the next all-reduce is cancelled
# ("Delete called on non-empty BufRendezvous", measured on TF 2.21). Without it all works.
CACHE_LOCK = ".build.lock"
# gRPC channels from a worker to each other task (Replication._config says why).
RPC_CHANNELS = 4


class Replication:
    """How this process takes part: the strategy, its replicas, the session config, the server.

    Creating it for multi_worker starts this task's server, which is how the other tasks see
    that it has arrived, so it is made before the (maybe slow) data loading.
    """

    def __init__(self, settings, resumed=None):
        """`resumed`: the folder of the run this launch resumes (cluster.check_batch)."""
        self.kind = settings.distribute
        # tf.distribute logs every cross-device reduction it builds at INFO.
        logging.getLogger("tensorflow").setLevel(logging.WARNING)
        self.cluster = cluster.from_environment() if self.kind == "multi_worker" else None
        self.strategy = self._strategy(settings)
        self.replicas = self.strategy.num_replicas_in_sync
        self.local_replicas = len(self.strategy.extended.worker_devices)
        cluster.check_batch(settings.batch_size, self.replicas, resumed)
        self.config = self._config(settings)
        self.server = None
        if self.cluster is not None:
            me = self.cluster.me
            self.server = tf.distribute.Server(tf.train.ClusterSpec(self.cluster.spec()),
                                               job_name=me.job, task_index=me.index,
                                               config=self.config, start=True)
        log.info("%s: %d replicas (%d here: %s)%s", self.kind, self.replicas,
                 self.local_replicas, ", ".join(self.strategy.extended.worker_devices),
                 f", this task is {self.cluster.me.name}" if self.cluster else "")

    def _strategy(self, settings):
        if self.cluster is None:
            devices = cluster.device_list(settings.devices)
            cluster.check_devices_exist(devices, runtime.gpu_count())
            return tf1.distribute.MirroredStrategy(devices=devices or None)
        communication = tf.distribute.experimental.CollectiveCommunication
        ring = communication.NCCL if runtime.has_gpu() else communication.RING
        return tf1.distribute.experimental.MultiWorkerMirroredStrategy(communication=ring)

    def _config(self, settings):
        config = self.strategy.update_config_proto(runtime.session_config(settings))
        cpus = [int(name.rsplit(":", 1)[1]) for name in self.strategy.extended.worker_devices
                if "cpu:" in name.lower()]
        if cpus:  # /cpu:1 and up exist only where the session asks for them
            config.device_count["CPU"] = max(cpus) + 1
        if self.cluster is not None:
            # The ring all-reduce sends its chunks as gRPC calls to the peer; over one channel
            # (one TCP connection) they queue behind HTTP/2 flow control. Measured on 2 workers
            # (bench/README.md): D's gradients' all-reduce 121 ms over 1 channel, 79 ms over 4.
            config.rpc_options.num_channels_per_target = RPC_CHANNELS
        if self.cluster is not None and settings.precision == "bf16":
            # A worker checks every node of the graph it is sent against the op's definition
            # (GraphMgr validates nodes; a local session does not) before oneDNN's layout pass
            # runs. Grappler's remapper fuses conv + bias (+ LeakyRelu) into a bf16
            # _FusedConv2D, which only that later pass turns into oneDNN's op, and whose own
            # definition has no bf16: the check fails at step 1. Without the remapper the
            # layout pass still picks oneDNN's kernels; measured on an AMX Xeon, single
            # process: 0.69-0.84 s per iteration against 0.77 s with it (bench/README.md).
            config.graph_options.rewrite_options.remapping = rewriter_config_pb2.RewriterConfig.OFF
        return config

    @property
    def chief(self):
        """Whether this process writes the run's outputs."""
        return self.cluster is None or self.cluster.is_chief

    @property
    def workers(self):
        """Processes that train (1 for mirrored)."""
        return self.cluster.size if self.cluster else 1

    @property
    def rank(self):
        """This worker's position (0: the chief): its data shard and seed offset."""
        return self.cluster.rank if self.cluster else 0

    def shard(self, training_data):
        """This worker's disjoint share of the images: every `workers`-th from `rank`."""
        if self.workers == 1:
            return training_data
        labels = training_data.labels
        return dataclasses.replace(
            training_data, images=training_data.images[self.rank::self.workers],
            labels=None if labels is None else labels[self.rank::self.workers])


def _local(strategy, value):
    return list(strategy.experimental_local_results(value))


class ReplicatedGAN:
    """The DCGAN built once per replica, seen through the attributes the Trainer uses.

    `real` is this worker's batch; replica i of this worker trains on its i-th slice. The update
    ops run every local replica; the losses are the mean over this worker's replicas (no extra
    all-reduce); the sampler is the first replica's, reading that replica's copy of the
    (identical) variables. `replicas` holds each local replica's model.DCGAN.
    """

    def __init__(self, settings, real, real_labels, replication):
        per_replica = settings.batch_size // replication.replicas
        built = {}

        def build_replica():
            context = tf.distribute.get_replica_context()
            local = tf.get_static_value(context.replica_id_in_sync_group) \
                % replication.local_replicas
            part = slice(local * per_replica, (local + 1) * per_replica)
            labels = None if real_labels is None else real_labels[part]
            built[local] = train.build_gan(settings, real[part], labels, replication.replicas)

        # Runs build_replica once per local device, each in its own thread, in turn.
        replication.strategy.extended.call_for_each_replica(build_replica)
        self.replicas = [built[i] for i in range(replication.local_replicas)]
        first = self.replicas[0]
        self.real = real  # this worker's batch (what a test compares gradients on)
        self.sampler, self.raw_sampler = first.sampler, first.raw_sampler
        self.global_step = first.global_step
        self.d_optim = tf.group(*[gan.d_optim for gan in self.replicas], name="d_optim")
        self.d_optim_r1 = None if first.d_optim_r1 is None else tf.group(
            *[gan.d_optim_r1 for gan in self.replicas], name="d_optim_r1")
        self.g_optim = tf.group(*[gan.g_optim for gan in self.replicas], name="g_optim")
        for name in ("d_loss", "d_loss_real", "d_loss_fake", "g_loss"):
            setattr(self, name, tf.add_n([getattr(g, name) for g in self.replicas])
                    / len(self.replicas))
        for name in ("d_real", "d_fake", "fake_images"):
            setattr(self, name, tf.concat([getattr(g, name) for g in self.replicas], 0))


def _agreement(strategy):
    """A placeholder `proposal` (float64) and, for it, the mean over every replica of the
    cluster of [proposal, proposal**2]: all tasks proposed the same value iff
    mean(x**2) == mean(x)**2."""
    proposal = tf1.placeholder(tf.float64, [], name="proposal")

    def vote():
        pair = tf.stack([proposal, proposal * proposal])
        return tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.MEAN, pair)

    return proposal, _local(strategy, strategy.extended.call_for_each_replica(vote))[0]


class FollowerCheckpointer(checkpoints.Checkpointer):
    """A non-chief worker's checkpointer: restores the chief's checkpoints, writes and deletes
    nothing (the chief cleans the folder up)."""

    def restore_or_initialize(self, session):
        """Restore the newest usable checkpoint if any, else initialise; returns the step."""
        if not checkpoints.listed(self.folder):
            session.run(self.initializer)  # receives the chief's initial values
            return 0
        self.saved_step = self.restore(session)
        return self.saved_step

    def save(self, session, step):
        """The chief saves; remember the step it saves at."""
        self.saved_step = step


class ReplicatedTrainingGraph:
    """TrainingGraph's counterpart under a strategy: this worker's shard, the replicas, the
    summaries and checkpointer, and (multi_worker) the agreement between the workers."""

    def __init__(self, settings, training_data, replication):
        strategy = replication.strategy
        self.graph = tf.Graph()
        with self.graph.as_default(), strategy.scope():
            if settings.seed is not None:
                tf1.set_random_seed(settings.seed + replication.rank)
            real, real_labels = train.real_batches(
                replication.shard(training_data), settings.batch_size // replication.workers,
                settings.seed, settings.model)
            self.gan = ReplicatedGAN(settings, real, real_labels, replication)
            self.d_summary, self.g_summary = train.summaries(
                self.gan, min(settings.batch_size // replication.replicas, train.SUMMARY_TILES))
            make = checkpoints.Checkpointer if replication.chief else FollowerCheckpointer
            self.checkpointer = make(settings.run_checkpoint_dir, settings.max_to_keep)
            # The first replica's copy of every variable, named as in the checkpoint.
            self.variables = {v.name.split(":")[0]: _local(strategy, v)[0]
                              for v in tf1.global_variables()}
            self.proposal = self.agreement = None
            if replication.cluster is not None:
                self.proposal, self.agreement = _agreement(strategy)
            self.graph.finalize()


class CollectiveSession(tf1.Session):
    """A session on this task's server whose every run has a timeout (STEP_TIMEOUT_S), so no
    run waits forever for a stuck peer."""

    def __init__(self, target, graph, config):
        super().__init__(target, graph=graph, config=config)
        self._options = tf1.RunOptions(timeout_in_ms=STEP_TIMEOUT_S * 1000)

    def run(self, fetches, feed_dict=None, options=None, run_metadata=None):
        """Session.run with this session's RunOptions unless others are given."""
        return super().run(fetches, feed_dict, options or self._options, run_metadata)


@contextlib.contextmanager
def cache_turn(settings, waiting=contextlib.nullcontext):
    """Hold the dataset cache's build lock: workers that share a file system build the uint8
    cache once, one after the other (the later ones find it done), never two at a time.
    `waiting()`: a context manager around the wait for another worker's turn."""
    if settings.is_mnist:  # read straight from the IDX files: no cache
        yield
        return
    folder = data.cache_folder(settings.dataset_folder, settings.cache_dir)
    os.makedirs(folder, exist_ok=True)
    with durable.append_to(os.path.join(folder, CACHE_LOCK)) as handle:  # never through a link
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("waiting for another process to finish the image cache in %s", folder)
            with waiting():
                fcntl.flock(handle, fcntl.LOCK_EX)  # released by the kernel if its holder dies
        yield


class DistributedTrainer(train.Trainer):
    """train.Trainer on a tf.distribute strategy (see the module docstring)."""

    replication = watchdog = None  # set once the cluster is joined (in load_data)
    stop_request = None  # the run's train.StopRequest (set in run)

    def __init__(self, settings, progress=True, budget=None, resumed=None):
        chief = cluster.writes_outputs(settings.distribute)
        super().__init__(settings, progress and chief, chief=chief, budget=budget,
                         resumed=resumed)

    def load_data(self):
        """Join the cluster (start the server and the watchdog), then read the data, taking
        turns with the other workers for the cache."""
        runtime.start()
        self.replication = Replication(self.settings,
                                       self.resumed and self.resumed.run_checkpoint_dir)
        if self.replication.cluster is not None:
            self.watchdog = cluster.Watchdog(self.replication.cluster, self._advice,
                                             self.settings.worker_timeout)
            self.watchdog.start()
        with cache_turn(self.settings, self._waiting):
            return super().load_data()

    def build_graph(self):
        """The replicated training graph."""
        return ReplicatedTrainingGraph(self.settings, self.data, self.replication)

    def create_session(self):
        """A session on the local devices, or (multi_worker) on this task's server."""
        if self.replication.server is None:
            return tf1.Session(graph=self.graph.graph, config=self.replication.config)
        return CollectiveSession(self.replication.server.target, self.graph.graph,
                                 self.replication.config)

    def _waiting(self):
        """Around a wait for the other tasks: SIGINT/SIGTERM stop this one at once."""
        if self.replication.cluster is None:
            return contextlib.nullcontext()
        return cluster.StopOnSignal(self._stop_waiting, self.stop_request and
                                    self.stop_request.signum)

    def _stop_waiting(self, signum):
        """Leave at once (from StopOnSignal's thread): one line, and the status of a stopped
        run. Nothing is lost: this launch has not trained, and checkpoints are atomic."""
        log.info("stopped by %s while waiting for the other tasks, before training: %s",
                 signum.name, self._advice())
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)

    def _advice(self):
        folder = self.settings.run_checkpoint_dir
        newest = checkpoints.latest(folder)
        where = (f"it resumes from step {checkpoints.step_of(newest)} in {folder}" if newest
                 else "no checkpoint was written yet")
        return f"start every task of the job again ({where})"

    def _agree(self, session, value, what):
        """Raise TrainingError unless every worker proposes the same number `value`."""
        if self.graph.agreement is None:
            return
        mean, mean_square = session.run(self.graph.agreement, {self.graph.proposal: value})
        if abs(mean_square - mean * mean) > 1e-6 or abs(mean - value) > 1e-6:
            raise TrainingError(f"the workers disagree on the {what} (this one: {value:g}, "
                                f"the cluster's mean: {mean:g}): give every task the same "
                                "shared --checkpoint_dir, then start the job again")

    def open_session(self):
        """Open the session; every worker restores the same newest checkpoint (or all start
        from the chief's initial values); returns (session, step)."""
        session = self.create_session()
        newest = checkpoints.latest(self.settings.run_checkpoint_dir)
        with self._waiting():  # the first collective runs wait for every task to join
            self._say_who_is_missing()
            self._agree(session, checkpoints.step_of(newest) if newest else 0,
                        "newest checkpoint")
            step = self.graph.checkpointer.restore_or_initialize(session)
            self._agree(session, step, "step restored")
        return session, step

    def _say_who_is_missing(self):
        """Log the other tasks that are not up yet, which this one now waits for."""
        missing = self.replication.cluster and cluster.missing_tasks(self.replication.cluster)
        if missing:
            log.info("waiting for %s to start (up to --worker_timeout %d s)",
                     ", ".join(missing), self.settings.worker_timeout)

    def stop_now(self, session, stop):
        """Stop when any worker was asked to (a signal, or the chief's --minutes), all at the
        same step."""
        if self.graph.agreement is None:
            return stop.requested
        mean, _ = session.run(self.graph.agreement, {self.graph.proposal: float(stop.requested)})
        if mean > 0:
            stop.requested = True
        return stop.requested

    def save_samples(self, session, step):
        """The chief writes the sample grid; the others write nothing."""
        return super().save_samples(session, step) if self.chief else None

    def after_loop(self, session, step):
        """Stop the watchdog: done, the others may now leave before the chief."""
        if self.watchdog is not None:
            self.watchdog.stop()
            log.info("%s stops at step %d; weights fingerprint %s",
                     self.replication.cluster.me.name, step, self.fingerprint(session))

    def fingerprint(self, session):
        """cluster.fingerprint of every variable (the same on every worker, and for the
        chief's checkpoint of this step)."""
        return cluster.fingerprint(session.run(self.graph.variables))

    def _fault(self, error):
        """One line for a collective run that failed: which task is missing, and what to do."""
        missing = cluster.missing_tasks(self.replication.cluster)
        if missing:
            what = f"{', '.join(missing)} stopped answering"
        elif isinstance(error, tf.errors.DeadlineExceededError):
            what = f"a step waited over {STEP_TIMEOUT_S} s for another worker (stuck?)"
        else:
            what = f"a collective step failed ({checkpoints.reason_of(error, with_node=True)})"
        return f"{what}: {self._advice()}"

    def run(self):
        """Train on the strategy; the chief holds the run folder's lock."""
        folder = self.settings.run_checkpoint_dir
        lock = checkpoints.RunLock(folder) if self.chief else contextlib.nullcontext()
        try:
            with lock, train.StopRequest() as self.stop_request:
                return self.train_session(self.stop_request)
        except tf.errors.OpError as error:
            if self.replication.cluster is None:
                raise
            raise TrainingError(self._fault(error)) from None
        finally:
            if self.watchdog is not None:
                self.watchdog.stop()

