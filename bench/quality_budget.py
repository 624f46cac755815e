"""Quality per wall-clock minute: contenders trained for the same minutes, scored on held-out faces.

    python bench/quality_budget.py          # carpedm20 vs fast: all faces at 10 and 20 min,
                                            # 1,000 faces at 20 min (about 1 h 40 min)
    python bench/quality_budget.py --contender "--recipe carpedm20" \\
        --contender "--recipe fast --augment none" --cases all:10,20 1000:20

The shared faces are split once, by their numbers: every 6th face (2,000 of 12,000) is held out
and never trained on. Case `all` trains on the other 10,000, case `1000` on the first 1,000 of
those. A contender is a set of `main.py --train` flags (a `--recipe` and flags over it), added to
the README's command (`--image_size 96 --output_size 48`, batch 64, `--seed 1`,
`--precision auto`). The contenders train one at a time, each run's clock counting training
only: at each of a case's minute marks training pauses, and the images of the sampler a user
gets (the EMA's when the run keeps one) are scored against the held-out faces with
dcgan.metrics.evaluate_sets: SWD, NDB/K and MS-SSIM, each beside its real-vs-real floor, with
the steps reached and the training images per second. A grid of 64 samples per contender and
mark is written under --out. Run it on a quiet machine: a loaded one gives fewer steps per
minute to whoever runs while the load is high.
"""

import argparse
import contextlib
import logging
import os
import re
import shlex
import shutil
import sys
import tempfile

from common import face_names, link_faces, machine_line, print_table
from quality import BudgetSpent, TimedTrainer, grid_samples

from dcgan import cli, data, grids
from dcgan.evaluate import TrainingEvaluator

HOLD_OUT_EVERY = 6  # every 6th face is held out: 2,000 of the 12,000
DEFAULT_CONTENDERS = ("--recipe carpedm20", "--recipe fast")
DEFAULT_CASES = ("all:10,20", "1000:20")
COLUMNS = ("faces", "contender", "precision", "min", "steps", "img/s", "SWD", "SWD floor",
           "NDB/K", "NDB/K floor", "MS-SSIM", "MS-SSIM real")


def split(names):
    """(training names, held-out names): every HOLD_OUT_EVERY-th name is held out."""
    held_out = [i % HOLD_OUT_EVERY == HOLD_OUT_EVERY - 1 for i in range(len(names))]
    return ([n for n, out in zip(names, held_out, strict=True) if not out],
            [n for n, out in zip(names, held_out, strict=True) if out])


def parse_case(text):
    """`FACES:MIN,MIN,...` (FACES `all` or a count) as (count or None, [seconds, ...])."""
    faces, _, minutes = text.partition(":")
    marks = [float(m) * 60 for m in minutes.split(",") if m]
    if not marks or not (faces == "all" or faces.isdigit()):
        sys.exit(f"--cases {text!r}: write FACES:MINUTES[,MINUTES...], e.g. all:10,20 1000:20")
    return (None if faces == "all" else int(faces)), marks


class BudgetRun(TimedTrainer):
    """One contender on one case: at each mark, the user's sampler against the held-out faces."""

    def __init__(self, settings, marks, held_out, label, case, grid_folder):
        super().__init__(settings, marks)
        self.evaluator = TrainingEvaluator(settings, held_out)
        self.label, self.case, self.grid_folder = label, case, grid_folder
        self.rows = []

    def at_mark(self, session, step, trained):
        """Score the sampler, print and keep the row, write the grid."""
        sampler = self.graph.gan.sampler
        result = self.evaluator.evaluate(session, sampler)
        minutes = f"{self.marks[self.passed] / 60:g}"
        row = [self.case, self.label, self.settings.precision, minutes, step,
               f"{self.images_per_second(step, trained):.1f}",
               f"{result['swd_avg']:.1f}", f"{result['swd_floor_avg']:.1f}",
               f"{result['ndb_over_k']:.3f}", f"{result['ndb_over_k_floor']:.3f}",
               f"{result['ms_ssim_fake']:.3f}", f"{result['ms_ssim_real']:.3f}"]
        self.rows.append(row)
        print("| " + " | ".join(str(cell) for cell in row) + " |", flush=True)
        name = f"{self.case}_{_slug(self.label)}_{minutes}min.png"
        grids.save_grid(os.path.join(self.grid_folder, name),
                         grid_samples(session, sampler, self.settings.model, 64))


def _slug(label):
    return re.sub(r"[^0-9A-Za-z]+", "_", label).strip("_")


def _parse():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--contender", action="append", help="main.py training flags of one "
                        f"contender (repeat it); default: {' and '.join(DEFAULT_CONTENDERS)}")
    parser.add_argument("--cases", nargs="+", default=list(DEFAULT_CASES),
                        help="FACES:MINUTES,...: train on all training faces or the first N, "
                        "scored at each mark (training minutes)")
    parser.add_argument("--output_size", type=int, default=48)
    parser.add_argument("--dim", type=int, default=64, help="--gf_dim and --df_dim")
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--eval_num", type=int, default=1000, help="images per scored set "
                        "(at most half the held-out faces)")
    parser.add_argument("--ndb_k", type=int, default=100)
    parser.add_argument("--limit", type=int, help="use only the first N shared faces (smoke runs)")
    parser.add_argument("--out", default="quality_budget", help="folder of the grids")
    return parser.parse_args()


def _base_flags(args, scratch, dataset):
    """The README command's flags for one run in `scratch`, before the contender's."""
    return ["--dataset", dataset, "--data_dir", os.path.join(scratch, "data"),
            "--image_size", "96", "--output_size", str(args.output_size),
            "--gf_dim", str(args.dim), "--df_dim", str(args.dim),
            "--batch_size", str(args.batch_size), "--seed", "1", "--epoch", "100000",
            "--sample_freq", "1000000000", "--ckpt_freq", "1000000000",
            "--eval_num", str(args.eval_num), "--ndb_k", str(args.ndb_k),
            "--sample_dir", os.path.join(scratch, "samples"),
            "--tensorboard_dir", os.path.join(scratch, "logs")]


def _run_case(args, scratch, case, held_out, contender, index):
    """Train `contender` on `case` (its data folder under `scratch`) until its last mark."""
    count, marks = case
    dataset = f"faces_{count or 'all'}"
    flags = [*_base_flags(args, scratch, dataset),
             "--checkpoint_dir", os.path.join(scratch, f"checkpoints_{index}_{dataset}"),
             *shlex.split(contender)]
    run = BudgetRun(cli.training_settings(flags), marks, held_out, contender,
                    count or "all", args.out)
    with contextlib.suppress(BudgetSpent):
        run.run()
    return run.rows


def main():
    """Split the faces, train every contender on every case in turn, print the table."""
    args = _parse()
    contenders = args.contender or list(DEFAULT_CONTENDERS)
    cases = [parse_case(text) for text in args.cases]
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("dcgan").setLevel(logging.INFO)  # each run's precision line
    print(machine_line(), flush=True)
    scratch = tempfile.mkdtemp(prefix="dcgan_quality_budget_")
    try:
        train, held = split(face_names()[:args.limit])
        for count in {count for count, _ in cases}:
            link_faces(os.path.join(scratch, "data", f"faces_{count or 'all'}"),
                       train[:count] if count else train)
        spec = cli.training_settings(_base_flags(args, scratch, "faces_all")).spec
        held_out = data.load_folder(link_faces(os.path.join(scratch, "held_out"), held), spec,
                                    progress=False).images
        print(f"training faces {len(train)}, held out {len(held)}; grids in {args.out}/",
              flush=True)
        print("| " + " | ".join(COLUMNS) + " |\n|" + "---|" * len(COLUMNS), flush=True)
        rows = []
        for case in cases:
            for index, contender in enumerate(contenders):
                rows += _run_case(args, scratch, case, held_out, contender, index)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print()
    print_table(COLUMNS, rows)
    print(machine_line())


if __name__ == "__main__":
    main()
