"""Which run a command picks (dcgan/runs.py), and whose output folders are whose
(dcgan/outputs.py)."""

import json
import logging
import os
import re
import shutil
import time
from pathlib import Path

import pytest
from helpers import cropped_run, flag_values

from dcgan import cluster, outputs, runs, settings, words
from dcgan.errors import UsageError


def _saved_run(checkpoint_dir, **changes):
    """A run saved under `checkpoint_dir` as training leaves it: run.json and the files of a
    complete checkpoint (what `newest_run` looks for; their contents are not read here)."""
    run = cropped_run(checkpoint_dir=str(checkpoint_dir), **changes)
    settings.save(run)
    for name in ("DCGAN.model-1.index", "DCGAN.model-1.data-00000-of-00001"):
        (Path(run.run_checkpoint_dir) / name).write_bytes(b"")
    return run


def test_size_flags_pick_the_run_that_has_them_whatever_the_dataset_flag_says(tmp_path):
    _saved_run(tmp_path, batch_size=8)
    wide = _saved_run(tmp_path, batch_size=16, name="wide")
    found = runs.sampling_run(*flag_values(checkpoint_dir=str(tmp_path), output_width=32,
                                          batch_size=16))
    assert found.run_name == "wide" and found == wide.replace(checkpoint_dir=str(tmp_path))
    # --visualize --output_size 32 with the default dataset: no run has it, and the command
    # suggested is one that can work (MNIST is 28x28 only).
    with pytest.raises(UsageError, match=r"with --output_size 32 in .*--dataset FOLDER "
                                         r"--output_size 32 --train"):
        runs.sampling_run(*flag_values(checkpoint_dir=str(tmp_path), output_size=32))
    with pytest.raises(UsageError, match="holds no run"):
        runs.sampling_run(*flag_values(checkpoint_dir=str(tmp_path), name="nothing"))


def test_a_resume_keeps_the_saved_settings_except_the_flags_given(tmp_path):
    saved = _saved_run(tmp_path, batch_size=8, learning_rate=1e-3, train_size=40)
    values, present = flag_values(checkpoint_dir=str(tmp_path), dataset="anime", epoch=40)
    run, found = runs.training_run(values, present)
    assert found.run_name == saved.run_name == run.run_name
    assert run.epoch == 40 and run.learning_rate == 1e-3 and run.batch_size == 8
    assert (run.crop_height, run.crop_width, run.train_size) == (96, 64, 40)
    assert run.model == saved.model


def test_a_resume_keeps_its_training_choices_under_the_flags_given(tmp_path):
    from dcgan import recipes

    saved = _saved_run(tmp_path, batch_size=8, recipe=recipes.FAST, g_learning_rate=1e-5)
    # --learning_rate given now sets both nets' rates; the rest stays the saved run's.
    values, present = flag_values(checkpoint_dir=str(tmp_path), dataset="anime",
                                  learning_rate=1e-3)
    run, found = runs.training_run(values, present)
    assert found.choices == saved.choices
    assert run.choices == {**saved.choices, "learning_rate": 1e-3, "d_learning_rate": 1e-3,
                           "g_learning_rate": 1e-3}
    # --recipe given now brings its own values, under the flags given with it.
    run, _ = runs.training_run(*flag_values(checkpoint_dir=str(tmp_path), dataset="anime",
                                            recipe=recipes.CARPEDM20, ema=0.5))
    assert run.choices == {**recipes.RECIPES[recipes.CARPEDM20], "ema": 0.5}


def test_how_a_run_is_distributed_is_this_launchs_not_the_runs(tmp_path, monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    _saved_run(tmp_path, batch_size=8, distribute="mirrored", devices="/gpu:0,/gpu:1,/gpu:2,/gpu:3",
               worker_timeout=5)
    assert settings.load(tmp_path / "anime_8_48_32").distribute == "mirrored"  # a record
    # A run trained on four GPUs resumes with a plain --train on one device...
    run, found = runs.training_run(*flag_values(checkpoint_dir=str(tmp_path), dataset="anime"))
    assert found.devices and (run.distribute, run.devices, run.worker_timeout) == \
        ("none", "", settings.RunSettings.worker_timeout)
    # ... or on a cluster (no "drop --devices": they were never given), keeping its batch.
    monkeypatch.setenv("TF_CONFIG", cluster.local_tf_config(cluster.free_local_ports(2), 1))
    run, _ = runs.training_run(*flag_values(checkpoint_dir=str(tmp_path), dataset="anime",
                                            distribute="multi_worker"))
    assert (run.distribute, run.devices, run.batch_size) == ("multi_worker", "", 8)
    # A batch that cannot be split is refused in one line that keeps the run's batch.
    with pytest.raises(UsageError, match=r"the run in .*anime_8_48_32 trains with global batch 8 "
                                         r"\(--batch_size\), which does not split evenly over 3 "
                                         r"replicas: resume it on a number of replicas that "
                                         r"divides 8, or pass --name NAME for a new run"):
        runs.training_run(*flag_values(checkpoint_dir=str(tmp_path), dataset="anime",
                                       distribute="mirrored", devices="/cpu:0,/cpu:1,/cpu:2"))


def test_a_sample_or_log_folder_belongs_to_onecropped_run(tmp_path):
    samples = tmp_path / "work" / "samples" / "anime_64_48_32"
    samples.mkdir(parents=True)
    first = _saved_run(tmp_path / "work" / "checkpoints")
    outputs.claim_output_folder(str(samples), first.run_checkpoint_dir)
    outputs.claim_output_folder(str(samples), first.run_checkpoint_dir)  # its own: fine
    other = tmp_path / "work" / "ck2" / first.run_name
    with pytest.raises(UsageError, match=r"holds the outputs of the run in .*--name NAME"):
        outputs.claim_output_folder(str(samples), str(other))
    # A working folder copied whole keeps its runs apart: the copy's folder is the copy's run's.
    copy = tmp_path / "copy"
    shutil.copytree(tmp_path / "work", copy)
    outputs.claim_output_folder(str(copy / "samples" / "anime_64_48_32"),
                                 str(copy / "checkpoints" / first.run_name))
    # A folder whose run is gone is taken over.
    shutil.rmtree(first.run_checkpoint_dir)
    outputs.claim_output_folder(str(samples), str(other))


def test_a_resume_with_another_crop_is_refused_and_a_new_name_trains_it(tmp_path):
    # The crop is what the run learnt from: --image_size 200 on a run of 96x64 crops would
    # resume it on other images (and, on 96 px pictures, fail for want of any picture).
    _saved_run(tmp_path, batch_size=8)
    resume = {"checkpoint_dir": str(tmp_path), "dataset": "anime"}
    with pytest.raises(UsageError, match=r"anime_8_48_32 was trained on 96x64 crops of its "
                                         r"pictures, not 200x200 crops of its pictures: pass "
                                         r"--input_height 96 --input_width 64 to resume it, or "
                                         r"--name NAME for a new run beside it$"):
        runs.training_run(*flag_values(**resume, image_size=200))
    with pytest.raises(UsageError, match=r"not its whole pictures \(no crop\): pass "
                                         r"--input_height 96 --input_width 64"):
        runs.training_run(*flag_values(**resume, crop=False))
    # The same crop given again resumes; --name starts a new run with the new crop.
    run, found = runs.training_run(*flag_values(**resume, input_height=96, input_width=64))
    assert found is not None and (run.crop_height, run.crop_width) == (96, 64)
    run, found = runs.training_run(*flag_values(**resume, image_size=200, name="big_crop"))
    assert found is None and (run.crop_height, run.crop_width) == (200, 200)
    # A run trained on whole pictures says so, and how to resume it.
    _saved_run(tmp_path, batch_size=4, crop_height=0, crop_width=0)
    with pytest.raises(UsageError, match=r"anime_4_48_32 was trained on its whole pictures "
                                         r"\(no crop\), not 96x96 crops of its pictures: pass "
                                         r"--nocrop to resume it"):
        runs.training_run(*flag_values(**resume, batch_size=4, image_size=96))


def test_a_relative_folder_searched_is_named_with_its_absolute_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    where = rf"checkpoints/ \({re.escape(str(tmp_path / 'checkpoints'))}\)"
    with pytest.raises(UsageError, match=rf"no trained checkpoint of anime in {where}: train"):
        runs.sampling_run(*flag_values(dataset="anime"))
    with pytest.raises(UsageError, match=rf"no trained checkpoint in "
                                         rf"{re.escape(str(tmp_path))}/: train"):
        runs.sampling_run(*flag_values(checkpoint_dir=str(tmp_path)))
    assert words.folder("runs/ck") == f"runs/ck/ ({tmp_path / 'runs' / 'ck'})"
    assert words.folder("/data/ck/") == "/data/ck/"


def test_an_unknown_name_suggests_the_closest_run(tmp_path, caplog):
    from dcgan import cli

    _saved_run(tmp_path, batch_size=8)
    _saved_run(tmp_path, batch_size=8, name="faces_long")
    with pytest.raises(UsageError, match=rf"anime_8_48_23/ holds no run \(no run.json\): did "
                                         rf"you mean --name anime_8_48_32\? `python main.py "
                                         rf"--list --checkpoint_dir {re.escape(str(tmp_path))}` "
                                         rf"lists the runs$"):
        runs.sampling_run(*flag_values(checkpoint_dir=str(tmp_path), name="anime_8_48_23"))
    with pytest.raises(UsageError, match=r"holds no run \(no run.json\): `python main.py --list "):
        runs.sampling_run(*flag_values(checkpoint_dir=str(tmp_path), name="mnist_test"))
    with pytest.raises(UsageError, match=r"there is no run in .*empty/ yet$"):
        runs.sampling_run(*flag_values(checkpoint_dir=str(tmp_path / "empty"), name="x"))
    # --train with a new --name says which run a typo may have meant (training starts anyway:
    # a new name is how a new run begins).
    values, present = flag_values(checkpoint_dir=str(tmp_path), dataset="anime",
                                  name="anime_8_48_23")
    run, found = runs.training_run(values, present)
    assert found is None
    with caplog.at_level(logging.INFO, logger="dcgan"):
        cli._announce(run, found, values, present)
    assert caplog.messages == [f"starting run anime_8_48_23 ({settings.describe(run)}) in "
                               f"{tmp_path}/anime_8_48_23/ (a new run: --name anime_8_48_32 "
                               f"would resume that one)"]


def test_the_list_of_runs_has_their_sizes_steps_recipes_and_last_scores(tmp_path):
    from dcgan import recipes, run_list

    samples = tmp_path / "samples"
    _saved_run(tmp_path, batch_size=8, sample_dir=str(samples))
    _saved_run(tmp_path, batch_size=4, name="whole", crop_height=0, crop_width=0,
               recipe=recipes.FAST, sample_dir=str(samples))
    damaged = tmp_path / "broken"
    damaged.mkdir()
    (damaged / "run.json").write_text("{")
    # Two evaluations of the first run: the last one written is shown, whatever its step.
    scores = samples / "anime_8_48_32"
    scores.mkdir(parents=True)
    (scores / "eval_00009_n64_k4_seed0.json").write_text(
        json.dumps({"step": 9, "swd_avg": 1.5, "ndb_over_k": 0.25}))
    later = scores / "eval_00001_n64_k4_seed0.json"
    later.write_text(json.dumps({"step": 1, "swd_avg": 3.214, "ndb_over_k": 0.125}))
    os.utime(later, (time.time() + 5, time.time() + 5))
    lines = run_list.listing(str(tmp_path))
    cells = [re.split(r"\s{2,}", line) for line in lines]
    assert cells == [
        ["RUN", "DATA AND SIZES", "STEP", "RECIPE", "LAST --evaluate"],
        ["anime_8_48_32", "anime, 96x64 crop -> 48x32, batch 8", "1", recipes.DEFAULT,
         "SWD 3.21, NDB/K 0.125 at step 1"],
        ["broken", "(run.json is damaged)"],
        ["whole", "anime, 48x32, batch 4", "1", recipes.FAST]]
    # Columns line up: each run's step sits under STEP.
    column = lines[0].index("STEP")
    assert lines[1][column] == lines[3][column] == "1"
    # --dataset keeps that dataset's runs (a damaged run.json has none); an empty folder says so.
    assert [line.split()[0] for line in run_list.listing(str(tmp_path), dataset="mnist")] == \
        ["no"]
    assert run_list.listing(str(tmp_path / "none"))[0].startswith("no runs in ")
