"""Shared fixtures: a folder of real pictures and a tiny trained run; TensorFlow in graph mode.

The helpers the tests import live in tests/helpers.py.
"""

import pytest
import tensorflow  # noqa: F401  (with Keras, as a library user's process has it)
from helpers import TINY_FLAGS, copy_photos, main_in_process

from dcgan import runtime

runtime.start()  # graph mode, as every command-line mode runs


@pytest.fixture(scope="session")
def anime_workdir(tmp_path_factory):
    """A working folder with data/anime holding 64 real pictures (package photos)."""
    work = tmp_path_factory.mktemp("work")
    copy_photos(work / "data" / "anime", 64)
    return work


@pytest.fixture(scope="session")
def trained_run(anime_workdir):
    """A tiny anime run trained for 32 steps in `anime_workdir` (96 -> 16 px).

    32 steps is about where the sampler's batch-norm moving averages have caught up and its
    pictures stop being flat grey.

    Returns (workdir, RunSettings). Tests that only read the checkpoint share it. Trained
    in-process: the files are what the tests read.
    """
    result = main_in_process(["--dataset", "anime", "--train", "--epoch", "4", "--sample_freq",
                              "16", "--ckpt_freq", "16", "--seed", "1", *TINY_FLAGS],
                             anime_workdir)
    assert result.returncode == 0, result.stderr
    from dcgan import settings

    run = settings.load(anime_workdir / "checkpoints" / "anime_8_16_16")
    # run.json records the precision the run trained in; a sampling mode takes --precision
    # from its own command line (default auto), as the tests here do.
    return anime_workdir, run.replace(
        precision=settings.RunSettings.precision,
        checkpoint_dir=str(anime_workdir / "checkpoints"),
        sample_dir=str(anime_workdir / "samples"),
        tensorboard_dir=str(anime_workdir / "logs"),
        data_dir=str(anime_workdir / "data"))
