"""Training on real pictures: steps, samples, checkpoints, resume, stop signals, seeds."""

import json
import re
import shutil
import signal
import subprocess
import sys
import time

import imageio.v2 as imageio
import numpy as np
import pytest
import tensorflow as tf
from helpers import MAIN, TINY_FLAGS, copy_photos, main_in_process, progress_lines, run_main

from dcgan import checkpoints, grids, train
from dcgan import settings as settings_module
from dcgan.grids import GAP, GAP_VALUE
from dcgan.session import TrainedGenerator


def test_training_writes_samples_checkpoints_settings_and_logs(trained_run):
    workdir, _ = trained_run
    folder = workdir / "checkpoints" / "anime_8_16_16"
    assert checkpoints.step_of(checkpoints.latest(str(folder))) == 32  # 64 pictures / 8 x 4 epochs
    saved = json.loads((folder / "run.json").read_text())
    assert saved["model"]["gf_dim"] == 8 and saved["crop_height"] == 96 and "spec" not in saved
    samples = sorted(p.name for p in (workdir / "samples" / "anime_8_16_16").iterdir()
                     if p.name.startswith("train_"))
    assert samples == ["train_02_00016.png", "train_04_00032.png"]
    (events,) = (workdir / "logs" / "anime_8_16_16").glob("events.out.tfevents.*")
    # TensorBoard shows G's images as one grid picture: batch 8 -> 2 rows of 4, 2 px apart.
    pictures = [value for event in tf.compat.v1.train.summary_iterator(str(events))
                for value in event.summary.value if value.HasField("image")]
    assert pictures and {value.tag for value in pictures} == {"G/image"}
    grid = imageio.imread(pictures[-1].image.encoded_image_string)
    assert grid.shape == (2 * 16 + GAP, 4 * 16 + 3 * GAP, 3)
    assert (grid[16:16 + GAP] == GAP_VALUE).all() and grid[:16, :16].std() > 0


def _tiles(grid, count, cols, size):
    """The first `count` size x size tiles of a grid picture of `cols` columns."""
    return np.stack([grid[top:top + size, left:left + size] for top, left in
                     (grids.tile_origin(index, (size, size), cols) for index in range(count))])


def test_reals_and_sample_grids_show_16px_pictures_enlarged_to_64px(own_trained_run,
                                                                   monkeypatch):
    workdir, run = own_trained_run  # a copy: loading the pictures writes their cache in data/
    samples = workdir / "samples" / "anime_8_16_16"
    # 12 pictures (--num_samples) of 16 px, 3 rows of 4, each tile 4x larger, 2 px apart.
    shape = (3 * 64 + 2 * GAP, 4 * 64 + 3 * GAP, 3)
    assert grids.readable_scale(16, 16) == 4 and grids.readable_scale(28, 28) == 3
    assert grids.readable_scale(64, 48) == 2 and grids.readable_scale(64, 64) == 1
    reals = imageio.imread(samples / train.REALS_FILE)
    assert reals.shape == shape
    assert imageio.imread(samples / "train_04_00032.png").shape == shape
    # The tiles are the run's own training pictures after crop and resize, in file order.
    monkeypatch.chdir(workdir)
    seen = train.load_training_data(run, progress=False).images[:12]
    assert np.array_equal(_tiles(reals, 12, 4, 64), grids.enlarge(seen, 4))
    assert len({tile.tobytes() for tile in seen}) == 12


def _first_line(stderr):
    return next(line for line in stderr.splitlines() if line.strip())


def test_resume_continues_the_step_count(tmp_path):
    copy_photos(tmp_path / "data" / "anime", 64)
    args = ["--dataset", "anime", "--train", "--ckpt_freq", "4", *TINY_FLAGS]
    first = main_in_process([*args, "--epoch", "1"], tmp_path)
    assert first.returncode == 0, first.stderr
    assert _first_line(first.stderr) == ("INFO: starting run anime_8_16_16 (anime, 96x96 crop "
                                         "-> 16x16, batch 8) in checkpoints/anime_8_16_16/")
    assert first.stderr.strip().splitlines()[-1].startswith(
        "INFO: trained steps 1-8 of 8 in ")
    folder = str(tmp_path / "checkpoints" / "anime_8_16_16")
    assert checkpoints.step_of(checkpoints.latest(folder)) == 8
    # No size flags: the newest anime run resumes with its own settings, and says so first.
    # Through main.py: what the console shows is the subject (the other launches here run
    # in-process, checking files and the package's own lines).
    resumed = run_main(["--dataset", "anime", "--train", "--epoch", "2"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert _first_line(resumed.stderr).startswith(
        "INFO: resuming run anime_8_16_16 (anime, 96x96 crop -> 16x16, batch 8) from step 8 "
        "in checkpoints/anime_8_16_16/; the newest anime run"), resumed.stderr
    last = resumed.stderr.strip().splitlines()[-1]
    assert last.startswith("INFO: trained steps 9-16 of 16 in ") and \
        "checkpoint checkpoints/anime_8_16_16/ (step 16), samples samples/anime_8_16_16/ " \
        "(newest train_02_00016.png), logs logs/anime_8_16_16/" in last, last
    # The last losses, as the bar's last line shows them.
    d_loss, g_loss = re.search(r"last losses D (\d+\.\d+), G (\d+\.\d+);", last).groups()
    # Piped, the bar is whole lines: its start, every 5% (8 steps: each step) and its end.
    lines = progress_lines(resumed.stderr, "epoch 2/2")
    assert lines[0].startswith("epoch 2/2:  50% 8/16 [") and len(lines) == 9, lines
    assert lines[-1].startswith("epoch 2/2: 100% 16/16 [") and \
        f"d_loss={d_loss}, g_loss={g_loss}" in lines[-1], lines[-1]
    # Nothing of TensorFlow's own: its load-time lines or the Saver's deprecation notice.
    assert "deprecated" not in resumed.stderr and "absl::" not in resumed.stderr
    assert checkpoints.step_of(checkpoints.latest(folder)) == 16
    # A different architecture in the same folder is refused in one line.
    clash = main_in_process([*args, "--epoch", "3", "--z_dim", "32"], tmp_path)
    assert clash.returncode == 2
    last = clash.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "z_dim=16" in last and "--name NAME" in last
    assert "Traceback" not in clash.stderr


def _levers(folder):
    """(g_kernel, r1_gamma, r1_every) as the run.json in `folder` records them."""
    saved = json.loads((folder / "run.json").read_text())
    return saved["model"]["g_kernel"], saved["r1_gamma"], saved["r1_every"]


def test_a_run_with_r1_and_4x4_kernels_trains_resumes_and_visualizes(lever_run, tmp_path):
    source, _, first = lever_run
    # The penalty's second-order graph keeps Grappler's conv + bias + LeakyRelu fusion.
    assert "remapper failed" not in first.stderr and "Traceback" not in first.stderr
    workdir = tmp_path / "work"  # a copy: the shared run's folder stays as it is
    shutil.copytree(source, workdir)
    folder = workdir / "checkpoints" / "anime_8_16_16"
    assert _levers(folder) == (4, 1.0, 2)
    reader = tf.compat.v1.train.load_checkpoint(checkpoints.latest(str(folder)))
    assert reader.get_variable_to_shape_map()["generator/g_h1/w"][:2] == [4, 4]
    # Every other D update is the R1 one, from step 0.
    run = settings_module.load(folder).replace(data_dir=str(workdir / "data"),
                                               checkpoint_dir=str(workdir / "checkpoints"))
    trainer = train.Trainer(run, progress=False)
    gan = trainer.graph.gan
    assert [trainer.d_update(step) for step in range(4)] == \
        [gan.d_optim_r1, gan.d_optim, gan.d_optim_r1, gan.d_optim]
    # A resume without the flags keeps them; another kernel is refused in one line.
    resumed = main_in_process(["--dataset", "anime", "--train", "--epoch", "5"], workdir)
    assert resumed.returncode == 0, resumed.stderr
    assert checkpoints.step_of(checkpoints.latest(str(folder))) == 40
    assert _levers(folder) == (4, 1.0, 2)
    clash = main_in_process(["--dataset", "anime", "--train", "--epoch", "6", "--g_kernel", "5"],
                            workdir)
    assert clash.returncode == 2 and clash.stderr.strip().splitlines()[-1].startswith(
        "error: ") and "g_kernel=4, not 5: pass --g_kernel 4" in clash.stderr, clash.stderr
    grid_path = main_in_process(["--visualize"], workdir).stdout.strip().splitlines()[-1]
    assert grid_path.startswith("samples/anime_8_16_16/grid_00040_seed")
    assert imageio.imread(workdir / grid_path).std() > 5  # not a blank picture


def test_a_new_run_beside_another_gets_folders_of_its_own(trained_run, tmp_path):
    workdir = tmp_path / "work"  # a copy: the shared run's folder stays as it is
    shutil.copytree(trained_run[0], workdir)
    samples = workdir / "samples" / "anime_8_16_16"
    before = {path.name: path.stat().st_mtime_ns for path in samples.iterdir()}
    args = ["--dataset", "anime", "--train", "--epoch", "1", *TINY_FLAGS, "--z_dim", "32"]
    # The same name under another --checkpoint_dir would share samples/ and logs/: refused.
    shared = main_in_process([*args, "--checkpoint_dir", "ck_z32"], workdir)
    assert shared.returncode == 2, shared.stderr
    assert "samples/anime_8_16_16 holds the outputs of the run in checkpoints/anime_8_16_16: " \
           "pass --name NAME" in shared.stderr
    # What the architecture-mismatch error suggests works.
    named = main_in_process([*args, "--name", "z32"], workdir)
    assert named.returncode == 0, named.stderr
    assert _first_line(named.stderr).startswith("INFO: starting run z32 (anime, 96x96 crop")
    assert (workdir / "samples" / "z32" / "train_01_00008.png").is_file()
    assert list((workdir / "logs" / "z32").glob("events.out.tfevents.*"))
    assert {path.name: path.stat().st_mtime_ns for path in samples.iterdir()} == before
    # The newest run now is z32, so --visualize draws from it.
    newest = main_in_process(["--visualize", "--num_samples", "2"], workdir)
    assert newest.returncode == 0 and "samples/z32/grid_00008_seed" in newest.stdout


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_stop_signal_finishes_the_step_saves_and_exits_zero(signum, tmp_path):
    """Signalled once the run has trained 10 of its 200 steps (its first 5% line; no sleep),
    long before it ends; no checkpoint is due, so the one it leaves is the stop's own."""
    copy_photos(tmp_path / "data" / "anime", 64)
    process = subprocess.Popen(
        [sys.executable, str(MAIN), "--dataset", "anime", "--train", "--epoch", "25",
         "--ckpt_freq", "100000", *TINY_FLAGS], cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    seen = ""
    deadline = time.time() + 120
    while " 10/200 [" not in seen and process.poll() is None and time.time() < deadline:
        seen += process.stderr.read(1)
    assert " 10/200 [" in seen, seen
    process.send_signal(signum)
    _, rest = process.communicate(timeout=60)
    assert process.returncode == 0, seen + rest
    folder = str(tmp_path / "checkpoints" / "anime_8_16_16")
    step = checkpoints.step_of(checkpoints.latest(folder))
    assert 10 <= step < 200 and f"stopped at step {step}" in rest


def test_visualize_writes_a_grid_of_the_newest_run(own_trained_run):
    workdir, _ = own_trained_run  # a copy: the grid goes into the run's samples
    result = main_in_process(["--visualize"], workdir)
    assert result.returncode == 0, result.stderr
    path = workdir / result.stdout.strip().splitlines()[-1]
    assert path.name.startswith("grid_00032_seed") and path.exists()
    import imageio.v2 as imageio

    grid = imageio.imread(path)
    assert grid.shape == (16 * 3 + 2 * GAP, 16 * 4 + 3 * GAP, 3)  # 12 samples: 3 rows of 4
    assert grid.std() > 5  # not a blank picture


def test_same_seed_gives_the_same_images(trained_run):
    _, run = trained_run
    with TrainedGenerator(run) as generator:
        a = generator.generate(generator.sample_z(5, rng_seed=7))
        b = generator.generate(generator.sample_z(5, rng_seed=7))
        c = generator.generate(generator.sample_z(5, rng_seed=8))
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 0


def test_steps_stops_at_that_step_and_a_larger_steps_resumes_to_it(tmp_path):
    copy_photos(tmp_path / "data" / "anime", 64)  # 8 steps an epoch
    folder = str(tmp_path / "checkpoints" / "anime_8_16_16")
    first = main_in_process(["--dataset", "anime", "--train", "--steps", "5", "--epoch", "1",
                             "--ckpt_freq", "100", *TINY_FLAGS], tmp_path)
    assert first.returncode == 0, first.stderr
    assert checkpoints.step_of(checkpoints.latest(folder)) == 5
    assert (tmp_path / "samples" / "anime_8_16_16" / "train_01_00005.png").exists()
    assert "WARNING: only 64 usable images: a GAN needs thousands" in first.stderr
    last = first.stderr.strip().splitlines()[-1]
    assert last.startswith("INFO: trained steps 1-5 of 5 in ") and \
        ": reached --steps 5; last losses D " in last and \
        "; checkpoint checkpoints/anime_8_16_16/ (step 5)" in last, last
    assert "% 5/5 [" in first.stderr  # the bar's total is the --steps limit, not --epoch's
    # --steps is a total: the resume counts the 5 done and stops at 11. Given without --epoch,
    # the run's --epoch 1 (8 steps) does not stop it.
    resumed = main_in_process(["--dataset", "anime", "--train", "--steps", "11"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "from step 5" in resumed.stderr.splitlines()[0]
    assert checkpoints.step_of(checkpoints.latest(folder)) == 11
    last = resumed.stderr.strip().splitlines()[-1]
    assert last.startswith("INFO: trained steps 6-11 of 11 in ") and \
        "reached --steps 11;" in last, last
    # --steps is not kept in run.json: a later launch without it trains to --epoch.
    assert "steps" not in json.loads((tmp_path / "checkpoints" / "anime_8_16_16" /
                                      "run.json").read_text())


def test_minutes_stops_early_with_a_checkpoint_and_says_so(tmp_path):
    copy_photos(tmp_path / "data" / "anime", 64)
    result = main_in_process(["--dataset", "anime", "--train", "--minutes", "0.02",
                              "--ckpt_freq", "100000", "--sample_freq", "100000", *TINY_FLAGS],
                             tmp_path)
    assert result.returncode == 0, result.stderr
    step = checkpoints.step_of(checkpoints.latest(str(tmp_path / "checkpoints" /
                                                      "anime_8_16_16")))
    assert step > 0
    last = result.stderr.strip().splitlines()[-1]  # only --minutes limits it: no "of N"
    assert last.startswith(f"INFO: reached --minutes 0.02: stopped at step {step} after ") \
        and "the same command trains 0.02 minutes more" in last, last
    samples = tmp_path / "samples" / "anime_8_16_16"
    assert (samples / f"train_{(step - 1) // 8 + 1:02d}_{step:05d}.png").exists()
    assert f"% {step}/{step} [" in result.stderr  # the bar ends full at the step it stopped at


def test_the_few_images_warning_offers_diffaugment_only_where_it_is_off():
    assert "--augment" in train.few_images_advice(1, "")
    assert train.few_images_advice(1, "").startswith("only 1 usable image: ")
    assert "--augment" not in train.few_images_advice(200, "color,translation")
