"""Training on real pictures: steps, samples, checkpoints, resume, stop signals, seeds."""

import json
import signal
import subprocess
import sys
import time

import imageio.v2 as imageio
import numpy as np
import pytest
import tensorflow as tf
from conftest import MAIN, TINY_FLAGS, copy_photos, run_main

from dcgan import checkpoints
from dcgan.images import GAP, GAP_VALUE
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


def test_resume_continues_the_step_count(tmp_path):
    copy_photos(tmp_path / "data" / "anime", 64)
    args = ["--dataset", "anime", "--train", "--ckpt_freq", "4", *TINY_FLAGS]
    assert run_main([*args, "--epoch", "1"], tmp_path).returncode == 0
    folder = str(tmp_path / "checkpoints" / "anime_8_16_16")
    assert checkpoints.step_of(checkpoints.latest(folder)) == 8
    resumed = run_main([*args, "--epoch", "2"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming" in resumed.stderr and "from step 8" in resumed.stderr
    assert checkpoints.step_of(checkpoints.latest(folder)) == 16
    # A different architecture in the same folder is refused in one line.
    clash = run_main([*args, "--epoch", "3", "--z_dim", "32"], tmp_path)
    assert clash.returncode == 2
    assert clash.stderr.strip().splitlines()[-1].startswith("error: ")
    assert "z_dim=16" in clash.stderr and "Traceback" not in clash.stderr


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_stop_signal_finishes_the_step_saves_and_exits_zero(signum, tmp_path):
    copy_photos(tmp_path / "data" / "anime", 64)
    process = subprocess.Popen(
        [sys.executable, str(MAIN), "--dataset", "anime", "--train", "--epoch", "1000",
         "--ckpt_freq", "100000", *TINY_FLAGS], cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    seen = ""
    deadline = time.time() + 120
    while "step/s" not in seen and "s/step" not in seen and time.time() < deadline:
        seen += process.stderr.read(1)
    time.sleep(1.0)
    process.send_signal(signum)
    _, rest = process.communicate(timeout=60)
    assert process.returncode == 0, seen + rest
    folder = str(tmp_path / "checkpoints" / "anime_8_16_16")
    step = checkpoints.step_of(checkpoints.latest(folder))
    assert step > 0 and f"stopped at step {step}" in rest


def test_visualize_writes_a_grid_of_the_newest_run(trained_run):
    workdir, _ = trained_run
    result = run_main(["--visualize"], workdir)
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
