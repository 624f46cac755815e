"""Which run a command picks (dcgan/runs.py), and whose output folders are whose
(dcgan/outputs.py)."""

import shutil
from pathlib import Path

import pytest
from helpers import cropped_run, flag_values

from dcgan import cluster, outputs, runs, settings
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
