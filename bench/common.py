"""The harness every benchmark imports first: the checkout on sys.path, the shared faces,
scratch folders, interleaved timing, medians, a plain-text table, the machine's load.

`python bench/<script>.py` puts bench/ first on sys.path, so `import common` finds this module,
which puts the checkout before any installed copy of dcgan: no script needs PYTHONPATH.
The machine these run on is shared and noisy, so every benchmark runs its contenders in turns
(A B A B ...) and reports medians, and ratios taken from the same run.
"""

import contextlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
FACES = SHARED / "data" / "anime_faces"

if str(REPO) not in sys.path[:1]:  # the checkout's dcgan wins over an installed one
    sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@contextlib.contextmanager
def scratch_folder(name):
    """A fresh temporary folder `dcgan_bench_<name>_*` for one benchmark, deleted afterwards
    (however the benchmark ends)."""
    folder = tempfile.mkdtemp(prefix=f"dcgan_bench_{name}_")
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


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


def cpu_model():
    """The CPU's model name from /proc/cpuinfo, with its bfloat16 units (or "no bf16"): cloud
    machines of very different speed share one name, such as "Intel(R) Xeon(R) Processor"."""
    from dcgan.precision import BF16_CPU_FLAGS, cpu_flags

    name = "unknown CPU"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as handle:
        name = next((text.split(":", 1)[1].strip() for text in handle
                     if text.startswith("model name")), name)
    units = [flag for flag in BF16_CPU_FLAGS if flag in cpu_flags()]
    return f"{name} ({', '.join(units) or 'no bf16'})"


def machine_line():
    """One line naming the CPU, the cores and the load average (the machine is shared)."""
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{cpu_model()}, {os.cpu_count()} cores, load average {load}"


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


def project_trainer(scratch, precision, batch_size, size, intra=0, inter=0, recipe=None):
    """The project's real Trainer on the scratch faces, and an initialised session for it.

    It trains `recipe` with the G kernels that recipe picks; by default carpedm20's (1 D + 2 G
    updates, 5x5 kernels), not the command line's default: the iteration bench/torch_dcgan.py
    reproduces and the engine benches' figures (issue 20) were taken on."""
    from dcgan import outputs, recipes
    from dcgan.network import ModelConfig
    from dcgan.settings import RunSettings
    from dcgan.train import Trainer

    recipe = recipe or recipes.CARPEDM20
    settings = RunSettings.create(
        recipe=recipe, dataset="faces",
        model=ModelConfig(output_height=size, output_width=size,
                          g_kernel=recipes.G_KERNEL[recipe]),
        data_dir=os.path.join(scratch, "data"),
        checkpoint_dir=os.path.join(scratch, f"checkpoints_{precision}"),
        sample_dir=os.path.join(scratch, "samples"), tensorboard_dir=os.path.join(scratch, "logs"),
        batch_size=batch_size, precision=precision, seed=1, intra_op_threads=intra,
        inter_op_threads=inter)
    outputs.make_output_folders(settings)  # as the command line does before training
    trainer = Trainer(settings, progress=False)
    session, _ = trainer.open_session()
    return trainer, session


def flags_trainer(flags):
    """The project's real Trainer of `main.py --train FLAGS` (checked as main.py checks them),
    and an opened session for it (restored or initialised)."""
    from dcgan import cli, outputs, runtime

    runtime.start()  # TensorFlow imported as main.py imports it: without its loading lines
    from dcgan.train import Trainer

    settings = cli.training_settings(flags)
    outputs.make_output_folders(settings)  # as the command line does before training
    trainer = Trainer(settings, progress=False)
    session, _ = trainer.open_session()
    return trainer, session
