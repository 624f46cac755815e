"""Shared helpers of the benchmarks: interleaved timing, medians, a plain-text table, load.

The machine these run on is shared and noisy, so every benchmark runs its contenders in turns
(A B A B ...) and reports medians, and ratios taken from the same run.
"""

import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
FACES = SHARED / "data" / "anime_faces"

if str(REPO) not in sys.path:  # run as `python bench/x.py` from the checkout
    sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def interleave(contenders, rounds, calls_per_round=1):
    """Time each contender `calls_per_round` times per round, in turns, for `rounds` rounds.

    `contenders` maps a name to a callable (one unit of work). Returns {name: [seconds, ...]}.
    """
    times = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, work in contenders.items():
            for _ in range(calls_per_round):
                start = time.perf_counter()
                work()
                times[name].append(time.perf_counter() - start)
    return times


def median(values):
    """The median of a non-empty list."""
    return statistics.median(values)


def print_table(header, rows):
    """Print rows (lists of cells) under `header` as an aligned plain-text/markdown table."""
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]

    def line(row):
        return "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"

    print(line(cells[0]))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in cells[1:]:
        print(line(row))
    sys.stdout.flush()


def machine_line():
    """One line naming the CPU, the cores and the load average (the machine is shared)."""
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as handle:
            for text in handle:
                if text.startswith("model name"):
                    model = text.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{model}, {os.cpu_count()} cores, load average {load}"


def need_faces():
    """The shared faces folder, or exit with a one-line reason when it is absent."""
    if not FACES.is_dir():
        sys.exit(f"{FACES} is absent: the shared real-data folder beside the checkout is needed")
    return FACES


def face_names():
    """The shared faces' file names, in the order of their numbers."""
    return sorted(os.listdir(need_faces()), key=lambda n: int(n.split(".")[0]))


def link_faces(folder, names):
    """Link the shared faces `names` into `folder` (made if needed); returns the folder."""
    os.makedirs(folder, exist_ok=True)
    for name in names:
        os.symlink(FACES / name, os.path.join(folder, name))
    return folder


def scratch_faces(scratch, count, size):
    """Link `count` shared faces into `<scratch>/data/faces` and build their uint8 cache at
    `size` px; returns the TrainingData."""
    from dcgan.data import ImageSpec, load_folder

    folder = link_faces(os.path.join(scratch, "data", "faces"), face_names()[:count])
    return load_folder(folder, ImageSpec(size, size, 3), progress=False)


def project_trainer(scratch, precision, batch_size, size, intra=0, inter=0):
    """The project's real Trainer on the scratch faces, and an initialised session for it."""
    from dcgan import outputs
    from dcgan.network import ModelConfig
    from dcgan.settings import RunSettings
    from dcgan.train import Trainer

    settings = RunSettings.create(
        dataset="faces", model=ModelConfig(output_height=size, output_width=size),
        data_dir=os.path.join(scratch, "data"),
        checkpoint_dir=os.path.join(scratch, f"checkpoints_{precision}"),
        sample_dir=os.path.join(scratch, "samples"), tensorboard_dir=os.path.join(scratch, "logs"),
        batch_size=batch_size, precision=precision, seed=1, intra_op_threads=intra,
        inter_op_threads=inter)
    outputs.make_output_folders(settings)  # as the command line does before training
    trainer = Trainer(settings, progress=False)
    session, _ = trainer.open_session()
    return trainer, session
