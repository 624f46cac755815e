"""`--init_from`: a new run that starts from another run's weights (tiny runs, real pictures).

The source is conftest's trained_run (32 steps on 64 photos); the new runs train on another
folder of photos in their own working folder, so no test here changes the shared run.
"""

import os
import shutil

import numpy as np
import pytest
import tensorflow as tf
from helpers import TINY_FLAGS, copy_photos, flag_values, main_in_process, refusal

from dcgan import checkpoint_files, checkpoints, outputs, runs, settings
from dcgan.train import Trainer

tf1 = tf.compat.v1

TINY = {"output_size": 16, "image_size": 96, "batch_size": 8, "gf_dim": 8, "df_dim": 8,
        "z_dim": 16, "num_samples": 12}
NEW_RUN = "small_8_16_16"  # the run folder the commands here make


@pytest.fixture
def small_workdir(tmp_path):
    """A working folder with data/small holding 16 photos other than the source run's."""
    copy_photos(tmp_path / "data" / "small", 16, start=64)
    return tmp_path


def _folders(workdir):
    """The folder flags of a run in `workdir`, as absolute paths."""
    return {"data_dir": str(workdir / "data"), "checkpoint_dir": str(workdir / "checkpoints"),
            "sample_dir": str(workdir / "samples"), "tensorboard_dir": str(workdir / "logs")}


def _is_network(name):
    return name.startswith(("generator/", "discriminator/")) and "/Adam_" not in name \
        and not name.endswith("/ema")


def test_a_new_run_starts_from_the_source_weights_with_a_fresh_optimiser(trained_run,
                                                                         small_workdir):
    """Right after the restore: G's and D's weights (batch-norm statistics too) are the source
    checkpoint's, the EMA shadows equal G, Adam's slots are zero, the step is 0."""
    _, source = trained_run
    values, present = flag_values(dataset="small", init_from=source.run_checkpoint_dir,
                                  ema=0.99, **TINY, **_folders(small_workdir))
    run, saved = runs.training_run(values, present)
    newest = checkpoints.latest(source.run_checkpoint_dir)
    assert saved is None and run.init_from == os.path.normpath(newest)
    outputs.make_output_folders(run)
    trainer = Trainer(run, progress=False)
    session, step = trainer.open_session()
    with session:
        variables = trainer.graph.graph.get_collection(tf1.GraphKeys.GLOBAL_VARIABLES)
        held = session.run({v.op.name: v for v in variables})
    reader = tf1.train.load_checkpoint(newest)
    assert step == 0 and held["global_step"] == 0
    network = [name for name in held if _is_network(name)]
    assert len(network) > 20 and any("moving_mean" in name for name in network)
    for name in network:
        np.testing.assert_array_equal(held[name], reader.get_tensor(name), err_msg=name)
    shadows = [name for name in held if name.endswith("/ema")]
    assert shadows and all(np.array_equal(held[name], held[name[:-4]]) for name in shadows)
    slots = [name for name in held if "/Adam_" in name]
    assert slots and not any(held[name].any() for name in slots)
    assert all(reader.get_tensor(name).any() for name in slots if "/ema" not in name)
    # Fresh: the source's are beta^33 (beta2 tells them apart where the recipe's beta1 is 0).
    assert [held["beta1_power"], held["beta2_power"]] == pytest.approx([run.beta1, run.beta2])


def test_the_command_trains_from_step_0_records_the_source_and_resumes(trained_run,
                                                                      small_workdir,
                                                                      monkeypatch):
    """The command line: run.json names the source checkpoint, the new run counts its own
    steps, and the same command resumes it; another source for it is refused."""
    _, source = trained_run
    command = ["--dataset", "small", "--train", "--init_from", source.run_checkpoint_dir,
               "--sample_freq", "2", "--ckpt_freq", "2", *TINY_FLAGS]
    result = main_in_process([*command, "--steps", "2"], small_workdir)
    assert result.returncode == 0, result.stderr
    assert "starting from the weights of" in result.stderr
    folder = small_workdir / "checkpoints" / NEW_RUN
    assert settings.load(folder).init_from == checkpoints.latest(source.run_checkpoint_dir)
    assert [checkpoint_files.step_of(path) for path in checkpoints.listed(str(folder))] == [2]
    again = main_in_process([*command, "--steps", "4"], small_workdir)
    assert again.returncode == 0, again.stderr
    assert "starting from the weights" not in again.stderr
    assert checkpoint_files.step_of(checkpoints.latest(str(folder))) == 4
    older = checkpoints.listed(source.run_checkpoint_dir)[-1]
    monkeypatch.chdir(small_workdir)
    line = refusal(["--dataset", "small", "--train", "--init_from", older, *TINY_FLAGS])
    assert "--init_from starts a new run" in line and "drop --init_from" in line


@pytest.mark.parametrize(("flags", "named"), [
    (["--gf_dim", "16"], "gf_dim=8, not 16: pass --gf_dim 8"),
    (["--z_dim", "32"], "z_dim=16, not 32: pass --z_dim 16"),
    (["--output_size", "32"], "output_height=16, not 32"),
    (["--g_kernel", "5"], "g_kernel=4, not 5: pass --g_kernel 4"),
])
def test_another_network_is_refused_in_one_line_before_anything_is_written(
        trained_run, small_workdir, monkeypatch, flags, named):
    """A source of another architecture: one line naming the value; no run folder is made."""
    _, source = trained_run
    monkeypatch.chdir(small_workdir)
    line = refusal(["--dataset", "small", "--train", "--init_from", source.run_checkpoint_dir,
                    *TINY_FLAGS, *flags])  # the last value of a flag given twice wins
    assert named in line
    assert not (small_workdir / "checkpoints").exists()


def test_a_source_keeps_its_kernel_under_a_recipe_that_picks_another(trained_run,
                                                                      small_workdir):
    """The source trained with the default recipe's 4x4 kernels; `--recipe carpedm20` (whose
    new runs get 5x5) without --g_kernel starts from it with 4x4 instead of being refused."""
    _, source = trained_run
    assert source.model.g_kernel == 4
    values, present = flag_values(dataset="small", init_from=source.run_checkpoint_dir,
                                  recipe="carpedm20", **TINY, **_folders(small_workdir))
    run, _ = runs.training_run(values, present)
    assert (run.recipe, run.model.g_kernel) == ("carpedm20", 4)
    assert not (small_workdir / "checkpoints").exists()


def test_a_source_without_checkpoints_or_run_is_refused(trained_run, small_workdir,
                                                        monkeypatch):
    """A run folder that saved no checkpoint, and a name that is no run: one line each."""
    _, source = trained_run
    empty = small_workdir / "empty_run"
    empty.mkdir()
    shutil.copy(os.path.join(source.run_checkpoint_dir, settings.RUN_FILE), empty)
    monkeypatch.chdir(small_workdir)
    line = refusal(["--dataset", "small", "--train", "--init_from", str(empty), *TINY_FLAGS])
    assert "holds no checkpoint" in line
    line = refusal(["--dataset", "small", "--train", "--init_from", "nosuch", *TINY_FLAGS])
    assert "--init_from nosuch is not a checkpoint, a run folder or a run" in line
    # A name close to a run's is taken for a typo of it.
    runs_there = os.path.dirname(source.run_checkpoint_dir)
    line = refusal(["--dataset", "small", "--train", "--checkpoint_dir", runs_there,
                    "--init_from", "anime_8_16_61", *TINY_FLAGS])
    assert line.endswith(f"(did you mean --init_from anime_8_16_16? `python main.py --list "
                         f"--checkpoint_dir {runs_there}` lists the runs)"), line
    line = refusal(["--dataset", "small", "--visualize", "--init_from", "nosuch"])
    assert "--init_from is for --train" in line


def test_an_unreadable_checkpoint_is_refused_before_anything_is_written(trained_run,
                                                                        small_workdir):
    """A source whose weights file is cut short: exit 2, one line, no run folder."""
    _, source = trained_run
    broken = small_workdir / "broken_run"
    shutil.copytree(source.run_checkpoint_dir, broken,
                    ignore=shutil.ignore_patterns(checkpoints.LOCK_FILE))
    newest = checkpoints.latest(str(broken))
    data = next(path for path in checkpoint_files.files_of(newest) if ".data-" in path)
    with open(data, "r+b") as handle:
        handle.truncate(os.path.getsize(data) // 2)
    result = main_in_process(["--dataset", "small", "--train", "--init_from", newest,
                              *TINY_FLAGS], small_workdir)
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "cannot be read" in errors[0], result.stderr
    assert not (small_workdir / "checkpoints").exists()
