"""Training speed: our TF1-graph iteration vs a PyTorch reference, fp32 and bf16, and FLOP use.

    python bench/train_speed.py                      # carpedm20's 48x48 faces, batch 64
    python bench/train_speed.py --rounds 10 --batch_size 64 --output_size 48

Each contender lives in its own process (so PyTorch's OpenMP threads never spin beside
TensorFlow's) and they take turns, a few iterations each per round (A B C D A B C D ...). Our
side is the real `dcgan.train.Trainer` iteration (1 D + 2 G updates, losses fetched in the same
run) fed by the real input pipeline from a scratch folder of the shared faces; the reference is
bench/torch_dcgan.py (channels_last; autocast for bf16). `tf-fp32-default` / `tf-bf16-default`
time the command line's default recipe (`fast`: 1 D + 1 G update, 4x4 G kernels).
`tf-bf16-native` is our bf16 iteration with oneDNN's own weight-gradient kernels everywhere (no
`ops.matmul_filter_gradients`), to show
what that change buys; `tf-bf16-noremap` is our bf16 iteration without Grappler's remapper, as
`--distribute multi_worker` runs bf16 (`dcgan/distribute.py` says why). The matmul peaks are
measured in the same run, with both frameworks, and the best is the peak the utilisation is
taken against. bench/quality.py times its contenders (the Trainer of a set of `main.py
--train` flags, with its TensorBoard summaries, as a step of the command line's loop) through
the same workers (`contender_processes`, `take_turns`, `paced`).
Needs `pip install torch==2.13.0` for the PyTorch reference (the CPU wheel; benchmark only).
"""

import argparse
import contextlib
import multiprocessing
import os
import time

import common
import numpy as np
from common import machine_line, median, print_table
from flops import describe

MATMUL_SIZE = 2048


def _tf_contender(precision, args, scratch, variant=None):
    """The project's Trainer on real faces; returns (iteration(), matmul(dtype, reps))."""
    import tensorflow as tf

    from dcgan import ops
    from dcgan.runtime import session_config

    if variant == "native":  # no layer is small enough for the matmul weight gradient
        ops.MATMUL_FILTER_GRADIENT_MAX_POSITIONS = 0
    if variant == "noremap":  # Grappler's remapper off, as multi_worker bf16 sessions have it
        _remapper_off()

    tf1 = tf.compat.v1
    from dcgan import recipes

    recipe = recipes.DEFAULT if variant == "default" else None  # else carpedm20's
    trainer, session = common.project_trainer(scratch, precision, args.batch_size,
                                              args.output_size, args.intra_op_threads,
                                              args.inter_op_threads, recipe)
    settings = trainer.settings
    step = [0]

    def iteration():
        trainer.step(session, step[0], None)
        step[0] += 1

    def matmul(dtype, reps):
        graph = tf.Graph()
        with graph.as_default():
            rng = np.random.default_rng(0)
            a = tf.constant(rng.standard_normal((MATMUL_SIZE, MATMUL_SIZE), np.float32))
            b = tf.constant(rng.standard_normal((MATMUL_SIZE, MATMUL_SIZE), np.float32))
            if dtype == "bf16":
                a, b = tf.cast(a, tf.bfloat16), tf.cast(b, tf.bfloat16)
            a, b = tf.Variable(a), tf.Variable(b)  # cast once, not per run
            product = tf.matmul(a, b).op
            with tf1.Session(graph=graph, config=session_config(settings)) as mm_session:
                mm_session.run(tf1.global_variables_initializer())
                mm_session.run(product)
                return _best_rate(lambda: mm_session.run(product), reps)

    return iteration, matmul


def _remapper_off():
    """Make every session config of this process turn Grappler's remapper (op fusion) off."""
    from tensorflow.core.protobuf import rewriter_config_pb2

    from dcgan import runtime

    with_remapper = runtime.session_config

    def session_config(settings):
        config = with_remapper(settings)
        config.graph_options.rewrite_options.remapping = rewriter_config_pb2.RewriterConfig.OFF
        return config

    runtime.session_config = session_config


def _torch_contender(precision, args, scratch, variant=None):
    """The PyTorch reference on the same faces; returns (iteration(), matmul(dtype, reps))."""
    import torch
    from torch_dcgan import TorchDCGAN

    from dcgan.data import ImageSpec, load_folder
    from dcgan.network import ModelConfig

    torch.manual_seed(1)
    size = args.output_size
    faces = load_folder(os.path.join(scratch, "data", "faces"), ImageSpec(size, size, 3),
                        progress=False).images
    real_all = torch.from_numpy(np.array(faces)).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    real_all = real_all.contiguous(memory_format=torch.channels_last)
    gan = TorchDCGAN(ModelConfig(output_height=size, output_width=size), args.batch_size,
                     bf16=precision == "bf16")
    generator = torch.Generator().manual_seed(1)

    def iteration():
        index = torch.randint(len(real_all), (args.batch_size,), generator=generator)
        gan.iteration(real_all[index].contiguous(memory_format=torch.channels_last))

    def matmul(dtype, reps):
        kind = torch.bfloat16 if dtype == "bf16" else torch.float32
        a = torch.randn(MATMUL_SIZE, MATMUL_SIZE).to(kind)
        b = torch.randn(MATMUL_SIZE, MATMUL_SIZE).to(kind)
        torch.mm(a, b)
        return _best_rate(lambda: torch.mm(a, b), reps)

    return iteration, matmul


def _best_rate(work, reps):
    """GFLOP/s of a MATMUL_SIZE cube matmul: the best of `reps` timings (a peak, not a median)."""
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return 2 * MATMUL_SIZE ** 3 / best / 1e9


def _flags_contender(flags):
    """The project's Trainer of `main.py --train FLAGS` (a quality contender, bench/quality.py);
    returns (iteration(), None): no matmul peak.

    An iteration is a step of `Trainer._loop`: with a summary writer (into the run's scratch log
    folder), so every SUMMARY_EVERY-th step also computes and writes the TensorBoard summaries,
    as the command line's training does; bench/quality.py turns these seconds into the steps a
    user trains in a given time."""
    trainer, session = common.flags_trainer(flags)  # loads TensorFlow as main.py does
    import tensorflow as tf  # so only after: a first import here would load Keras and its lines

    writer = tf.compat.v1.summary.FileWriter(trainer.settings.run_log_dir)
    step = [0]

    def iteration():
        trainer.step(session, step[0], writer)
        step[0] += 1

    return iteration, None


def _build(name, flags, args, scratch):
    """A contender's (iteration(), matmul(dtype, reps)): from its `flags`, or its `name`."""
    if flags is not None:
        return _flags_contender(flags)
    framework, precision, *variant = name.split("-")
    build = _tf_contender if framework == "tf" else _torch_contender
    return build(precision, args, scratch, *variant)


def _iterate(iteration, count, seconds):
    """Run `iteration` at least `count` times and for at least `seconds`; returns the (wall,
    CPU) seconds of each."""
    times = []
    started = time.perf_counter()
    while len(times) < count or time.perf_counter() - started < seconds:
        start, cpu = time.perf_counter(), time.process_time()
        iteration()
        times.append((time.perf_counter() - start, time.process_time() - cpu))
    return times


def _worker(connection, name, flags, args, scratch):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    iteration, matmul = _build(name, flags, args, scratch)
    for _ in range(args.warmup):
        iteration()
    connection.send("ready")
    while True:
        message = connection.recv()
        if message[0] == "stop":
            return
        if message[0] == "iterate":
            connection.send(_iterate(iteration, *message[1:]))
        elif message[0] == "matmul":
            connection.send(matmul(message[1], message[2]))


@contextlib.contextmanager
def contender_processes(contenders, args, scratch):
    """One process per contender ({name: `main.py --train` flags, or None for the named
    contenders above}), each warmed up by `args.warmup` iterations; yields {name: connection}
    and stops them afterwards."""
    spawn = multiprocessing.get_context("spawn")
    workers = {}
    try:
        for name, flags in contenders.items():
            parent, child = spawn.Pipe()
            process = spawn.Process(target=_worker, args=(child, name, flags, args, scratch))
            process.start()
            workers[name] = (parent, process)
        for parent, _ in workers.values():
            parent.recv()
        yield {name: parent for name, (parent, _) in workers.items()}
    finally:
        for parent, process in workers.values():
            with contextlib.suppress(OSError):
                parent.send(("stop",))
            process.join(timeout=60)
            if process.is_alive():
                process.terminate()


def take_turns(connections, rounds, count, seconds=0.0, between_rounds=None):
    """`rounds` rounds in which each contender in turn trains at least `count` iterations and
    for at least `seconds`; `between_rounds(index)` runs after each. Returns {name: [turn, ...]}:
    each turn a list of (wall, CPU seconds) pairs, one per iteration (`every_iteration`
    flattens them)."""
    turns = {name: [] for name in connections}
    for round_index in range(rounds):
        for name, connection in connections.items():
            connection.send(("iterate", count, seconds))
            turns[name].append(connection.recv())
        if between_rounds:
            between_rounds(round_index)
    return turns


def every_iteration(turns):
    """{name: [(wall, CPU seconds), ...]} of every iteration, from take_turns' turns."""
    return {name: [pair for turn in its_turns for pair in turn] for name, its_turns in
            turns.items()}


def paced(turns):
    """(wall, CPU) seconds per iteration of a contender's turns as a long run sees them: the
    median over turns of each turn's mean (its iterations' total time / their count).

    A median of single iterations leaves out the slower ones that a long run pays for too
    (step times are skewed to the right: p90 0.52 s against a median of 0.34 s in a quiet
    run). Beside `main.py --train` of the same flags in one quiet run on the
    2-core Xeon (bf16, `--recipe fast --g_kernel 4`), it said 0.294 s where the command line
    took 0.326-0.350 s a step; this says 0.334 (bench/README.md). The median over turns still
    drops a turn that the shared machine disturbed."""
    means = [(sum(wall for wall, _ in turn) / len(turn), sum(cpu for _, cpu in turn) / len(turn))
             for turn in turns]
    return median([wall for wall, _ in means]), median([cpu for _, cpu in means])


def _parse():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--per_round", type=int, default=2, help="iterations per turn")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--output_size", type=int, default=48)
    parser.add_argument("--faces", type=int, default=1280, help="real faces fed to training")
    parser.add_argument("--intra_op_threads", type=int, default=0)
    parser.add_argument("--inter_op_threads", type=int, default=0)
    parser.add_argument("--only", default="tf-fp32,tf-bf16,tf-fp32-default,tf-bf16-default,"
                        "torch-fp32,torch-bf16",
                        help="comma-separated contenders")
    return parser.parse_args()


def main():
    """Run the interleaved comparison and print the tables."""
    args = _parse()
    from dcgan.network import ModelConfig

    print(machine_line())
    with common.scratch_folder("train_speed") as scratch:
        common.scratch_faces(scratch, args.faces, args.output_size)
        names = dict.fromkeys(args.only.split(","))
        with contender_processes(names, args, scratch) as connections:
            peaks = {}

            def measure_peaks(round_index):  # mid-run, under the same load as the iterations
                if round_index != args.rounds // 2:
                    return
                for name, connection in connections.items():
                    if name.endswith("fp32"):
                        for dtype in ("fp32", "bf16"):
                            connection.send(("matmul", dtype, 5))
                            peaks[(name.split("-")[0], dtype)] = connection.recv()

            times = every_iteration(take_turns(connections, args.rounds, args.per_round,
                                               between_rounds=measure_peaks))
    _report(args, times, peaks,
            ModelConfig(output_height=args.output_size, output_width=args.output_size))
    print(machine_line())


def _report(args, times, peaks, cfg):
    rows, gflop = describe(cfg, args.batch_size)
    print(f"\nFLOPs per iteration (1 D + 2 G updates, batch {args.batch_size}): {gflop:.1f} GFLOP"
          " (forward MFLOP per image per layer below; see bench/flops.py)")
    print_table(["layer", "forward MFLOP/image"], rows)
    peak = {dtype: max(v for (_, d), v in peaks.items() if d == dtype) for dtype in ("fp32", "bf16")
            if any(d == dtype for _, d in peaks)}
    print(f"\nmatmul {MATMUL_SIZE}^3 peaks (GFLOP/s, best of 5):")
    print_table(["framework", "fp32", "bf16"],
                [[fw, f"{peaks.get((fw, 'fp32'), 0):.0f}", f"{peaks.get((fw, 'bf16'), 0):.0f}"]
                 for fw in sorted({fw for fw, _ in peaks})])
    walls = {name: median([wall for wall, _ in pairs]) for name, pairs in times.items()}
    reference, torch_bf16 = walls.get("torch-fp32"), walls.get("torch-bf16")
    table = []
    for name, pairs in times.items():
        seconds = median([wall for wall, _ in pairs])
        cpu_seconds = median([cpu for _, cpu in pairs])
        dtype = name.split("-")[1]
        # The FLOPs are carpedm20's iteration's; the default recipe's is other work.
        rate = None if name.endswith("-default") else gflop / seconds
        table.append([name, f"{seconds:.3f}", f"{args.batch_size / seconds:.1f}",
                      f"{rate:.0f}" if rate else "-",
                      f"{100 * rate / peak[dtype]:.0f}%" if rate and dtype in peak else "-",
                      f"{reference / seconds:.2f}x" if reference else "-",
                      f"{torch_bf16 / seconds:.2f}x" if torch_bf16 else "-",
                      f"{cpu_seconds:.2f}", len(pairs)])
    print(f"\ntraining iteration, medians of interleaved runs ({args.rounds} rounds x "
          f"{args.per_round}):")
    print_table(["contender", "s/iteration", "img/s", "GFLOP/s", "of matmul peak",
                 "vs torch-fp32", "vs torch-bf16", "CPU s/iteration", "n"], table)
    print("(tf-*-default: the command line's default recipe, 1 D + 1 G update with 4x4 G "
          "kernels, DiffAugment and the EMA: other work than torch's carpedm20 iteration, so its "
          "ratios say what a user's step costs against the reference's step.)")
    print("(ratios are of wall-time medians. CPU s = the process's CPU time per iteration, "
          "a steadier measure of work on a loaded machine; it includes OpenMP threads "
          "spin-waiting, which inflates PyTorch's.)")


if __name__ == "__main__":
    main()
