"""tf.distribute training on this CPU machine: two logical CPUs in one process (mirrored), and two
worker processes on 127.0.0.1 with TF_CONFIG (multi_worker), all on real faces."""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import tensorflow as tf
from helpers import (
    MAIN,
    TINY_FLAGS,
    copy_faces,
    flag_values,
    main_in_process,
    wait_until_stopped,
)
from test_cli import assert_one_line_exit_2

from dcgan import checkpoints, cluster, model, ops, outputs, recipes
from dcgan.errors import UsageError
from dcgan.network import ModelConfig
from dcgan.settings import RunSettings

tf1 = tf.compat.v1
RUN = "anime_8_16_16"


def tiny_settings(workdir, **changes):
    """The TINY_FLAGS run (96 -> 16 px, batch 8) on `workdir`/data/anime, at the default
    precision (bf16 on CPUs with bfloat16 units) and recipe, as main.py builds it."""
    values = dict(dataset="anime", crop_height=96, crop_width=96,
                  model=ModelConfig(output_height=16, output_width=16, z_dim=16, gf_dim=8,
                                    df_dim=8, g_kernel=recipes.G_KERNEL[recipes.DEFAULT]),
                  data_dir=str(workdir / "data"), checkpoint_dir=str(workdir / "checkpoints"),
                  sample_dir=str(workdir / "samples"), tensorboard_dir=str(workdir / "logs"),
                  batch_size=8, num_samples=12, seed=3)
    values.update(changes)
    return RunSettings.create(**values)


def worker_config(cluster_spec, index=0, job="worker"):
    """A TF_CONFIG text with `cluster_spec` as its cluster, for task `job` `index`."""
    return json.dumps({"cluster": cluster_spec, "task": {"type": job, "index": index}})


TWO_WORKERS = {"worker": ["h0:2222", "h1:2222"]}
# Each mistake, the TF_CONFIG it is made with (None: unset), and the words of its one line.
MISTAKES = [
    (["--distribute", "ring"], None, "--distribute must be one of none, mirrored, multi_worker"),
    (["--devices", "/cpu:0,/cpu:1"], None, "--devices names the devices of --distribute mirrored"),
    (["--distribute", "mirrored", "--devices", "/cpu:0,/cpu:1", "--batch_size", "9"], None,
     "--batch_size 9 does not split evenly over 2 replicas: make it a multiple of 2"),
    (["--distribute", "mirrored", "--devices", "/tpu:0"], None,
     "--devices names '/tpu:0', which is not a CPU or GPU of this machine"),
    (["--distribute", "mirrored", "--devices", "bogus"], None, "names 'bogus', which is not"),
    (["--distribute", "mirrored", "--devices", "/cpu:0,/CPU:0"], None,
     "--devices /cpu:0,/CPU:0 names /cpu:0 twice: name each device once"),
    (["--distribute", "mirrored", "--devices", "/cpu:0,/device:CPU:0"], None, "/cpu:0 twice"),
    (["--distribute", "multi_worker", "--worker_timeout", "0"], worker_config(TWO_WORKERS),
     "--worker_timeout must be a positive number of seconds, not 0"),
    (["--distribute", "multi_worker"], None, "needs the cluster in TF_CONFIG"),
    (["--distribute", "multi_worker"], "{cluster", "TF_CONFIG is not JSON (Expecting"),
    (["--distribute", "multi_worker"], worker_config(None), 'TF_CONFIG has "cluster": null, not'),
    (["--distribute", "multi_worker"], worker_config("h0:2222"), 'has "cluster": "h0:2222", not'),
    (["--distribute", "multi_worker"], worker_config({"worker": "h0:2222"}),
     'TF_CONFIG has "worker": "h0:2222", not a list of host:port'),
    (["--distribute", "multi_worker"], json.dumps({"cluster": TWO_WORKERS}),
     'TF_CONFIG has "task": null, not this task\'s job and index'),
    (["--distribute", "multi_worker"], worker_config({"worker": ["h0", "h1:2222"]}),
     "TF_CONFIG gives worker 0 the address 'h0', not host:port"),
    (["--distribute", "multi_worker"], worker_config({"worker": ["h0:2222", "h0:2222"]}),
     "TF_CONFIG gives worker 0 and worker 1 (h0:2222) the same address: give every task its own"),
    (["--distribute", "multi_worker"], worker_config(TWO_WORKERS, 2),
     "TF_CONFIG's task worker 2 is not in its cluster (worker 0 (h0:2222), worker 1 (h1:2222)): "
     "fix the task index"),
    (["--distribute", "multi_worker"], worker_config({**TWO_WORKERS, "ps": ["h3:2222"]}),
     "TF_CONFIG names job 'ps': only 'chief' (at most one) and 'worker' tasks train"),
    (["--distribute", "multi_worker"], worker_config({"ps": ["h3:2222"]}, job="ps"), "job 'ps'"),
    (["--distribute", "multi_worker", "--batch_size", "9"], worker_config(TWO_WORKERS),
     "--batch_size 9 does not split evenly over 2 replicas"),
]


def training_settings(args, tf_config, monkeypatch):
    """cli.training_settings for --dataset anime ARGS with TF_CONFIG `tf_config` (None: unset)."""
    from dcgan import cli

    if tf_config is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", tf_config)
    return cli.training_settings(["--dataset", "anime", *args])


@pytest.mark.parametrize("args, tf_config, expected", MISTAKES,
                         ids=[f"{' '.join(a)} {t or ''}" for a, t, _ in MISTAKES])
def test_distribute_mistakes_are_one_usage_error(args, tf_config, expected, monkeypatch):
    with pytest.raises(UsageError) as raised:
        training_settings(args, tf_config, monkeypatch)
    assert expected in str(raised.value) and "\n" not in str(raised.value)


def test_a_taken_port_is_refused_before_tensorflow_starts(monkeypatch):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = cluster.local_tf_config([port, cluster.free_local_ports(1)[0]], 0)
        with pytest.raises(UsageError, match=rf"this task's port {port} \(worker 0 \(127.0.0.1:"
                                             rf"{port}\) in TF_CONFIG\) is taken"):
            training_settings(["--distribute", "multi_worker"], config, monkeypatch)
    # Free again (its old connection may linger): accepted, and the cluster is read.
    assert training_settings(["--distribute", "multi_worker"], config,
                             monkeypatch).distribute == "multi_worker"


def test_devices_are_named_canonically_and_must_exist():
    assert cluster.device_list(" /device:GPU:1, /CPU:0,gpu:0 ") == ["/gpu:1", "/cpu:0", "/gpu:0"]
    cluster.check_devices_exist(["/cpu:0", "/cpu:7"], 0)  # the session makes logical CPUs
    cluster.check_devices_exist(["/gpu:0", "/gpu:1"], 2)
    with pytest.raises(UsageError, match="names /gpu:6, but TensorFlow sees no GPU on this "
                                         r"machine: name devices that exist, or drop --devices"):
        cluster.check_devices_exist(["/cpu:0", "/gpu:6"], 0)
    with pytest.raises(UsageError, match=r"sees 2 GPUs \(/gpu:0 to /gpu:1\)"):
        cluster.check_devices_exist(["/gpu:2"], 2)


@pytest.mark.parametrize("flags, tf_config, expected", [
    (["--distribute", "multi_worker"], worker_config(None), 'TF_CONFIG has "cluster": null'),
    (["--distribute", "mirrored", "--devices", "/gpu:6"], None, "--devices names /gpu:6, but"),
], ids=["tf_config", "gpu"])
def test_distribute_mistakes_exit_2_with_one_line(flags, tf_config, expected, tmp_path):
    """The command line's contract, for a mistake found before TensorFlow loads and for one
    that needs it (which GPUs exist): one error line, exit status 2, without waiting on a
    cluster (such a wait takes minutes and runs into the subprocess's timeout, failing the test;
    no wall-clock bound of its own, which a loaded machine's TensorFlow import alone can pass)."""
    copy_faces(tmp_path / "data" / "anime", 8)
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    if tf_config is not None:
        env["TF_CONFIG"] = tf_config
    result = subprocess.run([sys.executable, str(MAIN), "--dataset", "anime", "--train", *flags],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=90)
    assert_one_line_exit_2(result, expected, after_start=tf_config is None)


def test_tf_config_ranks_the_chief_first():
    text = json.dumps({"cluster": {"worker": ["h1:22", "h2:22"], "chief": ["h0:22"]},
                       "task": {"type": "worker", "index": 1}})
    me = cluster.from_tf_config(text)
    assert (me.rank, me.size, me.is_chief) == (2, 3, False)
    assert [task.name for task in me.peers] == ["chief (h0:22)", "worker 0 (h1:22)"]
    assert me.spec() == {"chief": ["h0:22"], "worker": ["h1:22", "h2:22"]}
    with pytest.raises(UsageError, match="more than one chief"):
        cluster.from_tf_config(worker_config({"chief": ["h0:22", "h3:22"], "worker": ["h1:22"]}))


def mirrored_trainer(workdir, **changes):
    """A DistributedTrainer on /cpu:0 and /cpu:1 in this process, with an initialised session."""
    from dcgan.distribute import DistributedTrainer

    copy_faces(workdir / "data" / "anime", 32)
    settings = tiny_settings(workdir, distribute="mirrored", devices="/cpu:0,/cpu:1", ema=0.9,
                             **changes)
    outputs.make_output_folders(settings)
    trainer = DistributedTrainer(settings, progress=False)
    session, step = trainer.open_session()
    assert step == 0
    return trainer, session


@pytest.fixture(scope="module")
def mirrored(tmp_path_factory):
    """mirrored_trainer at the default precision."""
    trainer, session = mirrored_trainer(tmp_path_factory.mktemp("mirrored"))
    yield trainer, session
    session.close()


@pytest.fixture(scope="module")
def mirrored_fp32(tmp_path_factory):
    """mirrored_trainer in fp32 and without DiffAugment, for exact arithmetic (the augment's
    random draws would differ in the session that checks it)."""
    trainer, session = mirrored_trainer(tmp_path_factory.mktemp("mirrored_fp32"),
                                        precision="fp32", augment="")
    yield trainer, session
    session.close()


def d_gradients_on_one_device(run, values, halves):
    """d(d_loss)/d(D's variables) of `run`'s network and training choices on one device, with
    `values` loaded, for each (real, z)."""
    graph = tf.Graph()
    with graph.as_default():
        real = tf1.placeholder(tf.float32, [None, 16, 16, 3])
        gan = model.DCGAN(run.model, real, choices=run.choices)
        variables = model.scoped_variables(model.DISCRIMINATOR_SCOPE,
                                           tf1.GraphKeys.TRAINABLE_VARIABLES)
        gradients = tf.gradients(gan.d_loss, variables)
        with tf1.Session(graph=graph) as session:
            for variable in tf1.global_variables():
                variable.load(values[variable.op.name], session)
            names = [v.op.name for v in variables]
            return [dict(zip(names, session.run(gradients, {real: r, gan.z: z}), strict=True))
                    for r, z in halves]


def test_mirrored_step_applies_the_mean_of_the_replicas_gradients(mirrored_fp32):
    """Pins fp32 and no DiffAugment: the expectation is computed in a separate fp32 session,
    and the check is exact up to float32 round-off."""
    trainer, session = mirrored_fp32
    gan, variables = trainer.graph.gan, trainer.graph.variables
    before = session.run(variables)
    fetched = session.run({"op": gan.d_optim, "real": gan.real,
                           "z": [replica.z for replica in gan.replicas]})
    after = session.run(variables)
    # Replica r trained on the r-th half of the batch with its own z; the same loss on one
    # device with the same weights gives each replica's gradient exactly.
    halves = [(fetched["real"][:4], fetched["z"][0]), (fetched["real"][4:], fetched["z"][1])]
    per_replica = d_gradients_on_one_device(trainer.settings, before, halves)
    assert not np.allclose(per_replica[0]["discriminator/d_h0_conv/w"],
                           per_replica[1]["discriminator/d_h0_conv/w"])  # the halves differ
    beta1 = trainer.settings.beta1
    for name in per_replica[0]:
        # After Adam's first step its first moment is (1 - beta1) x the gradient it applied.
        applied = after[f"{name}/Adam_discriminator"] / (1 - beta1)
        mean = (per_replica[0][name] + per_replica[1][name]) / 2
        if name.endswith("_conv/biases") and "d_h0" not in name:
            # A bias just before a batch norm has a true gradient of 0 (the norm takes the
            # batch mean off): both sides are float32 round-off, whose digits depend on the
            # kernels' summation order (they differ on an AMX Xeon).
            assert np.abs(applied).max() < 1e-5 and np.abs(mean).max() < 1e-5, name
            continue
        assert np.abs(mean).max() > 1e-5, name  # a gradient that the check can tell apart
        np.testing.assert_allclose(applied, mean, rtol=1e-4, atol=1e-7, err_msg=name)


def test_mirrored_replicas_hold_identical_variables_after_steps(mirrored):
    trainer, session = mirrored
    gan = trainer.graph.gan
    first_step = session.run(gan.global_step)
    for step in range(3):
        trainer.step(session, step)
    assert session.run(gan.global_step) == first_step + 3  # one increment per step
    names = _assert_replicas_identical(trainer, session)
    assert any(name.endswith("moving_mean:0") for name in names)
    assert any(name.endswith("/ema:0") for name in names)


def _assert_replicas_identical(trainer, session):
    """Check both replicas of a mirrored trainer hold every variable alike; returns the
    variables' names."""
    strategy = trainer.replication.strategy
    variables = trainer.graph.graph.get_collection(tf1.GraphKeys.GLOBAL_VARIABLES)
    copies = session.run([list(strategy.experimental_local_results(v)) for v in variables])
    assert len(copies[0]) == 2
    names = [v.name for v in variables]
    for name, (first, second) in zip(names, copies, strict=True):
        assert np.array_equal(first, second), name
    return names


def test_mirrored_r1_steps_train_every_replica_alike(tmp_path):
    trainer, session = mirrored_trainer(tmp_path, r1_gamma=1.0, r1_every=2)
    with session:
        gan = trainer.graph.gan
        assert trainer.d_update(0) is gan.d_optim_r1 and trainer.d_update(1) is gan.d_optim
        for step in range(3):  # R1, plain, R1
            trainer.step(session, step)
        _assert_replicas_identical(trainer, session)


def held_values(trainer, session):
    """{variable name: [its value on each replica]} of a trainer's session (one device: one)."""
    replication = getattr(trainer, "replication", None)
    copies = {}
    for variable in trainer.graph.graph.get_collection(tf1.GraphKeys.GLOBAL_VARIABLES):
        copies[variable.name.split(":")[0]] = [variable] if replication is None else \
            list(replication.strategy.experimental_local_results(variable))
    return session.run(copies)  # one run for them all: a run per variable took seconds


def test_a_run_resumes_on_any_device_layout_with_the_same_weights(tmp_path):
    """Mirrored on /cpu:0,/cpu:1, then a plain --train, then mirrored again: each launch takes
    the layout of its own command line, keeps the run's batch and restores the checkpoint the
    last one wrote, every replica holding it."""
    from dcgan import runs
    from dcgan.distribute import DistributedTrainer
    from dcgan.train import Trainer

    copy_faces(tmp_path / "data" / "anime", 16)
    first = tiny_settings(tmp_path, distribute="mirrored", devices="/cpu:0,/cpu:1", epoch=1)
    outputs.make_output_folders(first)
    assert DistributedTrainer(first, progress=False).run() == 2  # 16 faces / batch 8
    folders = {name: str(tmp_path / name) for name in ("data", "checkpoints", "samples", "logs")}
    mirrored = {"distribute": "mirrored", "devices": "/cpu:0,/cpu:1"}
    for epoch, layout, make in [(2, {}, Trainer), (3, mirrored, DistributedTrainer)]:
        values, present = flag_values(
            dataset="anime", epoch=epoch, data_dir=folders["data"], sample_dir=folders["samples"],
            checkpoint_dir=folders["checkpoints"], tensorboard_dir=folders["logs"], **layout)
        run, saved = runs.training_run(values, present)
        assert saved is not None and run.batch_size == 8
        assert (run.distribute, run.devices) == (layout.get("distribute", "none"),
                                                 layout.get("devices", ""))
        trainer = make(run, progress=False, resumed=saved)
        session, step = trainer.open_session()
        with session:
            newest = checkpoints.latest(run.run_checkpoint_dir)
            assert step == checkpoints.step_of(newest) == 2 * (epoch - 1)
            reader = tf1.train.load_checkpoint(newest)
            held = held_values(trainer, session)
            assert set(held) == set(reader.get_variable_to_shape_map())
            for name, copies in held.items():
                assert len(copies) == (2 if layout else 1)
                for copy in copies:
                    np.testing.assert_array_equal(copy, reader.get_tensor(name), err_msg=name)
        if make is Trainer:  # trains on from the restored step, for the next launch
            assert trainer.run() == 2 * epoch


def collectives_run_by(fetch):
    """The all-reduce ops a session.run of `fetch` executes: those its inputs and control
    inputs reach (what the graph holds, not a timing)."""
    seen, waiting = set(), [getattr(fetch, "op", fetch)]
    while waiting:
        op = waiting.pop()
        if op not in seen:
            seen.add(op)
            waiting.extend([tensor.op for tensor in op.inputs] + list(op.control_inputs))
    return [op for op in seen if op.type.startswith("CollectiveReduce")]


def test_a_multi_worker_update_runs_one_packed_all_reduce_of_its_gradients(tmp_path,
                                                                          monkeypatch):
    """The graph worker 0 of two builds, at the default precision with the EMA on: each net's
    update all-reduces all its gradients in one collective, and every batch-norm statistic in
    one more; the EMA shadows none; the stop vote one of its own. Nothing else all-reduces."""
    from dcgan.distribute import DistributedTrainer

    copy_faces(tmp_path / "data" / "anime", 16)
    monkeypatch.setenv("TF_CONFIG", cluster.local_tf_config(cluster.free_local_ports(2), 0))
    trainer = DistributedTrainer(tiny_settings(tmp_path, distribute="multi_worker", ema=0.9),
                                 progress=False)  # builds the graph; no session, no peer needed
    # Its watchdog would end this process once worker 1 fails to arrive in --worker_timeout.
    trainer.watchdog.stop()
    graph = trainer.graph
    collectives = [op for op in graph.graph.get_operations()
                   if op.type.startswith("CollectiveReduce")]
    assert len(collectives) == 5
    statistics = graph.graph.get_collection(ops.BATCH_STATISTICS)
    for update, scope in ((graph.gan.d_optim, model.DISCRIMINATOR_SCOPE),
                          (graph.gan.g_optim, model.GENERATOR_SCOPE)):
        with graph.graph.as_default():
            trainable = model.scoped_variables(scope, tf1.GraphKeys.TRAINABLE_VARIABLES)
        moved = [s for s in statistics if s.name.startswith(scope + "/") and s.replica == 0]
        reduced = {op.inputs[0].shape.num_elements(): op.get_attr("T")
                   for op in collectives_run_by(update)}
        gradients = sum(v.shape.num_elements() for v in trainable)
        assert sorted(reduced) == sorted(
            [gradients, sum(s.value.shape.num_elements() for s in moved)]), scope
        # A bf16 run sends its gradients in bf16 (half the bytes); the statistics stay fp32.
        wire = tf.bfloat16 if trainer.settings.precision == "bf16" else tf.float32
        assert reduced[gradients] == wire and tf.float32 in reduced.values(), scope
    assert [op.inputs[0].shape.num_elements() for op in collectives_run_by(graph.agreement)] \
        == [2]


def test_stop_on_signal_acts_while_tensorflow_blocks_the_main_thread():
    """A signal during a session.run that waits (a dequeue, as a collective waits for a
    missing peer) is acted on at once, not when the run returns; the handlers are restored."""
    graph = tf.Graph()
    with graph.as_default():
        dequeue = tf1.FIFOQueue(1, tf.float32).dequeue()
    before = signal.getsignal(signal.SIGINT)
    seen, sent = [], []

    def interrupt():
        sent.append(time.time())
        os.kill(os.getpid(), signal.SIGINT)

    timer = threading.Timer(0.5, interrupt)
    with tf1.Session(graph=graph) as session, \
            cluster.StopOnSignal(lambda signum: seen.append((signum, time.time()))):
        timer.start()
        with pytest.raises(tf.errors.DeadlineExceededError):
            session.run(dequeue, options=tf1.RunOptions(timeout_in_ms=4000))
        returned = time.time()
    assert [signum for signum, _ in seen] == [signal.SIGINT]
    assert seen[0][1] - sent[0] < 1 and returned - seen[0][1] > 2  # long before run returned
    assert signal.getsignal(signal.SIGINT) is before
    # A signal caught before the block (by train.StopRequest) acts on entering it.
    with cluster.StopOnSignal(seen.append, pending=signal.SIGTERM):
        assert seen[-1] == signal.SIGTERM


def start_workers(workdir, ports, args, count=None, chief_pauses_at=None):
    """Start `count` (default all) of the TF_CONFIG cluster's workers; returns the Popens.

    Worker 1 gets its own --sample_dir and --tensorboard_dir, to show it writes nothing.
    `chief_pauses_at`: a checkpoints.PAUSE_POINTS point where worker 0 (the chief, which
    saves) stops itself, so a test can act at exactly that moment."""
    processes = []
    for index in range(count or len(ports)):
        env = dict(os.environ, TF_CONFIG=cluster.local_tf_config(ports, index),
                   PYTHONUNBUFFERED="1")
        if index == 0 and chief_pauses_at:
            env[checkpoints.PAUSE_ENV] = chief_pauses_at
        own = [] if index == 0 else ["--sample_dir", "w1_samples", "--tensorboard_dir",
                                     "w1_logs"]
        processes.append(subprocess.Popen(
            [sys.executable, str(MAIN), "--dataset", "anime", "--train", "--distribute",
             "multi_worker", "--intra_op_threads", "1", "--inter_op_threads", "1",
             *TINY_FLAGS, *own, *args], cwd=workdir, env=env, stderr=subprocess.PIPE,
            text=True))
    return processes


def finish(processes, timeout=180):
    """Wait for every process; returns their stderr texts."""
    return [p.communicate(timeout=timeout)[1] for p in processes]


def fingerprint_line(stderr):
    return re.search(r"weights fingerprint (\w+)", stderr).group(1)


def checkpoint_fingerprint(prefix):
    reader = tf1.train.load_checkpoint(prefix)
    return cluster.fingerprint({name: reader.get_tensor(name)
                                for name in reader.get_variable_to_shape_map()})


def read_until(process, needle, timeout):
    """Read `process`'s stderr until `needle` appears; returns what was read."""
    seen, deadline = "", time.time() + timeout
    while needle not in seen and time.time() < deadline and process.poll() is None:
        seen += process.stderr.read(1)
    assert needle in seen, seen
    return seen


def kill_all(processes):
    """Kill whichever of `processes` still run (a stopped one too) and reap them."""
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.communicate()


@pytest.fixture
def reaper():
    """A list to put Popens in; whatever still runs at the end of the test is killed."""
    processes = []
    yield processes
    kill_all(processes)


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory):
    """One launch of a two-process cluster on 127.0.0.1 training 16 faces for an epoch (2 steps
    of global batch 8), which ends normally: (workdir, return codes, stderr texts). The tests
    below each assert on a part of what it did; the one launch pays for TensorFlow's start-up
    and the collective's set-up in two processes (~20 s on 2 cores) once."""
    workdir = tmp_path_factory.mktemp("two_workers")
    copy_faces(workdir / "data" / "anime", 16)
    processes = start_workers(workdir, cluster.free_local_ports(2), ["--epoch", "1", "--ema",
                                                                    "0.9"])
    try:
        errors = finish(processes)
    finally:
        kill_all(processes)
    return workdir, [p.returncode for p in processes], errors


def test_two_workers_end_together_holding_the_chiefs_checkpoint(two_workers):
    workdir, returncodes, errors = two_workers
    assert returncodes == [0, 0], errors
    newest = checkpoints.latest(str(workdir / "checkpoints" / RUN))
    assert checkpoints.step_of(newest) == 2  # 16 faces / global batch 8: one epoch
    # Both workers hold the same weights, and they are the chief's checkpoint.
    assert fingerprint_line(errors[0]) == fingerprint_line(errors[1]) \
        == checkpoint_fingerprint(newest)


def test_only_the_chief_writes_the_runs_samples_and_logs(two_workers):
    workdir, returncodes, errors = two_workers
    assert returncodes == [0, 0], errors
    assert (workdir / "samples" / RUN / "train_01_00002.png").exists()
    assert not (workdir / "w1_samples").exists() and not (workdir / "w1_logs").exists()


def test_a_cluster_run_is_read_by_the_single_process_modes(two_workers, tmp_path):
    from dcgan.session import TrainedGenerator

    workdir = tmp_path / "work"  # a copy: --visualize writes into it
    shutil.copytree(two_workers[0], workdir)
    with TrainedGenerator(tiny_settings(workdir, ema=0.9)) as generator:
        assert generator.step == 2
        pictures = generator.generate(generator.sample_z(4, rng_seed=1))
        assert pictures.shape == (4, 16, 16, 3) and np.isfinite(pictures).all()
        assert not np.allclose(pictures[0], pictures[1])
    # --visualize alike (in-process: the picture is the subject, not the process).
    shown = main_in_process(["--visualize", "--seed", "1"], workdir)
    assert shown.returncode == 0, shown.stderr
    assert (workdir / shown.stdout.strip().splitlines()[-1]).name.startswith("grid_00002_")


def test_a_resumed_cluster_stops_in_one_line_when_a_worker_is_killed(two_workers, tmp_path,
                                                                      reaper):
    """A second launch of the cluster (it cannot be the fixture's: that one ends normally).
    Both workers resume from the chief's step 2; the chief pauses just after its next save
    (step 4), worker 1 is killed there, and the chief stops within the watchdog's bound
    (cluster.LOST_AFTER_S, 10 s, is most of this test's time)."""
    from dcgan.session import TrainedGenerator

    workdir = tmp_path / "work"
    shutil.copytree(two_workers[0], workdir)
    processes = start_workers(workdir, cluster.free_local_ports(2),
                              ["--epoch", "1000", "--ema", "0.9", "--ckpt_freq", "2"],
                              chief_pauses_at="saved")
    reaper.extend(processes)
    seen = [read_until(p, "from step 2", 120) for p in processes]
    wait_until_stopped(processes[0], 120)
    processes[1].send_signal(signal.SIGKILL)
    killed = time.time()
    processes[0].send_signal(signal.SIGCONT)
    rest = finish(processes[:1], timeout=90)[0]
    assert time.time() - killed < 60
    assert processes[0].returncode == 1
    last = rest.strip().splitlines()[-1]
    assert last.startswith("error: ") and "worker 1 (127.0.0.1:" in last, seen[0] + rest
    assert "start every task of the job again" in last and "Traceback" not in rest
    with TrainedGenerator(tiny_settings(workdir, ema=0.9)) as generator:
        assert generator.step == 4  # the checkpoint saved just before the kill, intact


def test_a_worker_that_never_starts_stops_the_others_in_one_line(tmp_path, reaper):
    copy_faces(tmp_path / "data" / "anime", 16)
    started = time.time()
    ports = cluster.free_local_ports(2)
    (process,) = start_workers(tmp_path, ports, ["--worker_timeout", "4"], count=1)
    reaper.append(process)
    stderr = finish([process], timeout=120)[0]
    assert process.returncode == 1
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("error: worker 1 (127.0.0.1:") and "did not start within 4 s" in last
    assert time.time() - started < 60


def test_sigterm_stops_a_worker_waiting_for_its_peers_at_once(tmp_path, reaper):
    copy_faces(tmp_path / "data" / "anime", 16)
    (process,) = start_workers(tmp_path, cluster.free_local_ports(2), [], count=1)
    reaper.append(process)
    read_until(process, "waiting for worker 1 (127.0.0.1:", 120)  # --worker_timeout is 60 s
    process.send_signal(signal.SIGTERM)
    sent = time.time()
    process.wait(timeout=60)
    assert time.time() - sent < 5
    stderr = process.stderr.read()
    assert process.returncode == 0, stderr  # a stopped run's status
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("INFO: stopped by SIGTERM while waiting for the other tasks, before "
                           "training: start every task of the job again"), stderr
    assert "Traceback" not in stderr and "error" not in stderr
