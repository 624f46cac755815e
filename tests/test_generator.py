"""The Python API (`from dcgan import Generator`) on real trained runs, called as a user would."""

import json
import shutil
import subprocess
import sys

import imageio.v2 as imageio
import numpy as np
import pytest
from helpers import REPO, files_under, main_in_process

import dcgan
from dcgan import Generator, UsageError, latent, to_pil
from dcgan.grids import to_uint8
from dcgan.session import TrainedGenerator

SIZE = 16  # conftest's TINY_FLAGS output size


def test_import_dcgan_does_not_load_tensorflow():
    probe = ("import sys, dcgan\nfrom dcgan import Generator, UsageError, to_pil\n"
             "print(sorted(m for m in ('tensorflow', 'keras') if sys.modules.get(m)))")
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
    assert {"Generator", "to_pil", "UsageError"} <= set(dir(dcgan))
    with pytest.raises(AttributeError):
        dcgan.NoSuchThing  # noqa: B018  (the lookup is the test)


def test_a_run_found_by_folder_name_dataset_or_newest_draws_the_same_pictures(trained_run,
                                                                              monkeypatch):
    workdir, run = trained_run
    monkeypatch.chdir(workdir)
    ways = [Generator(), Generator(dataset="anime"), Generator("anime_8_16_16"),
            Generator(workdir / "checkpoints" / "anime_8_16_16"), Generator(run)]
    try:
        pictures = [generator.images(seeds=[5, 6]) for generator in ways]
        # The default recipe keeps an EMA of G, and a Generator draws from it.
        assert all(generator.step == 32 and generator.ema for generator in ways)
        assert ways[0].shape == (SIZE, SIZE, 3) and ways[0].z_dim == 16 and ways[0].labels == 0
    finally:
        for generator in ways:
            generator.close()
    assert pictures[0].dtype == np.uint8 and pictures[0].shape == (2, SIZE, SIZE, 3)
    assert all(np.array_equal(p, pictures[0]) for p in pictures[1:])
    assert not np.array_equal(pictures[0][0], pictures[0][1])
    with Generator("anime_8_16_16", checkpoint=16) as older:
        assert older.step == 16
        assert not np.array_equal(older.images(seeds=[5, 6]), pictures[0])


def test_a_seed_draws_the_picture_visualize_writes(trained_run, tmp_path):
    workdir, run = trained_run
    result = main_in_process(["--visualize", "--mode", "files", "--seed", "40", "--num_samples",
                              "2", "--sample_dir", str(tmp_path)], workdir)
    assert result.returncode == 0, result.stderr
    written = [imageio.imread(path) for path in result.stdout.split()]
    with Generator(run) as generator:
        assert np.array_equal(generator.images(seeds=[40, 41]), np.stack(written))
        assert np.array_equal(generator.image(41), written[1])


def test_any_batch_size_and_vectors_or_seeds_alike(trained_run):
    _, run = trained_run
    with Generator(run) as generator:
        many = generator.images(seeds=range(300))  # more than one 256-vector session call
        assert many.shape == (300, SIZE, SIZE, 3)
        assert np.array_equal(generator.images(seeds=[299, 7]), many[[299, 7]])
        assert generator.images(seeds=[]).shape == (0, SIZE, SIZE, 3)
        z = generator.latents([3, 4])
        assert z.shape == (2, 16) and z.dtype == np.float32
        assert np.array_equal(generator.images(z=z), many[3:5])
        assert not np.array_equal(generator.images(z=-z), many[3:5])


def test_interpolation_runs_from_seed_to_seed(trained_run):
    _, run = trained_run
    with Generator(run) as generator:
        ends = generator.images(seeds=[3, 17, 42])
        for kind in ("slerp", "lerp"):
            walk = generator.interpolate([3, 17, 42], steps=4, kind=kind)
            assert walk.shape == (7, SIZE, SIZE, 3)
            assert np.array_equal(walk[[0, 3, 6]], ends)
            assert not np.array_equal(walk[1], walk[0])


def test_pil_images(trained_run):
    _, run = trained_run
    with Generator(run) as generator:
        pictures = generator.images(seeds=[1, 2])
    first, second = to_pil(pictures)
    assert first.size == (SIZE, SIZE) and first.mode == "RGB"
    assert np.array_equal(np.asarray(second), pictures[1])
    assert np.array_equal(np.asarray(to_pil(pictures[0])), pictures[0])


def test_the_context_manager_closes_the_session(trained_run):
    _, run = trained_run
    with Generator(run) as generator:
        generator.image(1)
    with pytest.raises(UsageError, match="closed"):
        generator.image(1)
    generator.close()  # a second close is harmless


def test_discriminator_scores_when_asked_for(trained_run):
    _, run = trained_run
    with Generator(run, discriminator=True) as generator:
        pictures, scores = generator.images_and_scores(seeds=range(4))
        assert np.array_equal(pictures, generator.images(seeds=range(4)))
        assert scores.shape == (4,) and np.isfinite(scores).all()
    with Generator(run) as generator, pytest.raises(UsageError, match="discriminator=True"):
        generator.images_and_scores(seeds=[1])


def _refused(match, **kwargs):
    with pytest.raises(UsageError, match=match):
        Generator(**kwargs).close()


def test_bad_runs_are_one_clear_error(trained_run, tmp_path, monkeypatch):
    workdir, _ = trained_run
    monkeypatch.chdir(workdir)
    _refused(r"no run 'nope'.*its runs: anime_8_16_16", run="nope")
    _refused(r"no trained checkpoint of mnist in checkpoints/", dataset="mnist")
    _refused(r"is a run of anime, not mnist", run="anime_8_16_16", dataset="mnist")
    _refused(r"no checkpoint 20 in .*\(16, 32\)", checkpoint=20)
    _refused(r"precision must be one of", precision="fp16")
    # A run folder whose checkpoints are gone.
    empty = tmp_path / "checkpoints" / "empty"
    empty.mkdir(parents=True)
    shutil.copy(workdir / "checkpoints" / "anime_8_16_16" / "run.json", empty)
    # A run trained without an EMA (as `--recipe carpedm20` trains) has no averages to draw.
    plain = tmp_path / "checkpoints" / "plain"
    shutil.copytree(workdir / "checkpoints" / "anime_8_16_16", plain)
    saved = json.loads((plain / "run.json").read_text())
    (plain / "run.json").write_text(json.dumps({**saved, "ema": 0.0, "ema_start": 0}))
    before = files_under(tmp_path)
    _refused(r"no checkpoint in .*empty/: train first", run=empty)
    _refused(r"trained without --ema", run=plain, ema=True)
    assert files_under(tmp_path) == before


@pytest.mark.parametrize(("request_", "match"), [
    ({"seeds": [-1]}, r"seed -1 is outside 0\.\.4294967295"),
    ({"seeds": [2 ** 32]}, r"seed 4294967296 is outside"),
    ({"seeds": [1.5]}, "seeds are whole numbers"),
    ({"z": np.zeros((2, 3))}, r"z must be \[n, 16\]"),
    ({"z": np.full((1, 16), np.nan)}, "NaN"),
    ({"seeds": [1], "z": np.zeros((1, 16))}, "give seeds or z"),
    ({}, "give seeds or z"),
    ({"seeds": [1], "label": 3}, "trained without labels"),
])
def test_bad_requests_are_one_clear_error(trained_run, request_, match):
    _, run = trained_run
    with Generator(run) as generator, pytest.raises(UsageError, match=match):
        generator.images(**request_)


def test_bad_interpolations_are_one_clear_error(trained_run):
    _, run = trained_run
    with Generator(run) as generator:
        for kwargs, match in (({"seeds": [1]}, "two seeds or more"),
                              ({"seeds": [1, 2], "kind": "cubic"}, "kind must be one of"),
                              ({"seeds": [1, 2], "steps": 1}, "steps must be")):
            with pytest.raises(UsageError, match=match):
                generator.interpolate(**kwargs)


# --- the truncation trick --------------------------------------------------------------------

def test_truncation_one_draws_todays_pixels_and_less_varies_less(trained_run):
    _, run = trained_run
    seeds = range(32)
    with TrainedGenerator(run) as trained:  # the path every picture took before truncation
        today = to_uint8(trained.generate(latent.seeds_z(seeds, 16, run.model.z_dist)))
    spread = {}
    for psi in (1.0, 0.5, 0.1):
        with Generator(run, truncation=psi) as generator:
            assert generator.truncation == psi
            pictures = generator.images(seeds=seeds)
            # The vectors are pulled as they are drawn; latents() gives them untouched.
            assert np.array_equal(generator.latents([3]), latent.seeds_z([3], 16))
        if psi == 1.0:
            assert np.array_equal(pictures, today)
        # Per-pixel variance across the seeds, averaged over the picture.
        spread[psi] = pictures.astype(np.float64).var(axis=0).mean()
    assert spread[1.0] > spread[0.5] > spread[0.1] > 0, spread


def test_truncation_pulls_towards_each_distributions_mean():
    z = np.array([[0.0, 1.0]], np.float32)
    assert latent.truncate(z, 0.5, "uniform_unsigned").tolist() == [[0.25, 0.75]]
    assert latent.truncate(z, 0.5, "uniform_signed").tolist() == [[0.0, 0.5]]
    assert latent.truncate(z, 0.5, "normal01").tolist() == [[0.0, 0.5]]
    assert latent.truncate(z, 1.0, "uniform_unsigned").tolist() == z.tolist()


@pytest.mark.parametrize("psi", [0, -0.5, 1.5, float("nan"), "0.7", True])
def test_a_bad_truncation_is_one_clear_error(trained_run, psi):
    _, run = trained_run
    with pytest.raises(UsageError, match=r"truncation must be a number in \(0, 1\]"):
        Generator(run, truncation=psi)


def test_projection_refuses_a_truncated_generator(trained_run):
    with Generator(trained_run[1], truncation=0.5) as generator, \
            pytest.raises(UsageError, match="project needs truncation=1"):
        generator.project(np.zeros(generator.shape, np.uint8))


# --- a conditional run with averaged weights -------------------------------------------------

@pytest.fixture
def mnist_ema_run(mnist_run):
    """conftest's tiny conditional MNIST run, which keeps an EMA: its run folder."""
    return mnist_run / "checkpoints" / "mnist_8_28_28"


def test_averaged_weights_are_drawn_when_the_run_has_them(mnist_ema_run):
    with Generator(mnist_ema_run) as averaged, Generator(mnist_ema_run, ema=False) as raw:
        assert averaged.ema and not raw.ema
        assert not np.array_equal(averaged.images(seeds=range(4)), raw.images(seeds=range(4)))


def test_labels_pick_the_digit(mnist_ema_run):
    with Generator(mnist_ema_run) as generator:
        assert generator.labels == 10 and generator.shape == (28, 28, 1)
        # By default the picture of seed s is digit s % 10.
        default = generator.images(seeds=[13, 14])
        assert np.array_equal(default, generator.images(seeds=[13, 14], labels=[3, 4]))
        sevens = generator.images(seeds=[13, 14], label=7)
        assert not np.array_equal(sevens, default)
        assert np.array_equal(sevens[1], generator.image(14, label=7))
        walk = generator.interpolate([13, 20], steps=3)  # the first seed's digit, 3, throughout
        assert np.array_equal(walk[[0, -1]], generator.images(seeds=[13, 20], label=3))
        assert to_pil(default[0]).mode == "L"
        for kwargs, match in (({"label": 10}, "digits 0-9"), ({"labels": [1]}, "one digit per"),
                              ({"label": 1, "labels": [1, 2]}, "not both")):
            with pytest.raises(UsageError, match=match):
                generator.images(seeds=[1, 2], **kwargs)
