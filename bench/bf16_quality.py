"""Does --precision bf16 train as well as fp32? SWD after the same steps on the shared faces.

    python bench/bf16_quality.py                  # 32x32, gf/df 32, 3 seeds x 2 precisions
    python bench/bf16_quality.py --output_size 48 --dim 64 --epoch 5 --seeds 2

Trains the same run with `python main.py --train` (same data, same steps) once per precision
and seed, all at once (one thread each), then scores `--count` generated images of each
against real faces with dcgan.metrics.swd, beside the real-vs-real SWD of two disjoint real
sets of the same size (the noise floor of the metric). One run of a GAN says little: two fp32
runs that differ only in their seed differ by more than the floor early in training, so the
verdict compares the precisions' mean SWD over the seeds, next to the floor and to the spread
between seeds.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from common import REPO, machine_line, print_table, scratch_faces

PRECISIONS = ("fp32", "bf16")


def _parse():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output_size", type=int, default=32)
    parser.add_argument("--dim", type=int, default=32, help="--gf_dim and --df_dim")
    parser.add_argument("--train_size", type=int, default=6400)
    parser.add_argument("--epoch", type=int, default=4)
    parser.add_argument("--count", type=int, default=1024, help="images per SWD set")
    parser.add_argument("--seeds", type=int, default=3, help="training runs per precision")
    return parser.parse_args()


def _train_both(args, scratch):
    common = ["--dataset", "faces", "--train", "--data_dir", os.path.join(scratch, "data"),
              "--output_size", str(args.output_size), "--gf_dim", str(args.dim),
              "--df_dim", str(args.dim), "--train_size", str(args.train_size),
              "--epoch", str(args.epoch), "--sample_freq", "100000", "--ckpt_freq", "100000",
              "--intra_op_threads", "1", "--inter_op_threads", "1"]
    runs = {}
    for precision, seed in [(p, s) for s in range(1, args.seeds + 1) for p in PRECISIONS]:
        name = f"{precision}_seed{seed}"
        folder = os.path.join(scratch, name)
        command = [sys.executable, str(REPO / "main.py"), *common, "--precision", precision,
                   "--seed", str(seed),
                   "--checkpoint_dir", os.path.join(folder, "checkpoints"),
                   "--sample_dir", os.path.join(folder, "samples"),
                   "--tensorboard_dir", os.path.join(folder, "logs")]
        log = open(os.path.join(scratch, f"{name}.log"), "w")  # noqa: SIM115
        runs[name] = (subprocess.Popen(command, stdout=log, stderr=log), time.time(), log)
    seconds = {}
    while len(seconds) < len(runs):
        for name, (process, started, log) in runs.items():
            if name in seconds or process.poll() is None:
                continue
            seconds[name] = time.time() - started
            log.close()
            if process.returncode:
                with open(log.name) as text:
                    sys.exit(text.read()[-3000:] + f"\n{name} training failed")
        time.sleep(1)
    return seconds


def _generated(scratch, name, count, seed):
    from dcgan import runs
    from dcgan.grids import to_uint8
    from dcgan.session import TrainedGenerator

    run = runs.newest_run(os.path.join(scratch, name, "checkpoints"), "faces")
    with TrainedGenerator(run) as generator:
        images = generator.generate(generator.sample_z(count, seed))
        return to_uint8(images), generator.step


def main():
    """Train both precisions, score them, print the table."""
    args = _parse()
    print(machine_line())
    with tempfile.TemporaryDirectory() as scratch:
        data = scratch_faces(scratch, 12000, args.output_size)
        seconds = _train_both(args, scratch)
        from dcgan.metrics import swd

        real = np.asarray(data.images)
        rng = np.random.default_rng(0)
        # Reference faces from the training images; the noise floor from images never trained on.
        reference = real[rng.choice(args.train_size, args.count, replace=False)]
        held_out = real[args.train_size:][:args.count]
        floor = swd(held_out, reference)["swd_avg"]
        rows = [["real vs real (noise floor)", "-", f"{floor:.2f}", "-"]]
        scores = {precision: [] for precision in PRECISIONS}
        for name in sorted(seconds):
            fake, step = _generated(scratch, name, args.count, 0)
            score = swd(fake, reference)["swd_avg"]
            scores[name.split("_")[0]].append(score)
            rows.append([f"{name} generator vs real", step, f"{score:.2f}",
                         f"{seconds[name]:.0f}"])
    print(f"\nSWD (x1e3, average over pyramid levels) of {args.count} images, "
          f"{args.output_size}x{args.output_size}, gf/df {args.dim}, batch 64:")
    print_table(["set", "steps", "SWD", "training s (all at once)"], rows)
    print()
    _verdict(scores, floor)
    print(machine_line())


def _verdict(scores, floor):
    """Mean SWD per precision, the spread between seeds, and whether bf16 is within the floor."""
    means = {p: float(np.mean(v)) for p, v in scores.items()}
    spreads = {p: float(np.std(v, ddof=1)) if len(v) > 1 else float("nan")
               for p, v in scores.items()}
    print_table(["precision", "runs", "mean SWD", "sd between seeds"],
                [[p, len(scores[p]), f"{means[p]:.2f}", f"{spreads[p]:.2f}"] for p in scores])
    gap = means["bf16"] - means["fp32"]
    within = "within" if abs(gap) <= floor else "NOT within"
    print(f"bf16 mean - fp32 mean = {gap:+.2f}: {within} the real-vs-real noise floor {floor:.2f}")


if __name__ == "__main__":
    main()
