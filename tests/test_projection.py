"""Projection (`Generator.project`, `--visualize --mode project`) on conftest's tiny run, and
the handle of its vector (`dcgan.latent.to_handle`), in Python and in the page's seeds.js."""

import json
import shutil

import imageio.v2 as imageio
import numpy as np
import pytest
from helpers import files_under, main_in_process, node_module, refusal

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


def test_the_command_line_writes_the_pair_the_vector_its_handle_and_the_search(trained_run,
                                                                               tmp_path):
    workdir, run = trained_run
    target = tmp_path / "face.png"  # 96 px, as the run's crop needs: one of G's enlarged
    with Generator(run) as generator:
        imageio.imwrite(target, grids.enlarge(generator.image(77), 6))
    result = _project(workdir, "--image", str(target), "--sample_dir", str(tmp_path / "out"),
                      "--scale", "2", "--restarts", "2", "--project_steps", "40")
    assert result.returncode == 0, result.stderr
    pair, vector, handle_file, search = result.stdout.split()
    assert pair.endswith("project_00032_face.png") and vector.endswith("project_00032_face_z.npy")
    assert handle_file.endswith("project_00032_face_z.txt")
    assert search.endswith("project_00032_face.gif")
    side_by_side = imageio.imread(pair)
    assert side_by_side.shape[0] == 2 * SIZE and side_by_side.shape[1] > 4 * SIZE
    assert np.array_equal(side_by_side[::2, :2 * SIZE:2], load_target(target, run.spec))
    z = np.load(vector)
    with open(handle_file) as written:
        handle = written.read().strip()
    assert handle in result.stderr  # shown as well as written
    assert np.array_equal(latent.from_handle(handle, 16), z.astype(np.float16).astype(np.float32))
    with Generator(run) as generator:
        projected = generator.images(z=z[np.newaxis])[0]
        from_handle = generator.images(z=handle)[0]  # the API takes the handle as it is
    assert np.array_equal(side_by_side[::2, -2 * SIZE::2], projected)
    # float16 moves z by 0.0005 at most: the handle's picture is the projection's, give or take
    # a pixel level.
    assert np.abs(from_handle.astype(int) - projected).max() <= 2
    assert len(imageio.mimread(search)) > 2


def _refused_projection(workdir, monkeypatch, *args):
    """The one line `--mode project ARGS` is refused with in `workdir` (before TensorFlow)."""
    monkeypatch.chdir(workdir)
    return refusal(["--dataset", "anime", "--name", "anime_8_16_16", "--visualize", "--mode",
                    "project", *args])


@pytest.mark.parametrize("target, message", [
    ("missing.png", "missing.png is not a picture file"),
    ("notes.png", "notes.png cannot be used as a picture (files that do not decode)"),
    ("cut.png", "cut.png cannot be used as a picture (files that do not decode)"),
    (".", ". is not a picture file"),
])
def test_a_target_that_is_not_a_picture_is_one_error_and_nothing_is_written(
        trained_run, tmp_path, monkeypatch, target, message):
    workdir, _ = trained_run
    (tmp_path / "notes.png").write_text("not a picture")
    whole = tmp_path / "whole.png"
    imageio.imwrite(whole, np.random.default_rng(0).integers(0, 256, (96, 96, 3), np.uint8))
    (tmp_path / "cut.png").write_bytes(whole.read_bytes()[:whole.stat().st_size // 2])
    before = files_under(tmp_path)
    line = _refused_projection(workdir, monkeypatch, "--image", str(tmp_path / target),
                               "--sample_dir", str(tmp_path / "out"))
    assert line == f"{tmp_path / target} " + message.split(" ", 1)[1] + \
        ": name a PNG or JPEG picture"
    assert files_under(tmp_path) == before


def test_a_run_without_checkpoints_is_one_error_and_nothing_is_written(trained_run, tmp_path):
    workdir, run = trained_run
    empty = tmp_path / "checkpoints" / run.run_name
    empty.mkdir(parents=True)
    shutil.copy(f"{run.run_checkpoint_dir}/run.json", empty)  # the run, its training lost
    target = tmp_path / "face.png"
    imageio.imwrite(target, np.full((96, 96, 3), 128, np.uint8))
    before = files_under(tmp_path)
    # Checkpoints are looked for once TensorFlow has started: in-process, not `refusal`.
    result = _project(workdir, "--image", str(target), "--checkpoint_dir",
                      str(tmp_path / "checkpoints"), "--sample_dir", str(tmp_path / "out"))
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip() == f"error: no checkpoint in {empty}/: train first with " \
        "`python main.py --dataset anime --name anime_8_16_16 --train`"
    assert files_under(tmp_path) == before


@pytest.mark.parametrize("args, message", [
    ([], "--mode project needs --image"),
    (["--restarts", "0"], "--restarts must be a positive number, not 0"),
    (["--restarts", "257"], "--restarts 257 is more than 256 at once"),
    (["--project_steps", "-1"], "--project_steps must be 0-100000"),
])
def test_bad_projection_flags_are_refused_before_tensorflow(trained_run, monkeypatch, args,
                                                            message):
    workdir, _ = trained_run
    assert message in _refused_projection(workdir, monkeypatch, *args)


@pytest.mark.parametrize("flag", ["image", "restarts", "project_steps"])
def test_the_projection_flags_belong_to_project(trained_run, monkeypatch, flag):
    workdir, _ = trained_run
    monkeypatch.chdir(workdir)
    line = refusal(["--dataset", "anime", "--visualize", f"--{flag}", "3"])
    assert line.startswith(f"--{flag} has no effect with --mode grid; it is for --mode project")


def test_bad_api_targets_are_usage_errors(trained_run, tmp_path):
    _, run = trained_run
    with Generator(run) as generator:
        with pytest.raises(UsageError, match="uint8 array of shape"):
            generator.project(np.zeros((8, 8, 3), np.uint8))
        with pytest.raises(UsageError, match="is not a picture file"):
            generator.project(tmp_path / "missing.jpg")
        with pytest.raises(UsageError, match="restarts must be"):
            generator.project(generator.image(1), restarts=0)
        with pytest.raises(UsageError, match="holds 8 numbers and this run's z has 16"):
            generator.images(z=latent.to_handle(np.zeros(8)))


# Vectors whose float16 values cover the format: the latent ranges, signed zeros, subnormals,
# the largest float16 and values that round (ties to even, below float16's resolution).
EDGES = np.array([-3.0, 3.0, -1.0, 1.0, 0.0, -0.0, 2.0 ** -24, -(2.0 ** -20), 65504.0,
                  0.1, 1 / 3, 1.0 + 2.0 ** -11, 0.99951171875], np.float32)


def _vectors():
    rng = np.random.default_rng(23)
    return [EDGES, rng.uniform(-1, 1, 100).astype(np.float32),
            rng.normal(0, 1, 7).astype(np.float32)]


@pytest.mark.parametrize("z", _vectors(), ids=["edges", "uniform100", "normal7"])
def test_a_handle_gives_back_its_vector_to_float16_round_off(z):
    handle = latent.to_handle(z)
    assert handle.startswith(latent.HANDLE_PREFIX) and handle.isascii()
    assert all(char.isalnum() or char in "._-" for char in handle)  # safe in an address
    back = latent.from_handle(f"  {handle}\n", len(z))  # pasted with blanks around it
    assert back.dtype == np.float32 and np.array_equal(back, z.astype(np.float16))
    assert np.array_equal(np.signbit(back), np.signbit(z))
    assert np.all(np.abs(back - z) <= np.abs(z) * 2.0 ** -11)  # float16's 11 significant bits
    assert latent.to_handle(back) == handle


def _damaged(handle):
    return [handle[:-1], handle[:-4], handle[:-8], handle + "A", handle[:10] + "*" + handle[11:],
            latent.HANDLE_PREFIX]


def test_a_text_that_is_no_handle_is_refused_saying_why():
    handle = latent.to_handle(np.linspace(-1, 1, 16))
    with pytest.raises(UsageError, match="'12345' is not a z handle: a handle starts with"):
        latent.from_handle("12345", 16)
    for damaged in _damaged(handle):
        with pytest.raises(UsageError, match=r"damaged \(cut short or mistyped\): copy it whole"):
            latent.from_handle(damaged, 16)
    with pytest.raises(UsageError, match="holds 16 numbers and this run's z has 100"):
        latent.from_handle(handle, 100)
    with pytest.raises(UsageError, match="beyond float16's range"):
        latent.to_handle(np.array([1.0, 70000.0]))


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_the_page_reads_a_handle_as_python_does():
    vectors = _vectors()
    handles = [latent.to_handle(z) for z in vectors]
    bad = [*_damaged(handles[1]), "12345x", latent.to_handle(np.zeros(3))]
    script = ("const read = (text, zDim) => { try { return Array.from(zFor(readSource(text, zDim),"
              " zDim, 'uniform_signed')); } catch (error) { return error.message; } };"
              f"console.log(JSON.stringify([{json.dumps(handles)}.map((h, i) => read(h, "
              f"{[len(z) for z in vectors]}[i])), {json.dumps(bad)}.map((h) => read(h, 100)), "
              "read(' 42 ', 4)]));")
    decoded, refused, seed = node_module("seeds.js", ["readSource", "zFor"], script)
    for z, from_js in zip(vectors, decoded, strict=True):
        assert np.array_equal(np.asarray(from_js, np.float32), latent.from_handle(
            latent.to_handle(z)))
    assert all("damaged" in message for message in refused[:-2]), refused
    assert refused[-2].startswith("A seed is a whole number") and "holds 3 numbers" in refused[-1]
    assert np.array_equal(np.asarray(seed, np.float32), latent.seed_z(42, 4))
