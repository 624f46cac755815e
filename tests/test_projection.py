"""Projection (`Generator.project`, `--visualize --mode project`) on conftest's tiny run."""

import imageio.v2 as imageio
import numpy as np
import pytest
from helpers import files_under, main_in_process

from dcgan import Generator, UsageError, grids, latent
from dcgan.data import load_target
from dcgan.projection import pixel_distance

SIZE = 16  # conftest's TINY_FLAGS output size


def test_a_picture_the_generator_made_projects_much_closer_than_random_samples(trained_run):
    _, run = trained_run
    with Generator(run) as generator:
        target = generator.image(4242)  # not one of the restarts' seeds 0-3
        found = generator.project(target, restarts=4, steps=150)
        random = pixel_distance(generator.images(seeds=range(100, 132)), target)
        low, high = latent.bounds(run.model.z_dist)
        assert found.z.shape == (16,) and low <= found.z.min() and found.z.max() <= high
        assert np.array_equal(generator.images(z=found.z[np.newaxis])[0], found.image)
    assert found.distance == pytest.approx(pixel_distance(found.image, target))
    assert found.distance < 0.25 * random.mean(), (found.distance, random.mean())
    assert found.distance < 0.5 * random.min(), (found.distance, random.min())
    # The search starts at seed 0's picture (restart 0 or another one) and ends on the result.
    assert found.frames.shape[1:] == (SIZE, SIZE, 3) and np.array_equal(found.frames[-1],
                                                                        found.image)
    assert pixel_distance(found.frames[0], target) > found.distance


def _project(workdir, *args):
    return main_in_process(["--dataset", "anime", "--name", "anime_8_16_16", "--visualize",
                            "--mode", "project", *args], workdir)


def test_the_command_line_writes_the_pair_the_vector_and_the_search(trained_run, tmp_path):
    workdir, run = trained_run
    target = tmp_path / "face.png"  # 96 px, as the run's crop needs: one of G's enlarged
    with Generator(run) as generator:
        imageio.imwrite(target, grids.enlarge(generator.image(77), 6))
    result = _project(workdir, "--image", str(target), "--sample_dir", str(tmp_path / "out"),
                      "--scale", "2")
    assert result.returncode == 0, result.stderr
    pair, vector, search = result.stdout.split()
    assert pair.endswith("project_00032_face.png") and vector.endswith("project_00032_face_z.npy")
    assert search.endswith("project_00032_face.gif")
    side_by_side = imageio.imread(pair)
    assert side_by_side.shape[0] == 2 * SIZE and side_by_side.shape[1] > 4 * SIZE
    assert np.array_equal(side_by_side[::2, :2 * SIZE:2], load_target(target, run.spec))
    z = np.load(vector)
    with Generator(run) as generator:
        projected = generator.images(z=z[np.newaxis])[0]
    assert np.array_equal(side_by_side[::2, -2 * SIZE::2], projected)
    assert len(imageio.mimread(search)) > 2


@pytest.mark.parametrize("target, message", [
    ("missing.png", "missing.png is not a picture file"),
    ("notes.png", "notes.png cannot be used as a picture (files that do not decode)"),
    (".", ". is not a picture file"),
])
def test_a_target_that_is_not_a_picture_is_one_error_and_nothing_is_written(
        trained_run, tmp_path, target, message):
    workdir, _ = trained_run
    (tmp_path / "notes.png").write_text("not a picture")
    before = files_under(tmp_path)
    result = _project(workdir, "--image", str(tmp_path / target), "--sample_dir",
                      str(tmp_path / "out"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == f"error: {tmp_path / target} " + \
        message.split(" ", 1)[1] + ": name a PNG or JPEG picture"
    assert files_under(tmp_path) == before


def test_image_belongs_to_project_and_project_needs_it(trained_run):
    workdir, _ = trained_run
    result = _project(workdir)
    assert result.returncode == 2 and "--mode project needs --image" in result.stderr
    result = main_in_process(["--dataset", "anime", "--visualize", "--image", "x.png"], workdir)
    assert result.returncode == 2 and "--image has no effect with --mode grid" in result.stderr


def test_bad_api_targets_are_usage_errors(trained_run, tmp_path):
    _, run = trained_run
    with Generator(run) as generator:
        with pytest.raises(UsageError, match="uint8 array of shape"):
            generator.project(np.zeros((8, 8, 3), np.uint8))
        with pytest.raises(UsageError, match="is not a picture file"):
            generator.project(tmp_path / "missing.jpg")
        with pytest.raises(UsageError, match="restarts must be"):
            generator.project(generator.image(1), restarts=0)
