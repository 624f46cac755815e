"""The memorisation check on real pictures: copies are flagged, new pictures are not, and
--evaluate reports it and draws the closest samples beside their nearest training image."""

import json
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
from helpers import copy_photos, main_in_process, photo_arrays, run_main

from dcgan import memorisation
from dcgan.grids import GAP

SIZE = 32


def test_nearest_is_the_brute_force_nearest_and_can_leave_each_query_out():
    training = memorisation.features(photo_arrays(60, SIZE))
    queries = memorisation.features(photo_arrays(20, SIZE, start=100))
    index, distance = memorisation.nearest(queries, training)
    every = np.sqrt(((queries[:, None] - training[None]) ** 2).mean(axis=2))
    assert np.array_equal(index, every.argmin(axis=1))
    np.testing.assert_allclose(distance, every.min(axis=1), rtol=1e-5)
    # A training image against the training set is its own neighbour unless it is left out.
    own, zero = memorisation.nearest(training[:10], training)
    assert np.array_equal(own, np.arange(10)) and not zero.any()
    picked = np.arange(10)
    other, apart = memorisation.nearest(training[:10], training, exclude=picked)
    assert not np.any(other == picked) and (apart > 0).all()


def test_copies_are_flagged_and_new_pictures_are_not():
    training = photo_arrays(120, SIZE)
    rng = np.random.default_rng(0)
    # A copying "generator": training pictures with a little noise, as a GAN's copy would be.
    copied = np.clip(training[:40].astype(int) + rng.integers(-3, 4, training[:40].shape), 0,
                     255).astype(np.uint8)
    copies, pairs = memorisation.check(copied, training, seed=1)
    assert copies["nearest_fake_below_real_p5"] > 0.9
    assert copies["nearest_fake_median"] < 0.2 * copies["nearest_real_median"]
    assert copies["nearest_held_out"] == "leave-one-out"
    assert copies["nearest_training_images"] == 120
    # The closest pairs are each a copy beside the picture it was copied from.
    assert pairs.shape == (memorisation.SHOWN, 2, SIZE, SIZE, 3)
    assert all(np.abs(sample.astype(int) - source).max() <= 3 for sample, source in pairs)
    # Real pictures the check never saw sit as far from the training set as real ones do.
    unseen = photo_arrays(40, SIZE, start=300)
    fresh, _ = memorisation.check(unseen, training, seed=1)
    assert fresh["nearest_fake_below_real_p5"] < 0.3
    assert fresh["nearest_fake_median"] > 0.5 * fresh["nearest_real_median"]
    held, _ = memorisation.check(copied, training, held_out=unseen)
    assert held["nearest_held_out"] == "held-out folder"
    assert held["nearest_fake_below_real_p5"] > 0.9


def test_the_grid_puts_each_sample_left_of_its_neighbour():
    pairs = np.stack([photo_arrays(6, SIZE), photo_arrays(6, SIZE, start=50)], axis=1)
    grid = memorisation.pairs_grid(pairs)
    step = SIZE + GAP
    assert grid.shape == (2 * step - GAP, 8 * step - GAP, 3)  # 4 pairs a row, 2 rows
    assert np.array_equal(grid[:SIZE, :SIZE], pairs[0, 0])
    assert np.array_equal(grid[:SIZE, step:step + SIZE], pairs[0, 1])
    assert np.array_equal(grid[step:step + SIZE, 3 * step:3 * step + SIZE], pairs[5, 1])
    unused = [grid[step:step + SIZE, col * step:col * step + SIZE] for col in range(4, 8)]
    assert not np.any(unused)  # the two unused pairs stay black


def test_evaluate_reports_the_check_and_draws_the_closest_samples(own_trained_run, tmp_path):
    """The first evaluation through main.py (the suite's one successful --evaluate there: exit
    status 0, the report on stdout), the held-out one in-process (its record is the subject).
    A copy of the run: evaluating writes a record beside its checkpoints."""
    workdir, _ = own_trained_run
    args = ["--evaluate", "--eval_num", "32", "--ndb_k", "8", "--sample_dir", str(tmp_path)]
    result = run_main(args, workdir)
    assert result.returncode == 0, result.stderr
    assert "memorisation: nearest training image" in result.stdout
    assert "samples closer than 95% of real" in result.stdout
    record = json.loads(Path(result.stdout.split()[-1]).read_text())
    assert record["nearest_held_out"] == "leave-one-out"
    assert record["nearest_training_images"] == 64
    assert 0 < record["nearest_fake_median"] < 1 and 0 < record["nearest_real_median"] < 1
    grid = imageio.imread(tmp_path / "anime_8_16_16" / "nearest_00032_n32_k8_seed0.png")
    assert grid.shape == (4 * 18 - GAP, 8 * 18 - GAP, 3)  # 16 pairs of 16 px pictures
    # Against a held-out folder: its pictures are the real side of the comparison.
    held_out = copy_photos(tmp_path / "held_out", 64, start=200)
    with_folder = main_in_process([*args, "--eval_data", str(held_out)], workdir)
    assert with_folder.returncode == 0, with_folder.stderr
    record = json.loads(Path(with_folder.stdout.split()[-1]).read_text())
    assert record["nearest_held_out"] == "held-out folder"
