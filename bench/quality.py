"""Image quality over training time, with and without an EMA of the generator's weights.

Trains one run on the shared anime faces (96 -> 48 px, carpedm20's network) for a fixed
wall-clock budget with `--ema` on, and every few minutes evaluates both samplers of the same
weights, the raw generator and its moving average, on the same latent vectors and real images.
The clock counts training only (evaluation is paused out). Prints a Markdown table; optionally
writes a grid (top half raw, bottom half EMA) and the rows as JSON.

Usage: python bench/quality.py [--minutes 30] [--eval_minutes 5] [--ema 0.999]
           [--eval_num 1024] [--grid docs/images/quality_grid.png] [--json rows.json]
"""

import argparse
import contextlib
import json
import logging
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dcgan import grids, latent, outputs
from dcgan.evaluate import TrainingEvaluator
from dcgan.network import ModelConfig
from dcgan.session import run_sampler
from dcgan.settings import RunSettings
from dcgan.train import Trainer

FACES = Path(__file__).resolve().parents[2] / "shared" / "data" / "anime_faces"
GRID_Z_SEED = 3
COLUMNS = ("min", "step", "SWD raw", "SWD EMA", "SWD real floor", "NDB/K raw", "NDB/K EMA",
           "NDB/K floor", "JS raw", "JS EMA", "MS-SSIM raw", "MS-SSIM EMA", "MS-SSIM real")


class BudgetSpent(Exception):
    """Ends the training loop from its between-steps hook once the time budget is used."""


class TimedTrainer(Trainer):
    """A Trainer on a clock of training time, which calls `at_mark` as it passes each of
    `marks` (seconds) and ends training after the last.

    The clock starts after the first step (graph set-up is not training) and pauses while
    `at_mark` runs (evaluation is not training either).
    """

    def __init__(self, settings, marks):
        outputs.make_output_folders(settings)  # as the command line does before training
        super().__init__(settings, progress=False)
        self.marks = sorted(marks)
        self.passed = 0
        self.paused = 0.0
        self.start = None
        self.start_step = 0

    def after_step(self, session, step, writer):
        """Call `at_mark` when the next mark of training time is passed; stop after the last."""
        now = time.time()
        if self.start is None:
            self.start, self.start_step = now, step
            return
        trained = now - self.start - self.paused
        if trained < self.marks[self.passed]:
            return
        self.at_mark(session, step, trained)
        self.passed += 1
        if self.passed == len(self.marks):
            raise BudgetSpent()
        self.paused += time.time() - now

    @property
    def last_mark(self):
        """True inside `at_mark` for the last mark."""
        return self.passed == len(self.marks) - 1

    def images_per_second(self, step, trained):
        """Training images per second of training time, from the end of the first step."""
        return self.settings.batch_size * (step - self.start_step) / trained

    def at_mark(self, session, step, trained):
        """The work at a mark (`trained` seconds of training, at `step`); subclasses say."""
        raise NotImplementedError


def grid_samples(session, sampler, cfg, count):
    """`sampler`'s images of `count` fixed latent vectors (GRID_Z_SEED), for a grid."""
    z = latent.sample_z(np.random.default_rng(GRID_Z_SEED), count, cfg.z_dim, cfg.z_dist)
    return run_sampler(session, sampler, z)


class EmaComparison(TimedTrainer):
    """Evaluates both samplers of the same weights, raw and EMA, every `eval_seconds` of
    training time up to `budget_seconds`."""

    def __init__(self, settings, budget_seconds, eval_seconds, grid_path):
        marks = [eval_seconds * k for k in range(1, math.ceil(budget_seconds / eval_seconds))]
        super().__init__(settings, [*marks, budget_seconds])
        self.bench_evaluator = TrainingEvaluator(settings, self.data.images)
        self.grid_path = grid_path
        self.rows = []

    def at_mark(self, session, step, trained):
        """Both samplers' metrics as a row; at the last mark the grid (raw above, EMA below)."""
        gan = self.graph.gan
        raw = self.bench_evaluator.evaluate(session, gan.raw_sampler)
        ema = self.bench_evaluator.evaluate(session, gan.sampler)
        self.rows.append(row(trained, step, raw, ema))
        print(format_row(self.rows[-1]), flush=True)
        if self.last_mark and self.grid_path:
            both = [grid_samples(session, s, self.settings.model, 32)
                    for s in (gan.raw_sampler, gan.sampler)]
            grids.save_grid(self.grid_path, np.concatenate(both), rows=8)


def row(seconds, step, raw, ema):
    """One table row from the raw and EMA results of `evaluate_sets`."""
    return {"min": seconds / 60, "step": step,
            "SWD raw": raw["swd_avg"], "SWD EMA": ema["swd_avg"],
            "SWD real floor": raw["swd_floor_avg"],
            "NDB/K raw": raw["ndb_over_k"], "NDB/K EMA": ema["ndb_over_k"],
            "NDB/K floor": raw["ndb_over_k_floor"],
            "JS raw": raw["ndb_js"], "JS EMA": ema["ndb_js"],
            "MS-SSIM raw": raw["ms_ssim_fake"], "MS-SSIM EMA": ema["ms_ssim_fake"],
            "MS-SSIM real": raw["ms_ssim_real"]}


def format_row(values):
    """A Markdown table row."""
    cells = [f"{values['min']:.1f}", str(values["step"])]
    cells += [f"{values[c]:.3f}" if "NDB" in c or "SSIM" in c else
              f"{values[c]:.4f}" if "JS" in c else f"{values[c]:.1f}" for c in COLUMNS[2:]]
    return "| " + " | ".join(cells) + " |"


def settings_for(args, work):
    """RunSettings of the benchmarked run in the scratch folder `work`."""
    return RunSettings.create(
        dataset="anime", crop_height=96, crop_width=96,
        model=ModelConfig(output_height=args.output_size, output_width=args.output_size,
                          gf_dim=args.gf_dim, df_dim=args.df_dim),
        data_dir=os.path.join(work, "data"), checkpoint_dir=os.path.join(work, "checkpoints"),
        sample_dir=os.path.join(work, "samples"), tensorboard_dir=os.path.join(work, "logs"),
        batch_size=args.batch_size, epoch=100000, seed=args.seed, sample_freq=10 ** 9,
        ckpt_freq=10 ** 9, ema=args.ema, eval_num=args.eval_num, ndb_k=args.ndb_k)


def main():
    """Parse the options, train within the budget and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="training time budget")
    parser.add_argument("--eval_minutes", type=float, default=5.0, help="training time between "
                        "evaluations")
    parser.add_argument("--ema", type=float, default=0.999)
    parser.add_argument("--eval_num", type=int, default=1024, help="images per compared set")
    parser.add_argument("--ndb_k", type=int, default=100)
    parser.add_argument("--output_size", type=int, default=48)
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--gf_dim", type=int, default=64)
    parser.add_argument("--df_dim", type=int, default=64)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--faces", default=str(FACES), help="folder of the real pictures")
    parser.add_argument("--grid", help="write a grid of the final samples here (raw above, EMA "
                        "below)")
    parser.add_argument("--json", help="write the table's rows here")
    args = parser.parse_args()
    if not os.path.isdir(args.faces):
        sys.exit(f"no folder {args.faces}: pass --faces DIR")
    logging.basicConfig(level=logging.WARNING)

    work = tempfile.mkdtemp(prefix="dcgan_quality_")
    os.makedirs(os.path.join(work, "data"))
    os.symlink(os.path.abspath(args.faces), os.path.join(work, "data", "anime"))
    settings = settings_for(args, work)
    print(f"# {args.minutes:g} min of training on {args.faces} ({args.output_size} px, batch "
          f"{args.batch_size}, --ema {args.ema}), evaluated every {args.eval_minutes:g} min on "
          f"{args.eval_num} images per set; scratch folder {work}", flush=True)
    trainer = EmaComparison(settings, args.minutes * 60, args.eval_minutes * 60, args.grid)
    print("| " + " | ".join(COLUMNS) + " |\n|" + "---|" * len(COLUMNS), flush=True)
    with contextlib.suppress(BudgetSpent):
        trainer.run()
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(trainer.rows, handle, indent=2)


if __name__ == "__main__":
    main()
