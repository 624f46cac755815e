"""Shared fixtures: a folder of real pictures and a tiny trained run; TensorFlow in graph mode.

The helpers the tests import live in tests/helpers.py.
"""

import pytest
import tensorflow  # noqa: F401  (with Keras, as a library user's process has it)
from helpers import TINY_FLAGS, copy_photos, main_in_process, run_main

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
    return anime_workdir, _for_sampling(run, anime_workdir)


def _for_sampling(run, workdir):
    """A trained run's settings as a sampling mode in `workdir` takes them: run.json records
    the precision the run trained in; a sampling mode takes --precision from its own command
    line (default auto), as the tests here do."""
    from dcgan import settings

    return run.replace(
        precision=settings.RunSettings.precision,
        checkpoint_dir=str(workdir / "checkpoints"),
        sample_dir=str(workdir / "samples"),
        tensorboard_dir=str(workdir / "logs"),
        data_dir=str(workdir / "data"))


@pytest.fixture(scope="session")
def lever_run(tmp_path_factory):
    """A tiny anime run with issue 27's levers on: 4x4 kernels in G's deconvolutions and a lazy
    R1 penalty every 2 steps, trained 32 steps (as `trained_run`, for pictures that are not
    flat grey) at the default precision in a folder of its own (so it is no other test's newest
    run), through main.py (TensorFlow's own log lines show).

    Returns (workdir, RunSettings, the training's CompletedProcess).
    """
    workdir = tmp_path_factory.mktemp("levers")
    copy_photos(workdir / "data" / "anime", 64)
    result = run_main(["--dataset", "anime", "--train", "--epoch", "4", "--sample_freq", "16",
                       "--ckpt_freq", "16", "--seed", "1", "--g_kernel", "4", "--r1_gamma", "1",
                       "--r1_every", "2", *TINY_FLAGS], workdir)
    assert result.returncode == 0, result.stderr
    from dcgan import settings

    run = settings.load(workdir / "checkpoints" / "anime_8_16_16")
    return workdir, _for_sampling(run, workdir), result
