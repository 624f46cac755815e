"""Reliability on real pictures: bad files, killed runs, divergence, full disks, locked folders.

Each test runs the real main.py (or the real checkpoint code) on real photos (conftest); the
failures are produced for real: SIGKILL, an RLIMIT_FSIZE cap, a learning rate that overflows.
"""

import glob
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from conftest import MAIN, TINY_FLAGS, copy_photos, make_bad_files, run_main

from dcgan import checkpoints
from dcgan.errors import TrainingError, UsageError

tf1 = tf.compat.v1
RUN = "anime_8_16_16"  # run folder of TINY_FLAGS on the anime dataset
TRAIN = ["--dataset", "anime", "--train", "--sample_freq", "100000", *TINY_FLAGS]


def newest_step(folder):
    """Step of the newest complete checkpoint in `folder` (0 when there is none)."""
    path = checkpoints.latest(str(folder))
    return checkpoints.step_of(path) if path else 0


def assert_every_checkpoint_readable(folder):
    """Every checkpoint on disk opens and every tensor in it reads; none is half-written."""
    for index in glob.glob(os.path.join(folder, "*.index")):
        reader = tf1.train.load_checkpoint(index[:-len(".index")])
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)
    for prefix in checkpoints.listed(str(folder)):
        assert os.path.exists(prefix + ".index"), prefix


def leftovers(folder):
    """Temporary files of unfinished saves in `folder`."""
    return [path for pattern in checkpoints.TEMPORARY_PATTERNS
            for path in glob.glob(os.path.join(folder, pattern))]


@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    """A workdir with 16 pictures and a run checkpointed at steps 1 and 2 (copied per test)."""
    work = tmp_path_factory.mktemp("short")
    copy_photos(work / "data" / "anime", 16)
    result = run_main([*TRAIN, "--epoch", "1", "--ckpt_freq", "1"], work)
    assert result.returncode == 0, result.stderr
    return work


def copy_of(short_run, tmp_path):
    """A private copy of the short run's workdir (tests change it)."""
    work = tmp_path / "work"
    shutil.copytree(short_run, work, symlinks=True)
    return work


def error_lines(stderr):
    """The `error:` lines of a run's stderr."""
    return [line for line in stderr.splitlines() if line.startswith("error: ")]


# -- bad files ------------------------------------------------------------------------------------

def permissions_apply():
    """A command prefix under which file permissions bind (root's bypass capabilities dropped).

    Root reads a chmod-000 file anyway; util-linux `setpriv` drops CAP_DAC_OVERRIDE and
    CAP_DAC_READ_SEARCH so the run meets the file the way a normal user does.
    """
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without util-linux setpriv: root would read the "
                    "unreadable file")
    return [setpriv, "--bounding-set", "-dac_override,-dac_read_search"]


def test_training_on_a_folder_full_of_bad_files_skips_each_once_and_uses_every_good_one(
        tmp_path):
    folder = copy_photos(tmp_path / "data" / "anime", 23)
    skipped, converted = make_bad_files(folder, crop=96, locked=True)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    result = subprocess.run([*permissions_apply(), sys.executable, str(MAIN), *TRAIN,
                             "--epoch", "1"], cwd=tmp_path, env=env, text=True,
                            capture_output=True, timeout=300)
    assert result.returncode == 0, result.stderr
    reports = [line for line in result.stderr.splitlines() if "skipped" in line]
    assert len(reports) == 1, result.stderr  # once, not once per file or per epoch
    total, usable = sum(skipped.values()), 23 + converted
    assert f"skipped {total} of {total + usable} files" in reports[0]
    for kind, count in skipped.items():
        assert f"{count} {kind}" in reports[0]
    assert f"training on {usable} images (4 steps an epoch)" in result.stderr
    assert newest_step(tmp_path / "checkpoints" / RUN) == usable // 8


# -- killed runs ----------------------------------------------------------------------------------

def _wait_for(condition, process, timeout=180):
    deadline = time.time() + timeout
    while not condition():
        assert process.poll() is None, "training exited before it was killed"
        assert time.time() < deadline, "training made no progress"
        time.sleep(0.05)


def _wait_for_a_save_in_progress(folder, process, timeout=10):
    """Return as soon as a checkpoint's temporary file exists (a save is under way)."""
    deadline = time.time() + timeout
    while time.time() < deadline and process.poll() is None:
        if leftovers(folder):
            return


def test_sigkill_at_random_moments_never_loses_or_corrupts_a_checkpoint(tmp_path):
    copy_photos(tmp_path / "data" / "anime", 16)
    folder = tmp_path / "checkpoints" / RUN
    args = [sys.executable, str(MAIN), *TRAIN, "--epoch", "100000", "--ckpt_freq", "1",
            "--max_to_keep", "3"]
    rng = random.Random(20161)
    newest = 0
    killed_mid_save = 0
    for attempt in range(10):
        log_path = tmp_path / f"attempt{attempt}.log"
        with open(log_path, "w") as log:
            process = subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.DEVNULL,
                                       stderr=log)
        try:
            if attempt == 0:
                time.sleep(rng.uniform(0.5, 4.0))  # anywhere in start-up or the first steps
            else:
                _wait_for(lambda since=newest: newest_step(folder) > since, process)
                time.sleep(rng.uniform(0.0, 0.3))
                if attempt % 2:
                    _wait_for_a_save_in_progress(folder, process)
            process.send_signal(signal.SIGKILL)
        finally:
            process.wait()
        killed_mid_save += bool(leftovers(folder))
        step = newest_step(folder)
        assert step >= newest, f"attempt {attempt}: the step went back from {newest} to {step}"
        if newest:
            assert f"from step {newest}" in log_path.read_text()  # resumed from the newest
        assert_every_checkpoint_readable(folder)
        newest = step
    print(f"10 kills, {killed_mid_save} in the middle of a save, newest step {newest}")
    assert newest > 0
    # The model trains on to the end from where the last kill left it.
    epochs = newest // 2 + 2  # 16 pictures / batch 8 = 2 steps an epoch
    final = run_main([*TRAIN, "--epoch", str(epochs), "--ckpt_freq", "1", "--max_to_keep", "3"],
                     tmp_path)
    assert final.returncode == 0, final.stderr
    assert f"from step {newest}" in final.stderr
    assert newest_step(folder) == 2 * epochs
    assert not leftovers(folder)
    assert len(glob.glob(str(folder / "*.index"))) == 3  # max_to_keep held across restarts
    assert_every_checkpoint_readable(folder)


# -- divergence -----------------------------------------------------------------------------------

def checkpoint_files(folder):
    """Name -> bytes of the checkpoints and their index (run.json records the new flags)."""
    return {path.name: path.read_bytes() for path in folder.iterdir()
            if path.name.startswith(checkpoints.CHECKPOINT_PREFIX) or path.name == "checkpoint"}


def test_a_nan_loss_stops_training_and_keeps_the_last_good_checkpoint(short_run, tmp_path):
    work = copy_of(short_run, tmp_path)
    folder = work / "checkpoints" / RUN
    before = checkpoint_files(folder)
    # Adam moves every weight by about the learning rate on the first update: at 1e30 the next
    # layer's products pass float32's 3.4e38, so the losses become inf/NaN on real faces.
    result = run_main([*TRAIN, "--epoch", "5", "--ckpt_freq", "1", "--learning_rate", "1e30"],
                      work)
    assert result.returncode == 1, result.stderr
    [line] = error_lines(result.stderr)
    assert "training diverged" in line and "the checkpoint of step 2" in line
    assert "Traceback" not in result.stderr
    assert checkpoint_files(folder) == before  # nothing written over the good state
    # The kept checkpoint is finite (the kill and fallback tests show a kept one resumes).
    reader = tf1.train.load_checkpoint(checkpoints.latest(str(folder)))
    assert all(np.isfinite(reader.get_tensor(name)).all()
               for name in reader.get_variable_to_shape_map())


def test_weights_that_are_not_finite_are_never_saved(tmp_path):
    with tf.Graph().as_default():
        weights = tf1.get_variable("w", initializer=np.ones((3, 3), np.float32))
        poison = weights.assign(weights * np.float32(np.nan))
        keeper = checkpoints.Checkpointer(str(tmp_path), max_to_keep=2)
        with tf1.Session() as session:
            session.run(keeper.initializer)
            keeper.save(session, 1)
            session.run(poison)
            with pytest.raises(TrainingError, match=r"not finite.*checkpoint of step 1"):
                keeper.save(session, 2)
    assert checkpoints.step_of(checkpoints.latest(str(tmp_path))) == 1
    assert not glob.glob(str(tmp_path / "*-2.*"))


# -- full disk ------------------------------------------------------------------------------------

def _file_size_limit(limit):
    def apply():
        # Without ignoring SIGXFSZ the kernel kills the process; ignored, writes fail with EFBIG
        # the way they fail with ENOSPC on a full disk.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_disk_full_while_saving_is_one_line_and_the_previous_checkpoint_survives(short_run,
                                                                                tmp_path):
    work = copy_of(short_run, tmp_path)
    folder = work / "checkpoints" / RUN
    data_file = glob.glob(str(folder / "*-2.data-*"))[0]
    limit = os.path.getsize(data_file) // 2  # the small files fit, a checkpoint does not
    result = run_main([*TRAIN, "--epoch", "2", "--ckpt_freq", "1"], work,
                      preexec_fn=_file_size_limit(limit))
    assert result.returncode == 1, result.stderr
    [line] = error_lines(result.stderr)
    assert "cannot write the checkpoint of step 3" in line
    assert "the checkpoint of step 2" in line and "is intact" in line
    assert "Traceback" not in result.stderr
    assert newest_step(folder) == 2 and not leftovers(folder)
    assert not glob.glob(str(folder / "*-3.*"))
    assert_every_checkpoint_readable(folder)  # every tensor of steps 1 and 2 still reads


# -- checkpoint folder ----------------------------------------------------------------------------

def test_a_second_trainer_on_the_same_run_is_refused(tmp_path):
    with checkpoints.RunLock(str(tmp_path)), \
            pytest.raises(UsageError, match="another training process"), \
            checkpoints.RunLock(str(tmp_path)):
        pass
    with checkpoints.RunLock(str(tmp_path)):  # released on exit
        pass


def test_a_newer_unreadable_checkpoint_falls_back_to_the_older_one(short_run, tmp_path):
    work = copy_of(short_run, tmp_path)
    folder = work / "checkpoints" / RUN
    data_file = Path(glob.glob(str(folder / "*-2.data-*"))[0])
    data_file.write_bytes(data_file.read_bytes()[:1000])  # e.g. a disk error after the save
    result = run_main([*TRAIN, "--epoch", "2", "--ckpt_freq", "1"], work)
    assert result.returncode == 0, result.stderr
    assert "cannot read checkpoint" in result.stderr and "from step 1" in result.stderr
    assert newest_step(folder) == 4


def test_sampling_from_a_run_whose_newest_checkpoint_is_unreadable_uses_the_older_one(
        short_run, tmp_path):
    work = copy_of(short_run, tmp_path)
    folder = work / "checkpoints" / RUN
    data_file = Path(glob.glob(str(folder / "*-2.data-*"))[0])
    data_file.write_bytes(data_file.read_bytes()[:1000])
    result = run_main(["--dataset", "anime", "--visualize", "--num_samples", "4"], work)
    assert result.returncode == 0, result.stderr
    assert "cannot read checkpoint" in result.stderr
    picture = work / result.stdout.strip().splitlines()[-1]
    assert picture.is_file() and "_00001_" in picture.name, picture  # step 1's weights drew it
    data_file.unlink()  # only the older checkpoint is complete now: no warning needed
    for path in glob.glob(str(folder / "*-1.data-*")):
        Path(path).write_bytes(b"")  # and now it is unreadable too: one line, status 1
    result = run_main(["--dataset", "anime", "--visualize", "--num_samples", "4"], work)
    assert result.returncode == 1, result.stderr
    assert error_lines(result.stderr) and "can be read" in error_lines(result.stderr)[0]

