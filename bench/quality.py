"""Learning curves: which training recipe gives the best faces for the steps a CPU has time for.

    python bench/quality.py --work ~/curves          # carpedm20 vs fast, 6,000 steps each
    python bench/quality.py --work ~/curves --seeds 2 \\
        --contender "--recipe fast" --contender "--recipe fast --augment none"
    python bench/quality.py --work ~/curves --faces 1000          # the 1,000-face case
    python bench/quality.py --work ~/bf16 --precisions fp32,bf16 --seeds 2   # bf16 vs fp32
    python bench/quality.py --work ~/curves --table                # print what is measured
    python bench/quality.py --work ~/transfer --small 500 --marks 200,400,600,800 \\
        --contender "--recipe fast" \\
        --contender "--recipe fast --init_from ~/curves/curves/<a run>/<its step-2000 checkpoint>"

Quality is measured by steps, not minutes, so the load of a shared machine only changes how
long it takes. The shared faces are split once, by their numbers: every 6th face (2,000 of
12,000) is held out and never trained on. Each contender (a `--recipe` and flags over it,
added to the README's command: 96 -> 48 px, gf = df = 64, batch 64, `--precision auto`) is
trained once per seed by `main.py --train --steps LAST` (the last of `--marks`); the checkpoint
of each mark is kept aside (hard links in WORK/curves/, safe from the run's pruning) and then
scored by `main.py --evaluate` against the held-out faces (SWD, NDB/K, MS-SSIM beside their
real-vs-real floors), with a grid of 64 samples by `main.py --visualize` (WORK/grids/).

Speed is measured apart, on whatever CPU runs the script: each contender's seconds per
iteration in interleaved turns (bench/train_speed.py's workers: the median over turns of each
turn's mean, summaries included, as the command line's loop pays), fp32 and, where the CPU has
bfloat16 units, bf16. The combined table turns each CPU's speed into the step reached at 10
and 20 minutes and interpolates the curve's scores there. `--precisions fp32,bf16` trains every
contender in both precisions and compares the curves at equal steps (with two seeds, against
the seed spread), so machines without bf16 units can search with fp32 curves.

`--small N` is the transfer case (`--init_from`, issue 23): the contenders train on N faces of
the held-out part, which no curve of the full split trains on, and are scored against the rest of
it; a contender that starts from a full-split curve's kept checkpoint is then fine-tuning on
faces its source never saw, as a user's small folder is.

Everything lands in --work and is reused: a killed bench run again with the same options picks
up where it stopped (training resumes from its newest checkpoint; scored points are not
scored again). Run heavy jobs one at a time: two trainings sharing two cores measure nothing
faster.
"""

import argparse
import contextlib
import ctypes
import fnmatch
import json
import math
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time

from common import REPO, cpu_model, face_names, link_faces, machine_line, scratch_folder
from quality_tables import print_tables

from dcgan import checkpoint_files
from dcgan.precision import cpu_has_bf16

HOLD_OUT_EVERY = 6  # every 6th face is held out: 2,000 of the 12,000
DEFAULT_CONTENDERS = ("--recipe carpedm20", "--recipe fast")
DEFAULT_MARKS = "500,1000,1500,2000,3000,4000,6000"
SETUP_KEYS = ("image_size", "output_size", "dim", "batch_size", "limit", "eval_num", "ndb_k",
              "small")
GRID_SEED = 1  # the grids' latent vectors: the same faces at every point of every curve


def _parse(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", required=True, help="folder of everything measured (reused: "
                        "run again to resume)")
    parser.add_argument("--contender", action="append", help="main.py training flags of one "
                        f"contender (repeat it); default: {' and '.join(DEFAULT_CONTENDERS)}")
    parser.add_argument("--marks", default=DEFAULT_MARKS, help="steps whose checkpoints are "
                        "kept and scored; training runs to the last")
    parser.add_argument("--seeds", type=int, default=1, help="training runs per contender "
                        "(seeds 1..N); two show the seed noise")
    parser.add_argument("--faces", default="all", help="train on all training faces or the "
                        "first N of them")
    parser.add_argument("--precisions", help="e.g. fp32,bf16: train every contender in each "
                        "and compare the curves (the bf16 agreement check)")
    parser.add_argument("--minutes", default="10,20", help="training minutes of the combined "
                        "table")
    parser.add_argument("--table", action="store_true", help="only print the tables")
    parser.add_argument("--no_speed", action="store_true", help="measure no speed")
    parser.add_argument("--speed_again", action="store_true", help="measure this CPU's speed "
                        "again even if WORK has it")
    parser.add_argument("--speed_seconds", type=float, default=60.0,
                        help="training seconds per contender and precision, in turns")
    parser.add_argument("--speed_turns", type=int, default=6)
    parser.add_argument("--speed_warmup", type=int, default=3, help="iterations before timing")
    setup = parser.add_argument_group("the setup, fixed for a --work folder")
    setup.add_argument("--image_size", type=int, default=96)
    setup.add_argument("--output_size", type=int, default=48)
    setup.add_argument("--dim", type=int, default=64, help="--gf_dim and --df_dim")
    setup.add_argument("--batch_size", type=int, default=64)
    setup.add_argument("--limit", type=int, help="use only the first N shared faces (smoke runs)")
    setup.add_argument("--eval_num", type=int, default=1000, help="images per scored set (at "
                       "most half the held-out faces)")
    setup.add_argument("--ndb_k", type=int, default=100)
    setup.add_argument("--small", type=int, default=0, help="the transfer case: train on the "
                       "first N held-out faces, score against the other held-out ones")
    args = parser.parse_args(argv)
    try:
        args.marks = sorted({int(m) for m in args.marks.split(",") if m})
        args.minutes = [float(m) for m in args.minutes.split(",") if m]
    except ValueError:
        parser.error("--marks and --minutes take comma-separated numbers, e.g. 500,1000")
    if not args.marks or args.marks[0] <= 0:
        parser.error("--marks needs positive steps, e.g. 500,1000,2000")
    if args.faces != "all" and not args.faces.isdigit():
        parser.error(f"--faces {args.faces}: write all or a number of faces")
    return args


def write_json(path, value):
    """Write `value` as JSON to `path` whole or not at all (a killed bench leaves the old)."""
    temporary = f"{path}.tmp{os.getpid()}"
    with open(temporary, "w") as handle:
        json.dump(value, handle, indent=2)
    os.replace(temporary, path)


def read_json(path, default):
    """The JSON at `path`, or `default` when there is none."""
    try:
        with open(path) as handle:
            return json.load(handle)
    except FileNotFoundError:
        return default


class Work:
    """The --work folder: the split, the runs, their kept checkpoints, scores, grids, speeds."""

    def __init__(self, folder):
        self.folder = os.path.abspath(folder)
        for name in ("data", "runs", "curves", "scores", "grids", "logs"):
            os.makedirs(self.path(name), exist_ok=True)

    def path(self, *parts):
        """A path inside the work folder."""
        return os.path.join(self.folder, *parts)

    def check_setup(self, args):
        """Record the setup on first use; refuse options that differ from the recorded ones."""
        wanted = {key: getattr(args, key) for key in SETUP_KEYS}
        saved = read_json(self.path("setup.json"), None)
        if saved is None:
            write_json(self.path("setup.json"), wanted)
            return
        # A setup recorded before an option existed was measured at that option's default.
        defaults = vars(_parse(["--work", self.folder]))
        saved = {key: saved.get(key, defaults[key]) for key in SETUP_KEYS}
        differ = [f"--{key} {saved[key]}" for key in SETUP_KEYS if saved[key] != wanted[key]]
        if differ:
            sys.exit(f"error: {self.folder} was measured with {', '.join(differ)}: pass the "
                     "same, or another --work for another setup")

    def split(self, args):
        """Link the training faces and the faces scored against into the work folder, once;
        returns the training dataset's name. Training faces: all of the training part, or its
        first --faces; with --small N, the first N held-out faces instead (and the scoring set
        is the rest of the held-out part)."""
        names = face_names()[:args.limit]
        held = [i % HOLD_OUT_EVERY == HOLD_OUT_EVERY - 1 for i in range(len(names))]
        held_out = [name for name, out in zip(names, held, strict=True) if out]
        if args.small:
            dataset, train, held_out = f"small_{args.small}", held_out[:args.small], \
                held_out[args.small:]
        else:
            dataset = f"train_{args.faces}"
            count = None if args.faces == "all" else int(args.faces)
            train = [name for name, out in zip(names, held, strict=True) if not out][:count]
        _link_once(self.path("data", dataset), train)
        _link_once(self.path("held_out"), held_out)
        print(f"training faces {len(train)}, scored against {len(held_out)} held-out faces; "
              f"work in {self.folder}/", flush=True)
        return dataset

    def runs(self):
        """{run name: {"contender", "seed", "faces", "flags"}} of every run started here."""
        return read_json(self.path("runs.json"), {})

    def speeds(self):
        """{CPU name: {"<contender> | <precision>": {"s_per_iteration", ...}}}."""
        return read_json(self.path("speed.json"), {})

    def add_run(self, name, record):
        """Remember a run (so the tables can name its contender)."""
        write_json(self.path("runs.json"), {**self.runs(), name: record})


def _link_once(folder, names):
    """Link the shared faces `names` into `folder` unless it exists (made whole or not at
    all, so a killed bench never leaves half a split)."""
    if os.path.isdir(folder):
        return
    temporary = f"{folder}.tmp{os.getpid()}"
    shutil.rmtree(temporary, ignore_errors=True)
    os.rename(link_faces(temporary, names), folder)


def slug(text):
    """A run-name-safe form of a contender's flags."""
    return re.sub(r"[^0-9A-Za-z]+", "_", text).strip("_") or "defaults"


def pinned_precision(flags):
    """The --precision a contender's flags pin, or None."""
    words = shlex.split(flags)
    for index, word in enumerate(words):
        if word.startswith("--precision="):
            return word.split("=", 1)[1]
        if word == "--precision" and index + 1 < len(words):
            return words[index + 1]
    return None


def contenders_of(args):
    """[(label, flags text, precision or None)]: each --contender, in each of --precisions
    (None: the contender does not pin one, so it trains with `auto`)."""
    labels = args.contender or list(DEFAULT_CONTENDERS)
    if not args.precisions:
        return [(label, label, pinned_precision(label)) for label in labels]
    return [(label, f"{label} --precision {precision}", precision) for label in labels
            for precision in args.precisions.split(",")]


def main_py(mode, *flags):
    """The command line of `python main.py --MODE FLAGS` in this checkout."""
    return [sys.executable, str(REPO / "main.py"), f"--{mode}", *flags]


def _die_with_parent():
    """In a child: be sent SIGTERM (save and stop) if the bench dies, even by SIGKILL."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Curve:
    """One contender's training run for one seed, its kept checkpoints, scores and grids."""

    def __init__(self, work, args, dataset, contender, seed):
        self.work, self.args, self.dataset = work, args, dataset
        self.label, self.flags, self.precision = contender
        self.seed = seed
        self.faces = f"small{args.small}" if args.small else args.faces
        self.name = f"{self.faces}_{slug(self.flags)}_seed{seed}"
        self.kept = work.path("curves", self.name)

    def training_flags(self):
        """The README command's flags for this run, then the contender's (which win)."""
        args, marks = self.args, self.args.marks
        return ["--dataset", self.dataset, "--data_dir", self.work.path("data"),
                "--checkpoint_dir", self.work.path("runs"), "--name", self.name,
                "--sample_dir", self.work.path("samples"),
                "--tensorboard_dir", self.work.path("tensorboard"),
                "--image_size", str(args.image_size), "--output_size", str(args.output_size),
                "--gf_dim", str(args.dim), "--df_dim", str(args.dim),
                "--batch_size", str(args.batch_size), "--seed", str(self.seed),
                "--steps", str(marks[-1]), "--ckpt_freq", str(math.gcd(*marks)),
                "--sample_freq", str(marks[-1]), *shlex.split(self.flags)]

    def kept_steps(self):
        """The marks whose checkpoints are kept aside."""
        return sorted(checkpoint_files.step_of(path)
                      for path in checkpoint_files.complete(self.kept))

    def train(self):
        """Train to the last mark (resuming the run), keeping each mark's checkpoint aside."""
        if self.args.marks[-1] in self.kept_steps():
            return
        self.work.add_run(self.name, {"contender": self.label, "flags": self.flags,
                                      "precision": self.precision, "seed": self.seed,
                                      "faces": self.faces})
        print(f"training {self.name} to step {self.args.marks[-1]} (log "
              f"{self.work.path('logs', self.name + '.log')})", flush=True)
        _run_logged(main_py("train", *self.training_flags()),
                    self.work.path("logs", self.name + ".log"), self.keep_aside)

    def keep_aside(self):
        """Hard-link the run's complete checkpoints of mark steps into the curve folder (data
        shards first, the index last: a kept checkpoint is complete or not listed), with the
        run's run.json: the curve folder is a run of its own for the sampling modes."""
        os.makedirs(self.kept, exist_ok=True)
        kept = set(self.kept_steps())
        run_folder = self.work.path("runs", self.name)
        if not os.path.exists(os.path.join(self.kept, "run.json")):
            with contextlib.suppress(FileNotFoundError):  # written once a run starts
                _copy_whole(os.path.join(run_folder, "run.json"), self.kept)
        for path in checkpoint_files.complete(run_folder):
            step = checkpoint_files.step_of(path)
            if step in self.args.marks and step not in kept:
                try:
                    _link_checkpoint(path, self.kept)
                except FileNotFoundError:  # pruned under our feet: only a missed point
                    print(f"warning: the checkpoint of step {step} of {self.name} was deleted "
                          "before it was kept", flush=True)

    def score(self):
        """Score, and draw a grid of, every kept checkpoint not scored yet."""
        self.keep_aside()  # what a bench killed between the run's end and its last look missed
        for step in self.kept_steps():
            checkpoint = ["--checkpoint", checkpoint_files.prefix_of(self.kept, step)]
            if not _found(self.work.path("scores", self.name), f"eval_{step:05d}_*.json"):
                print(f"scoring {self.name} step {step}", flush=True)
                _run_logged(main_py("evaluate", *checkpoint,
                                    "--eval_data", self.work.path("held_out"),
                                    "--eval_num", str(self.args.eval_num),
                                    "--ndb_k", str(self.args.ndb_k),
                                    "--sample_dir", self.work.path("scores")),
                            self.work.path("logs", self.name + "_scores.log"))
            if not _found(self.work.path("grids", self.name), f"grid_{step:05d}_*.png"):
                _run_logged(main_py("visualize", *checkpoint,
                                    "--mode", "grid", "--seed", str(GRID_SEED),
                                    "--sample_dir", self.work.path("grids")),
                            self.work.path("logs", self.name + "_grids.log"))


def _found(folder, pattern):
    """Whether `folder` holds a file matching the glob `pattern`."""
    with contextlib.suppress(FileNotFoundError):
        return any(fnmatch.fnmatch(name, pattern) for name in os.listdir(folder))
    return False


def _copy_whole(path, folder):
    """Copy the file `path` into `folder` whole or not at all."""
    target = os.path.join(folder, os.path.basename(path))
    shutil.copy2(path, target + ".tmp")
    os.replace(target + ".tmp", target)


def _link_checkpoint(prefix, folder):
    """Hard-link (or copy, across file systems) the files of checkpoint `prefix` into
    `folder`, the index last."""
    files = sorted(checkpoint_files.files_of(prefix), key=lambda path: path.endswith(".index"))
    for path in files:
        target = os.path.join(folder, os.path.basename(path))
        with contextlib.suppress(FileNotFoundError):
            os.remove(target)  # a link of a kill before its index was linked
        try:
            os.link(path, target)
        except OSError as error:
            if isinstance(error, FileNotFoundError):
                raise
            _copy_whole(path, folder)


def _run_logged(command, log_path, while_running=None):
    """Run `command` with its output appended to `log_path`, calling `while_running()` every
    second and once after; a bench stopped on the way stops the child first (it saves).
    Exits with the log's tail when the command fails."""
    with open(log_path, "a") as log:
        log.write(f"\n$ {shlex.join(command)}\n")
        log.flush()
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
                                   preexec_fn=_die_with_parent)
        try:
            while process.poll() is None:
                if while_running:
                    while_running()
                time.sleep(1)
        finally:
            if process.poll() is None:
                process.terminate()
                process.wait()
    if while_running:
        while_running()
    if process.returncode:
        with open(log_path) as log:
            tail = log.read()[-3000:]
        sys.exit(f"{tail}\n{shlex.join(command[1:3])} ... failed (exit {process.returncode}); "
                 f"the log is {log_path}")


def speed_names(contenders):
    """{speed name: (label, precision)}: each contender at its pinned precision, else fp32
    and, on a CPU with bfloat16 units, bf16."""
    auto = ["fp32", "bf16"] if cpu_has_bf16() else ["fp32"]
    names = {}
    for label, _, pinned in contenders:
        for precision in [pinned] if pinned else auto:
            names[f"{label} | {precision}"] = (label, precision)
    return names


def measure_speed(work, args, dataset, contenders):
    """Each contender's seconds per iteration on this CPU, in interleaved turns (the workers
    of bench/train_speed.py), recorded in WORK/speed.json under the CPU's name."""
    from train_speed import contender_processes, paced, take_turns  # the workers: only here

    speeds = work.speeds()
    names = speed_names(contenders)
    mine = speeds.get(cpu_model(), {})
    if not args.speed_again and all(name in mine for name in names):
        return
    print(f"speed: {len(names)} contenders, {args.speed_seconds:g} s each in "
          f"{args.speed_turns} turns; {machine_line()}", flush=True)
    with scratch_folder("quality_speed") as scratch:
        flags = {name: [*Curve(work, args, dataset, (label, label, None), 1).training_flags(),
                        "--precision", precision, "--name", f"speed_{index}",
                        "--checkpoint_dir", scratch, "--sample_dir", scratch,
                        "--tensorboard_dir", scratch]
                 for index, (name, (label, precision)) in enumerate(names.items())}
        with contender_processes(flags, argparse.Namespace(warmup=args.speed_warmup),
                                 scratch) as connections:
            turns = take_turns(connections, args.speed_turns, 1,
                               args.speed_seconds / args.speed_turns)
    for name, its_turns in turns.items():
        wall, cpu = paced(its_turns)
        mine[name] = {"s_per_iteration": wall, "cpu_s_per_iteration": cpu,
                      "iterations": sum(map(len, its_turns)),
                      "measured": time.strftime("%Y-%m-%d %H:%M"), "machine": machine_line()}
    write_json(work.path("speed.json"), {**speeds, cpu_model(): mine})


def main(argv=None):
    """Train, keep, score and time what is missing in --work; print the tables."""
    args = _parse(argv)
    work = Work(args.work)
    contenders = contenders_of(args)
    if not args.table:
        work.check_setup(args)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the child, then exit
        print(machine_line(), flush=True)
        dataset = work.split(args)
        curves = [Curve(work, args, dataset, contender, seed) for contender in contenders
                  for seed in range(1, args.seeds + 1)]
        for curve in curves:
            curve.train()
            curve.score()
        if not args.no_speed:
            measure_speed(work, args, dataset, contenders)
    print_tables(work, args.minutes)


if __name__ == "__main__":
    main()
