"""Shared fixtures: real pictures from ../shared, a tiny trained run, running main.py."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
FACES = SHARED / "data" / "anime_faces"
MNIST_DIR = SHARED / "data" / "mnist"
MAIN = REPO / "main.py"

# Small enough for a 2-core CI machine, big enough to be the real architecture.
TINY_FLAGS = ["--output_size", "16", "--image_size", "96", "--batch_size", "8", "--gf_dim", "8",
              "--df_dim", "8", "--z_dim", "16", "--num_samples", "12"]


def need_shared(path):
    """Skip the calling test, saying why, when ../shared (or a file in it) is absent."""
    if not path.exists():
        pytest.skip(f"{path} is absent: the shared real-data folder beside the checkout "
                    "is needed for this test")
    return path


def face_files(count, start=0):
    """Paths of `count` real 96x96 anime faces from ../shared (skips if absent)."""
    need_shared(FACES)
    names = sorted(os.listdir(FACES), key=lambda n: int(n.split(".")[0]))
    return [FACES / n for n in names[start:start + count]]


def copy_faces(folder, count, start=0):
    """Copy `count` real faces into `folder` (made if needed); returns the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for path in face_files(count, start):
        shutil.copy(path, folder / path.name)
    return folder


def run_main(args, cwd, timeout=300, **kwargs):
    """Run `python main.py ARGS` in `cwd`; returns the CompletedProcess (text output)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, str(MAIN), *args], cwd=cwd, env=env, text=True,
                          capture_output=True, timeout=timeout, **kwargs)


@pytest.fixture(scope="session")
def anime_workdir(tmp_path_factory):
    """A working folder with data/anime holding 64 real faces."""
    work = tmp_path_factory.mktemp("work")
    copy_faces(work / "data" / "anime", 64)
    return work


@pytest.fixture(scope="session")
def trained_run(anime_workdir):
    """A tiny anime run trained for 32 steps in `anime_workdir` (96 -> 16 px).

    32 steps is about where the sampler's batch-norm moving averages have caught up and its
    pictures stop being flat grey.

    Returns (workdir, RunSettings). Tests that only read the checkpoint share it.
    """
    result = run_main(["--dataset", "anime", "--train", "--epoch", "4", "--sample_freq", "16",
                       "--ckpt_freq", "16", "--seed", "1", *TINY_FLAGS], anime_workdir)
    assert result.returncode == 0, result.stderr
    from dcgan import settings

    run = settings.load(anime_workdir / "checkpoints" / "anime_8_16_16")
    return anime_workdir, run.replace(
        checkpoint_dir=str(anime_workdir / "checkpoints"),
        sample_dir=str(anime_workdir / "samples"),
        tensorboard_dir=str(anime_workdir / "logs"),
        data_dir=str(anime_workdir / "data"))
