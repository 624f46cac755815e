"""Odd values get one line that names the flag (or the file) and the fix, and lose nothing:
checkpoint choices that are not a step or a checkpoint, empty or over-long names, a flagfile
that is not UTF-8, a cache inside the dataset, a run.json written by a newer version."""

import json
import logging
from pathlib import Path

import pytest
from helpers import copy_photos, flag_values, run_main
from test_cli import assert_one_line_exit_2
from test_runs import _saved_run

from dcgan import data, flag_checks, runs, settings
from dcgan.errors import UsageError


@pytest.mark.parametrize("choice", ["-3", "2.5", "1e3", "+7", ""])
def test_a_checkpoint_that_is_no_whole_step_is_refused(choice):
    with pytest.raises(UsageError, match="--checkpoint takes a step number"):
        runs.check_checkpoint_choice(choice)


def test_a_checkpoint_folder_or_a_file_outside_a_run_is_refused(tmp_path):
    run = _saved_run(tmp_path / "checkpoints")
    runs.check_checkpoint_choice("16")
    runs.check_checkpoint_choice(f"{run.run_checkpoint_dir}/DCGAN.model-1")
    with pytest.raises(UsageError, match="is a folder: give one checkpoint in it, such as"):
        runs.check_checkpoint_choice(run.run_checkpoint_dir)
    stray = tmp_path / "notes-3"
    stray.write_text("not a checkpoint")
    values, present = flag_values(checkpoint=str(stray),
                                  checkpoint_dir=str(tmp_path / "checkpoints"))
    with pytest.raises(UsageError, match=r"is not in a run's folder \(no run.json in"):
        runs.sampling_run(values, present)


def test_an_empty_or_too_long_name_is_refused_in_every_mode(tmp_path):
    with pytest.raises(UsageError, match="a folder name has at most 255"):
        flag_checks.check_folder_name("x" * 256, "name", "--checkpoint_dir")
    flag_checks.check_folder_name("é" * 127, "name", "--checkpoint_dir")  # 254 bytes
    _saved_run(tmp_path / "checkpoints")
    values, present = flag_values(name="", checkpoint_dir=str(tmp_path / "checkpoints"))
    with pytest.raises(UsageError, match="--name must be a folder name under"):
        runs.sampling_run(values, present)  # not "the newest run"
    for mode in ("--train", "--serve"):
        assert_one_line_exit_2(run_main([mode, "--name", "n" * 300], tmp_path),
                               "--name is 300 bytes long")


def test_a_flagfile_that_is_not_utf8_is_one_line(tmp_path):
    (tmp_path / "run.flags").write_bytes(b"--dataset=anime\n--epoch=\xff\xfe\n")
    assert_one_line_exit_2(run_main(["--train", "--flagfile", "run.flags"], tmp_path),
                           "a --flagfile is not UTF-8 text")


def test_a_cache_inside_the_dataset_folder_is_refused(tmp_path):
    folder = copy_photos(tmp_path / "data" / "anime", 2)
    # The cache goes to <cache_dir>/anime: in the dataset for each of these.
    for inside in (folder, folder / "cache", folder / "a" / "..", tmp_path / "data"):
        with pytest.raises(UsageError, match="in the dataset folder"):
            data.cache_folder(str(folder), str(inside))
    for apart in (tmp_path / "cache", tmp_path):  # tmp_path/anime: beside the data, fine
        assert data.cache_folder(str(folder), str(apart)) == str(apart / "anime")


def _from_a_newer_version(run):
    """Add settings this version does not know to `run`'s run.json; returns its bytes."""
    path = Path(run.run_checkpoint_dir, settings.RUN_FILE)
    values = json.loads(path.read_text())
    values["style_mixing"] = 0.9
    values["model"]["attention"] = True
    path.write_text(json.dumps(values))
    return path, path.read_bytes()


def test_a_run_json_from_a_newer_version_is_refused_and_never_rewritten(tmp_path, caplog):
    copy_photos(tmp_path / "data" / "anime", 16)
    run = _saved_run(tmp_path / "checkpoints", data_dir=str(tmp_path / "data"))
    older = _saved_run(tmp_path / "checkpoints", name="older")
    path, text = _from_a_newer_version(run)
    with pytest.raises(settings.NewerRun, match=r"does not know \(model.attention, "
                                                r"style_mixing\): a newer version wrote it"):
        settings.load(run.run_checkpoint_dir)
    caplog.set_level(logging.WARNING)
    found = runs.newest_run(str(tmp_path / "checkpoints"))  # skips it, as a damaged run
    assert found.run_name == older.run_name and "is from a newer dcgan" in caplog.text
    trained = run_main(["--train", "--dataset", run.dataset, "--name", run.run_name], tmp_path)
    assert_one_line_exit_2(trained, "a newer version wrote it")
    assert path.read_bytes() == text  # not rewritten without what it did not know
