"""Reliability on real pictures: bad files, killed runs, divergence, full disks, locked folders.

Each test runs the real main.py (or the real checkpoint code) on real photos (conftest); the
failures are produced for real: SIGKILL, an RLIMIT_FSIZE cap, a learning rate that overflows.
"""

import glob
import json
import logging
import os
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
from helpers import (
    MAIN,
    TINY_FLAGS,
    copy_photos,
    main_in_process,
    make_bad_files,
    permissions_apply,
    run_main,
    wait_until_stopped,
)

from dcgan import checkpoint_files, checkpoints, data
from dcgan.errors import TrainingError, UsageError
from dcgan.words import counted

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
    return checkpoint_files.temporary_files(str(folder))


@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    """A workdir with 16 pictures and a run checkpointed at steps 1 and 2 (copied per test)."""
    work = tmp_path_factory.mktemp("short")
    copy_photos(work / "data" / "anime", 16)
    result = main_in_process([*TRAIN, "--epoch", "1", "--ckpt_freq", "1"], work)
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
        assert counted(count, data.one_of(kind), kind) in reports[0]
    assert f"training on {usable} images (4 steps an epoch)" in result.stderr
    assert newest_step(tmp_path / "checkpoints" / RUN) == usable // 8


# -- killed runs ----------------------------------------------------------------------------------

def _wait_for(condition, process, timeout=180):
    deadline = time.time() + timeout
    while not condition():
        assert process.poll() is None, "training exited before it was killed"
        assert time.time() < deadline, "training made no progress"
        time.sleep(0.05)


def _kill_at(pause_point, work, log_path, extra=()):
    """Train in `work` until the checkpoint code's `pause_point` stops the process
    (checkpoints.PAUSE_ENV), then SIGKILL it there; the run's stderr goes to `log_path`."""
    assert pause_point in checkpoints.PAUSE_POINTS
    env = dict(os.environ, **{checkpoints.PAUSE_ENV: pause_point})
    with open(log_path, "w") as log:
        process = subprocess.Popen([sys.executable, str(MAIN), *TRAIN, "--epoch", "100000",
                                    *extra], cwd=work, env=env, stdout=subprocess.DEVNULL,
                                   stderr=log)
    try:
        wait_until_stopped(process)
    except AssertionError as failure:
        raise AssertionError(f"training never reached {pause_point}: {failure}\n"
                             + log_path.read_text()) from None
    finally:
        process.kill()  # SIGKILL acts on a stopped process too
        process.wait()


# Where each kill lands: the pause point, whether the killed launch resumes the short run
# (steps 1 and 2 on disk) or starts a new one, and the newest complete step the kill leaves
# (16 pictures, batch 8, a checkpoint every step, one kept).
KILLS = {
    "save": (False, 0),   # before a new run's first save: it has trained a step, nothing is on disk
    "saved": (True, 3),   # just after a save: step 3 written, synced and the folder pruned
    "synced": (True, 3),  # in the middle of a save: step 3 on disk and synced, 1-2 not yet pruned
}
KEEP_ONE = ["--ckpt_freq", "1", "--max_to_keep", "1"]


@pytest.mark.parametrize("pause_point", list(KILLS))
def test_sigkill_before_during_and_after_a_save_never_loses_or_corrupts_a_checkpoint(
        pause_point, short_run, tmp_path):
    """Kills the trainer at one of the checkpoint code's pause points (not after a random
    sleep), each point once; each kill is its own launch, so each is its own test. The moment
    inside TensorFlow's own write, between its `.tempstate` files and their rename, has no
    Python point to pause at: test_a_restart_clears_what_a_kill_inside_tensorflows_write_leaves
    makes what a kill there leaves."""
    resumes, expected = KILLS[pause_point]
    if resumes:
        work = copy_of(short_run, tmp_path)
    else:
        work = tmp_path / "work"
        copy_photos(work / "data" / "anime", 16)
    folder = work / "checkpoints" / RUN
    log_path = tmp_path / "killed.log"
    _kill_at(pause_point, work, log_path, KEEP_ONE)
    assert ("from step 2" in log_path.read_text()) == resumes  # resumed from the newest
    assert newest_step(folder) == expected, f"killed at {pause_point}"
    assert_every_checkpoint_readable(folder)
    # Killed mid-save, the older checkpoints are still there (pruning comes after the sync).
    kept = {"save": [], "saved": [3], "synced": [3, 2, 1]}[pause_point]
    assert steps_kept(folder) == kept
    # The model trains on to the end from where the kill left it (in-process: the files are
    # the subject here).
    epochs = expected // 2 + 2  # 16 pictures / batch 8 = 2 steps an epoch
    final = main_in_process([*TRAIN, "--epoch", str(epochs), *KEEP_ONE], work)
    assert final.returncode == 0, final.stderr
    assert (f"from step {expected}" in final.stderr) == bool(expected)
    assert newest_step(folder) == 2 * epochs
    assert not leftovers(folder)
    assert len(glob.glob(str(folder / "*.index"))) == 1  # max_to_keep held across restarts
    assert_every_checkpoint_readable(folder)


def test_a_restart_clears_what_a_kill_inside_tensorflows_write_leaves(short_run, tmp_path):
    """What a kill between TensorFlow's write of a file and its rename leaves (a `.tempstate`
    file; a step with its index but no data shard), made from the run's own checkpoint bytes:
    the kill test above cannot stop the trainer inside TensorFlow's C++ write."""
    work = copy_of(short_run, tmp_path)
    folder = work / "checkpoints" / RUN
    [data_file] = folder.glob("DCGAN.model-2.data-*")
    (folder / "DCGAN.model-3.data-00000-of-00001.tempstate8765").write_bytes(
        data_file.read_bytes()[:1000])
    (folder / "DCGAN.model-3.index").write_bytes((folder / "DCGAN.model-2.index").read_bytes())
    assert newest_step(folder) == 2 and leftovers(folder)  # step 3 is not complete
    result = main_in_process([*TRAIN, "--epoch", "2", "--ckpt_freq", "1"], work)
    assert result.returncode == 0, result.stderr
    assert "from step 2" in result.stderr
    assert newest_step(folder) == 4 and not leftovers(folder)
    assert_every_checkpoint_readable(folder)  # step 3 is the one trained anew


# -- divergence -----------------------------------------------------------------------------------

def checkpoint_bytes(folder):
    """Name -> bytes of the checkpoints and their index (run.json records the new flags)."""
    return {path.name: path.read_bytes() for path in folder.iterdir()
            if path.name.startswith(checkpoints.CHECKPOINT_PREFIX) or path.name == "checkpoint"}


def test_a_nan_loss_stops_training_and_keeps_the_last_good_checkpoint(short_run, tmp_path):
    """In-process: the line, the status and the files are the subject. That a TrainingError
    ends main.py with status 1, one line and no traceback is shown through main.py by
    test_disk_full_while_saving_is_one_line_and_the_previous_checkpoint_survives."""
    work = copy_of(short_run, tmp_path)
    folder = work / "checkpoints" / RUN
    before = checkpoint_bytes(folder)
    # Adam moves every weight by about the learning rate on the first update: at 1e30 the next
    # layer's products pass float32's 3.4e38, so the losses become inf/NaN on real faces.
    result = main_in_process([*TRAIN, "--epoch", "5", "--ckpt_freq", "1", "--learning_rate",
                              "1e30"], work)
    assert result.returncode == 1, result.stderr
    [line] = error_lines(result.stderr)
    assert "training diverged" in line and "the checkpoint of step 2" in line
    assert "Traceback" not in result.stderr
    assert checkpoint_bytes(folder) == before  # nothing written over the good state
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


def test_stops_off_the_schedule_never_push_scheduled_checkpoints_out(tmp_path):
    """Ctrl-C (or --minutes) saves off the --ckpt_freq schedule: after many stops the newest
    `max_to_keep` scheduled checkpoints are all still there, beside the newest `max_to_keep`."""
    with tf.Graph().as_default():
        tf1.get_variable("w", initializer=np.ones((2,), np.float32))
        keeper = checkpoints.Checkpointer(str(tmp_path), max_to_keep=2, every=10)
        with tf1.Session() as session:
            session.run(keeper.initializer)
            for step in (10, 13, 17, 20, 21, 23, 25):  # 13, 17, 21... are stops between saves
                keeper.save(session, step)
            assert steps_kept(tmp_path) == [25, 23, 20, 10]
            keeper.save(session, 30)
            assert steps_kept(tmp_path) == [30, 25, 20]
    unscheduled = checkpoints.pruned(["c-9", "c-8", "c-7", "c-6"], max_to_keep=2)
    assert unscheduled == ["c-7", "c-6"]  # without a schedule: the newest two, as before


def steps_kept(folder):
    """The steps of the complete checkpoints in `folder`, newest first."""
    return [checkpoints.step_of(path) for path in checkpoints.listed(str(folder))]


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


def test_disk_full_while_writing_a_sample_grid_says_so_in_one_line(short_run, tmp_path):
    work = copy_of(short_run, tmp_path)
    samples = work / "samples" / RUN
    # --visualize writes nothing but the grid, so a 1-byte file size limit fails just that.
    sampled = run_main(["--dataset", "anime", "--visualize", "--num_samples", "4", "--seed", "3"],
                       work, preexec_fn=_file_size_limit(1))
    assert sampled.returncode == 1, sampled.stderr
    assert "Traceback" not in sampled.stderr and "Exception ignored" not in sampled.stderr
    [line] = error_lines(sampled.stderr)
    assert "File too large" in line and line.split(": ")[2].endswith("grid_00002_seed3.png")
    assert "checkpoint" not in line  # sampling writes none, so it claims nothing about one
    assert not list(samples.glob("grid_*"))  # no half-written grid, no temporary file


def test_a_sample_grid_that_cannot_be_written_stops_training_naming_the_intact_checkpoint(
        short_run, tmp_path):
    """In-process, as the NaN test above (main.py's status 1 for a TrainingError: the disk-full
    test)."""
    work = copy_of(short_run, tmp_path)
    (work / "samples" / RUN / "train_02_00003.png").mkdir()  # in the way of step 3's grid
    trained = main_in_process([*TRAIN, "--epoch", "3", "--sample_freq", "1"], work)
    assert trained.returncode == 1, trained.stderr
    assert "Traceback" not in trained.stderr
    [line] = error_lines(trained.stderr)
    assert line.startswith("error: training stopped: Is a directory: ")
    assert "train_02_00003.png;" in line and "the checkpoint of step 2" in line
    assert "is intact" in line


# -- checkpoint folder ----------------------------------------------------------------------------

def test_a_second_trainer_on_the_same_run_is_refused(tmp_path):
    with checkpoints.RunLock(str(tmp_path)), \
            pytest.raises(UsageError, match="another training process"), \
            checkpoints.RunLock(str(tmp_path)):
        pass
    with checkpoints.RunLock(str(tmp_path)):  # released on exit
        pass


def test_the_run_lock_never_opens_a_planted_link(tmp_path):
    run, outside = tmp_path / "run", tmp_path / "outside.txt"
    run.mkdir()
    (run / checkpoints.LOCK_FILE).symlink_to(outside)
    with checkpoints.RunLock(str(run)):
        assert not (run / checkpoints.LOCK_FILE).is_symlink()
    assert not outside.exists()


def test_a_newer_unreadable_checkpoint_falls_back_to_the_older_one(short_run, tmp_path):
    work = copy_of(short_run, tmp_path)
    folder = work / "checkpoints" / RUN
    data_file = Path(glob.glob(str(folder / "*-2.data-*"))[0])
    data_file.write_bytes(data_file.read_bytes()[:1000])  # e.g. a disk error after the save
    result = main_in_process([*TRAIN, "--epoch", "2", "--ckpt_freq", "1"], work)
    assert result.returncode == 0, result.stderr
    assert "cannot use checkpoint" in result.stderr and "from step 1" in result.stderr
    assert newest_step(folder) == 4


def test_sampling_from_a_run_whose_newest_checkpoint_is_unreadable_uses_the_older_one(
        short_run, tmp_path):
    """The fallback in-process (its picture and warning are the subject); the refusal when no
    checkpoint is readable through main.py (its status 1, one line, no traceback)."""
    work = copy_of(short_run, tmp_path)
    folder = work / "checkpoints" / RUN
    data_file = Path(glob.glob(str(folder / "*-2.data-*"))[0])
    data_file.write_bytes(data_file.read_bytes()[:1000])
    result = main_in_process(["--dataset", "anime", "--visualize", "--num_samples", "4"], work)
    assert result.returncode == 0, result.stderr
    assert "cannot use checkpoint" in result.stderr
    assert "Graph execution error" not in result.stderr  # the reason, not TensorFlow's preamble
    picture = work / result.stdout.strip().splitlines()[-1]
    assert picture.is_file() and "_00001_" in picture.name, picture  # step 1's weights drew it
    data_file.unlink()  # only the older checkpoint is complete now: no warning needed
    for path in glob.glob(str(folder / "*-1.data-*")):
        Path(path).write_bytes(b"")  # and now it is unreadable too: one line, status 1
    result = run_main(["--dataset", "anime", "--visualize", "--num_samples", "4"], work)
    assert result.returncode == 1, result.stderr
    assert error_lines(result.stderr) and "can be used" in error_lines(result.stderr)[0]



# -- damaged run state ----------------------------------------------------------------------------
# What an OS crash, a full disk or a careless hand leaves in a run folder. The checkpoint files
# are the truth: a damaged run.json or `checkpoint` index never hides a readable checkpoint, and
# nothing readable, nor anything that is not ours, is ever deleted.

RUN_JSON_DAMAGE = {
    "truncated": lambda text: text[:len(text) // 2],
    "empty": lambda text: "",
    "key-less": lambda text: "{}",
    "not an object": lambda text: "[1, 2]",
    "wrong type": lambda text: text.replace('"z_dim": 16', '"z_dim": "sixteen"'),
    "not UTF-8": lambda text: "\udcff",
}


def damage_run_json(folder, kind):
    """Replace folder/run.json by a damaged version of itself."""
    path = Path(folder) / "run.json"
    text = RUN_JSON_DAMAGE[kind](path.read_text())
    path.write_bytes(text.encode("utf-8", "surrogateescape"))


def a_second_run(work, name="anime_4_16_16"):
    """A copy of the short run under another run name, saved later than the original."""
    original = work / "checkpoints" / RUN
    copy = work / "checkpoints" / name
    shutil.copytree(original, copy)
    later = time.time() + 60
    for index in copy.glob("*.index"):
        os.utime(index, (later, later))
    return copy


@pytest.mark.parametrize("kind", sorted(RUN_JSON_DAMAGE))
def test_a_damaged_run_json_is_named_and_never_hides_a_healthy_run(short_run, tmp_path, kind):
    from dcgan import runs, settings

    work = copy_of(short_run, tmp_path)
    broken = a_second_run(work)
    damage_run_json(broken, kind)
    with pytest.raises(settings.DamagedRun, match=r"run\.json is damaged \(.+\): train the run"):
        settings.load(broken)
    for dataset in (None, "anime"):  # the newest run is the broken one; the healthy one is used
        assert runs.newest_run(str(work / "checkpoints"), dataset).run_name == RUN
    shutil.rmtree(work / "checkpoints" / RUN)  # only the broken run is left: it is named
    with pytest.raises(settings.DamagedRun, match="anime_4_16_16"):
        runs.newest_run(str(work / "checkpoints"), "anime")


def test_damaged_run_json_in_every_mode(short_run, tmp_path):
    work = copy_of(short_run, tmp_path)
    folder = work / "checkpoints" / RUN
    damage_run_json(a_second_run(work), "truncated")
    sampled = main_in_process(["--visualize", "--num_samples", "4"], work)
    assert sampled.returncode == 0, sampled.stderr
    assert "skipping" in sampled.stderr and "is damaged" in sampled.stderr
    assert "_00002_" in sampled.stdout  # the healthy run's newest checkpoint drew it
    evaluated = main_in_process(["--dataset", "anime", "--evaluate", "--eval_num", "8",
                                 "--ndb_k", "4"], work)
    assert evaluated.returncode == 0, evaluated.stderr
    picked = main_in_process(["--dataset", "anime", "--visualize", "--batch_size", "4",
                              "--output_size", "16"], work)
    assert picked.returncode == 2 and "Traceback" not in picked.stderr, picked.stderr
    [line] = error_lines(picked.stderr)
    assert "anime_4_16_16/run.json is damaged" in line
    # Training the healthy run with its run.json emptied: a warning, a resume, run.json anew.
    damage_run_json(folder, "empty")
    trained = main_in_process([*TRAIN, "--epoch", "2", "--ckpt_freq", "1"], work)
    assert trained.returncode == 0, trained.stderr
    assert "is damaged" in trained.stderr and "from step 2" in trained.stderr
    assert json.loads((folder / "run.json").read_text())["model"]["z_dim"] == 16
    # ... and with flags of another network: one line, and nothing is written over.
    damage_run_json(folder, "key-less")
    before = checkpoint_bytes(folder)
    other = main_in_process([*TRAIN, "--epoch", "3", "--z_dim", "8"], work)
    assert other.returncode == 2 and "Traceback" not in other.stderr, other.stderr
    [line] = error_lines(other.stderr)
    assert "hold another network" in line and "pass the flags the run was trained with" in line
    assert checkpoint_bytes(folder) == before


@pytest.mark.parametrize("index", [b"", b"model_checkpoint_path: \"DCGAN.mo", b"\xff\x00garbage"],
                         ids=["empty", "truncated", "garbled"])
def test_a_damaged_checkpoint_index_is_ignored_the_files_are_the_truth(short_run, tmp_path,
                                                                       index):
    work = copy_of(short_run, tmp_path)
    folder = work / "checkpoints" / RUN
    (folder / "checkpoint").write_bytes(index)  # what a crash after an unsynced rename leaves
    sampled = main_in_process(["--dataset", "anime", "--visualize", "--num_samples", "4"], work)
    assert sampled.returncode == 0, sampled.stderr
    assert "_00002_" in sampled.stdout
    trained = main_in_process([*TRAIN, "--epoch", "2", "--ckpt_freq", "1"], work)
    assert trained.returncode == 0, trained.stderr
    assert "from step 2" in trained.stderr and newest_step(folder) == 4


def test_readable_checkpoints_and_files_not_ours_are_never_deleted(short_run, tmp_path):
    work = copy_of(short_run, tmp_path)
    folder = work / "checkpoints" / RUN
    # The index lists only the newest, and that one is unreadable: the older one is the resume.
    (folder / "checkpoint").write_text('model_checkpoint_path: "DCGAN.model-2"\n'
                                       'all_model_checkpoint_paths: "DCGAN.model-2"\n')
    data_file = Path(glob.glob(str(folder / "DCGAN.model-2.data-*"))[0])
    data_file.write_bytes(data_file.read_bytes()[:1000])
    # The user's files, some named much like ours.
    theirs = {"DCGAN.model-4 (copy).index": b"mine", "DCGAN.model-x.index": b"mine",
              "DCGAN.model-1.index.bak": b"mine", "DCGAN.model-9.data-00000-of-00001 2": b"m",
              "notes.tempstate.txt": b"mine", "notes.txt": b"mine"}
    for name, content in theirs.items():
        (folder / name).write_bytes(content)
    step_one = {name: data for name, data in checkpoint_bytes(folder).items() if "-1." in name}
    result = main_in_process([*TRAIN, "--epoch", "2", "--ckpt_freq", "100"], work)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "cannot use checkpoint" in result.stderr and "from step 1" in result.stderr
    for name, content in theirs.items():
        assert (folder / name).read_bytes() == content, name
    for name, content in step_one.items():
        assert (folder / name).read_bytes() == content, name  # kept, and not rewritten
    assert newest_step(folder) == 4


POISON = {"generator/g_h0_lin/Matrix": np.nan, "generator/g_h4/w": np.inf}


def write_poisoned_checkpoint(folder, source_step, step):
    """A real checkpoint of `step` holding the tensors of `source_step`, with a NaN in one of
    the generator's weights and an Inf in another (what a bad disk or a foreign tool leaves)."""
    reader = tf1.train.load_checkpoint(str(folder / f"DCGAN.model-{source_step}"))
    with tf.Graph().as_default():
        variables = {}
        for name in reader.get_variable_to_shape_map():
            value = reader.get_tensor(name)
            if name in POISON:
                value.flat[0] = POISON[name]
            variables[name] = tf1.Variable(value)
        saver = tf1.train.Saver(variables, save_relative_paths=True)
        with tf1.Session() as session:
            session.run(tf1.global_variables_initializer())
            saver.save(session, str(folder / "DCGAN.model"), global_step=step,
                       write_meta_graph=False)


def test_a_checkpoint_with_weights_that_are_not_finite_is_never_used(short_run, tmp_path):
    """In-process (main_in_process): its subject is what each mode reads, says and writes. That
    a refused checkpoint ends the process with status 1, one line and no traceback is shown
    through main.py by test_sampling_from_a_run_whose_newest_checkpoint_is_unreadable_...."""
    work = copy_of(short_run, tmp_path)
    folder = work / "checkpoints" / RUN
    write_poisoned_checkpoint(folder, 2, 3)
    sampled = main_in_process(["--dataset", "anime", "--visualize", "--num_samples", "4"], work)
    assert sampled.returncode == 0, sampled.stderr
    assert "not finite" in sampled.stderr and "_00002_" in sampled.stdout
    evaluated = main_in_process(["--dataset", "anime", "--evaluate", "--eval_num", "8",
                                 "--ndb_k", "4"], work)
    assert evaluated.returncode == 0, evaluated.stderr
    assert "step 2" in evaluated.stdout and "not finite" in evaluated.stderr
    exported = main_in_process(["--dataset", "anime", "--export"], work)
    assert exported.returncode == 0, exported.stderr
    assert json.loads((work / "export" / RUN / "model.json").read_text())["step"] == 2
    trained = main_in_process([*TRAIN, "--epoch", "2", "--ckpt_freq", "1"], work)
    assert trained.returncode == 0, trained.stderr
    assert "not finite" in trained.stderr and "from step 2" in trained.stderr
    assert newest_step(folder) == 4 and not error_lines(trained.stderr)
    reader = tf1.train.load_checkpoint(str(folder / "DCGAN.model-3"))  # trained over, finite
    assert all(np.isfinite(reader.get_tensor(name)).all()
               for name in reader.get_variable_to_shape_map())
    # Nothing but poisoned checkpoints: one line, exit 1, in sampling as in training.
    write_poisoned_checkpoint(folder, 2, 7)
    for path in folder.glob("DCGAN.model-*"):
        if not path.name.startswith("DCGAN.model-7."):
            path.unlink()
    for args in (["--dataset", "anime", "--visualize"], [*TRAIN, "--epoch", "9"]):
        result = main_in_process(args, work)
        assert result.returncode == 1, result.stderr
        [line] = error_lines(result.stderr)
        assert "DCGAN.model-7: its weights are not finite" in line
        assert "move the folder" not in line


SAMPLERS = 10  # samplers opened one after another beside the trainer


def test_a_sampler_beside_a_pruning_trainer_retries_and_never_fails(short_run, tmp_path,
                                                                    caplog):
    from dcgan import settings
    from dcgan.session import TrainedGenerator

    caplog.set_level(logging.INFO, logger="dcgan")
    work = copy_of(short_run, tmp_path)
    folder = work / "checkpoints" / RUN
    run = settings.load(folder).replace(checkpoint_dir=str(work / "checkpoints"))
    # One checkpoint kept, one saved every step: each lives a fraction of a second.
    trainer = subprocess.Popen([sys.executable, str(MAIN), *TRAIN, "--epoch", "100000",
                                "--ckpt_freq", "1", "--max_to_keep", "1"], cwd=work,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    steps = []
    try:
        _wait_for(lambda: newest_step(folder) > 4, trainer)
        for _ in range(SAMPLERS):  # a count, not seconds: the same work on any machine
            with TrainedGenerator(run) as generator:
                steps.append(generator.step)
                assert np.isfinite(generator.generate(generator.sample_z(2, rng_seed=1))).all()
    finally:
        trainer.kill()
        trainer.wait()
    looked_again = caplog.text.count("deleted while it was being read")
    print(f"{len(steps)} samplers beside the trainer, {looked_again} looked again")
    assert steps == sorted(steps) and steps[0] > 4  # each read the newest checkpoint there was
    assert steps[-1] > steps[0]  # the trainer saved and pruned while they read


def test_every_save_is_fsynced_before_older_checkpoints_are_deleted(short_run, tmp_path):
    strace = shutil.which("strace")
    if strace is None:
        pytest.skip("strace is not installed: it shows which files a save fsyncs")
    work = copy_of(short_run, tmp_path)
    trace = tmp_path / "trace.txt"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    # --seccomp-bpf: only the traced calls stop the process (strace would otherwise stop every
    # thread at every system call TensorFlow makes, many times slower).
    result = subprocess.run([strace, "-f", "--seccomp-bpf", "-qq", "-e",
                             "trace=openat,fsync,unlink,unlinkat",
                             "-o", str(trace), sys.executable, str(MAIN), *TRAIN, "--epoch", "2",
                             "--ckpt_freq", "1", "--max_to_keep", "2"], cwd=work, env=env,
                            text=True, capture_output=True, timeout=300)
    assert result.returncode == 0, result.stderr
    events = _fsync_events(trace.read_text())
    for step in (3, 4):
        synced = [i for i, (kind, name) in enumerate(events)
                  if kind == "fsync" and name.startswith(f"DCGAN.model-{step}.")]
        assert {events[i][1] for i in synced} == {f"DCGAN.model-{step}.index",
                                                   f"DCGAN.model-{step}.data-00000-of-00001"}
        folder_synced = [i for i, event in enumerate(events) if event == ("fsync", RUN)
                         and i > max(synced)]
        deleted = [i for i, (kind, name) in enumerate(events)
                   if kind == "unlink" and name.startswith(f"DCGAN.model-{step - 2}.")]
        assert deleted and folder_synced and folder_synced[0] < min(deleted), (step, events)
    assert any(kind == "fsync" and name.startswith("run.json.tmp") for kind, name in events)


def _fsync_events(trace):
    """(fsync | unlink, file name) from an strace log, fds mapped back to the names opened."""
    import re

    names, events = {}, []
    for line in trace.splitlines():
        opened = re.search(r'openat\([^,]+, "([^"]+)".*\)\s+= (\d+)$', line)
        if opened:
            names[(line.split()[0], opened[2])] = os.path.basename(opened[1].rstrip("/")
                                                                   or opened[1])
            continue
        synced = re.search(r"fsync\((\d+)\)\s+= 0", line)
        if synced:
            events.append(("fsync", names.get((line.split()[0], synced[1]), "?")))
        removed = re.search(r'unlink(?:at)?\((?:[^,]+, )?"([^"]+)"', line)
        if removed:
            events.append(("unlink", os.path.basename(removed[1])))
    return events
