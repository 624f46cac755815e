"""Multi-worker scaling: images/s of 1 worker x 1 thread vs 2 workers x 1 thread, and the time
of one all-reduce of the model's gradients.

    python bench/distributed_speed.py                          # 32 px, batch 16 per worker
    python bench/distributed_speed.py --rounds 3 --steps 20 --size 48 --batch 32  # README's size
    python bench/distributed_speed.py --precision auto      # bf16 where the CPU has it

Every contender is a fresh set of processes on 127.0.0.1, one thread each (intra- and inter-op),
and they take turns (A B A B ...). Each worker process builds the project's real trainer on a
scratch folder of the shared faces, warms up, then times `--steps` iterations of the real loop
body (the workers' stop vote, 1 D + `--g_steps` G updates). Weak scaling: each worker trains
`--batch` images per step, so the 2-worker job's global batch is twice the 1-worker one.
Scaling efficiency = 2-worker images/s / (2 x 1-worker images/s).

`allreduce` times, between two workers, one all-reduce (SUM, RING) of tensors shaped like every
trainable variable of D and G (what one D update plus one G update send, packed into one
collective as TensorFlow packs a list), and the latency of one more collective in a run: runs
of 1 and of COLLECTIVES separate all-reduces of 8 floats, the difference divided by
COLLECTIVES - 1. With both, a ring all-reduce of S bytes between 2 workers takes about
latency + S / bandwidth, which gives the bandwidth (bench/README.md's paper model).

The first line names the `dcgan` package the workers import (PYTHONPATH picks it), so that one
quiet session can run this script against two checkouts.
"""

import argparse
import json
import math
import os
import subprocess
import sys
import time

from common import machine_line, median, print_table, scratch_faces, scratch_folder

WARMUP = 2
# Separate tiny all-reduces in one run, to tell a collective's latency from a run's overhead.
COLLECTIVES = 9


def _settings(scratch, distribute, batch, size, precision):
    from dcgan.network import ModelConfig
    from dcgan.settings import RunSettings

    return RunSettings.create(
        dataset="faces", model=ModelConfig(output_height=size, output_width=size),
        data_dir=os.path.join(scratch, "data"),
        checkpoint_dir=os.path.join(scratch, f"checkpoints_{distribute}"),
        sample_dir=os.path.join(scratch, "samples"), tensorboard_dir=os.path.join(scratch, "logs"),
        batch_size=batch, seed=1, intra_op_threads=1, inter_op_threads=1, distribute=distribute,
        precision=precision)


def _time_training(settings, steps):
    """Seconds per iteration of the real loop body, after WARMUP iterations."""
    from dcgan import cluster, distribute, outputs, train

    make = train.Trainer if settings.distribute == "none" else distribute.DistributedTrainer
    if cluster.writes_outputs(settings.distribute):  # as the command line does before training
        outputs.make_output_folders(settings)
    trainer = make(settings, progress=False)
    session, _ = trainer.open_session()
    stop = train.StopRequest()
    for step in range(WARMUP + steps):
        if step == WARMUP:
            started = time.perf_counter()
        trainer.stop_now(session, stop)
        trainer.step(session, step)
    seconds = (time.perf_counter() - started) / steps
    if getattr(trainer, "watchdog", None) is not None:  # the other worker may now leave first
        trainer.watchdog.stop()
    return seconds


def _gradient_shapes(size):
    """Shapes of D's and G's trainable variables for the default network at `size` px."""
    import tensorflow as tf

    from dcgan import model, recipes
    from dcgan.network import ModelConfig

    with tf.Graph().as_default():
        images = tf.compat.v1.placeholder(tf.float32, [None, size, size, 3])
        model.DCGAN(ModelConfig(output_height=size, output_width=size), images,
                    choices=recipes.RECIPES[recipes.DEFAULT])
        return [v.shape.as_list() for v in tf.compat.v1.trainable_variables()]


def _time_allreduce(settings, steps, size):
    """Median seconds of one all-reduce of gradient-shaped tensors across the workers, of a run
    of one tiny all-reduce and of a run of COLLECTIVES of them; and the parameter count."""
    import tensorflow as tf

    from dcgan import distribute

    replication = distribute.Replication(settings)
    shapes = _gradient_shapes(size)
    graph = tf.Graph()
    with graph.as_default(), replication.strategy.scope():
        def reduce(tensors):
            return tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM,
                                                                  tensors)

        def reduce_all():
            summed = reduce([tf.fill(shape, 1.0) for shape in shapes])  # one packed collective
            tiny = [reduce(tf.fill([8], float(i))) for i in range(COLLECTIVES)]  # separate ones
            return (tf.add_n([tf.reduce_sum(t[..., :1]) for t in summed]), tiny[0],
                    tf.add_n(tiny))

        fetches = replication.strategy.experimental_local_results(
            replication.strategy.extended.call_for_each_replica(reduce_all))[0]
    session = distribute.CollectiveSession(replication.server.target, graph, replication.config)
    times = {fetch: [] for fetch in fetches}
    for _ in range(WARMUP + steps):
        for fetch in fetches:
            started = time.perf_counter()
            session.run(fetch)
            times[fetch].append(time.perf_counter() - started)
    full, one, many = (median(times[fetch][WARMUP:]) for fetch in fetches)
    return {"allreduce_s": full, "tiny_run_s": one,
            "collective_s": (many - one) / (COLLECTIVES - 1),
            "parameters": sum(math.prod(shape) for shape in shapes)}


def worker_main(args):
    """One worker process: print its measurement as a JSON line."""
    from dcgan import runtime

    runtime.start()
    distribute = "none" if args.mode == "single" else "multi_worker"
    workers = int(args.workers)
    settings = _settings(args.scratch, distribute, args.batch * workers, args.size,
                         args.precision)
    if args.mode == "allreduce":
        print(json.dumps(_time_allreduce(settings, args.steps, args.size)), flush=True)
        return
    seconds = _time_training(settings, args.steps)
    print(json.dumps({"step_s": seconds, "images_s": settings.batch_size / seconds}), flush=True)


def _launch(mode, workers, args, scratch):
    """Run one contender (`workers` processes); returns the chief's JSON result."""
    from dcgan import cluster

    ports = cluster.free_local_ports(workers)
    processes = []
    for index in range(workers):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2",
                   TF_CONFIG=cluster.local_tf_config(ports, index))
        processes.append(subprocess.Popen(
            [sys.executable, __file__, "--worker", mode, "--workers", str(workers),
             "--scratch", scratch, "--steps", str(args.steps), "--batch", str(args.batch),
             "--size", str(args.size), "--precision", args.precision], env=env,
            stdout=subprocess.PIPE, text=True))
    outputs = [p.communicate(timeout=900)[0] for p in processes]
    if any(p.returncode for p in processes):
        sys.exit(f"{mode} x {workers} failed (exit {[p.returncode for p in processes]})")
    return json.loads(outputs[0].strip().splitlines()[-1])


def _print_scaling(results, args):
    """The images/s table and the scaling efficiency."""
    one, two = median(results["single"]), median(results["multi"])
    print_table(["setup", "images/s (median)", "each run"], [
        ["1 worker x 1 thread (--distribute none)", f"{one:.1f}",
         " ".join(f"{r:.1f}" for r in results["single"])],
        ["2 workers x 1 thread (multi_worker, RING)", f"{two:.1f}",
         " ".join(f"{r:.1f}" for r in results["multi"])]])
    print(f"scaling efficiency: {two / (2 * one):.2f} (target >= 0.85); "
          f"{args.size} px, {args.batch} images per worker per step, {args.steps} steps per run")


def _print_allreduce(reduced):
    """The all-reduce timings, and the latency and bandwidth they imply."""
    megabytes = reduced["parameters"] * 4 / 1e6
    full, latency = reduced["allreduce_s"], reduced["collective_s"]
    print(f"all-reduce of D+G gradients ({reduced['parameters'] / 1e6:.2f} M parameters, "
          f"{megabytes:.1f} MB fp32) between 2 workers on 127.0.0.1: {full * 1e3:.1f} ms "
          f"(median); a run of one 8-float all-reduce {reduced['tiny_run_s'] * 1e3:.2f} ms, each "
          f"further collective in a run {latency * 1e3:.2f} ms; bandwidth "
          f"{megabytes / 1e3 / max(full - latency, 1e-9):.2f} GB/s")


def parse_work(parser, batch, size, faces, worker_main):
    """Add the options the distributed benches share (the work's size, the precision, and the
    hidden ones a worker process starts with) and parse; a worker process runs `worker_main`
    and gets None."""
    parser.add_argument("--batch", type=int, default=batch, help="images per worker per step")
    parser.add_argument("--size", type=int, default=size, help="output size in pixels")
    parser.add_argument("--faces", type=int, default=faces)
    parser.add_argument("--precision", default="fp32", choices=["fp32", "auto"],
                        help="auto: bf16 where the CPU has bfloat16 units")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--scratch", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker_main(argparse.Namespace(**{**vars(args), "mode": args.worker}))
        return None
    return args


def main():
    """Interleave the contenders and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--steps", type=int, default=10, help="timed iterations per run")
    parser.add_argument("--no-allreduce", dest="allreduce", action="store_false",
                        help="skip the all-reduce timing")
    parser.add_argument("--workers", default="1", help=argparse.SUPPRESS)
    args = parse_work(parser, batch=16, size=32, faces=512, worker_main=worker_main)
    if args is None:
        return
    import dcgan

    print(machine_line())
    print(f"dcgan from {os.path.dirname(dcgan.__file__)}, --precision {args.precision}")
    with scratch_folder("distributed_speed") as scratch:
        scratch_faces(scratch, args.faces, args.size)
        results = {"single": [], "multi": []}
        for _ in range(args.rounds):
            results["single"].append(_launch("single", 1, args, scratch)["images_s"])
            results["multi"].append(_launch("multi", 2, args, scratch)["images_s"])
        reduced = _launch("allreduce", 2, args, scratch) if args.allreduce else None
    if args.rounds:  # --rounds 0: the all-reduce alone
        _print_scaling(results, args)
    if reduced:
        _print_allreduce(reduced)
    print(machine_line())


if __name__ == "__main__":
    main()
