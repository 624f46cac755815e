"""Known-answer tests for dcgan.metrics on real anime faces from ../shared."""

import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage, stats

from dcgan import metrics

FACES_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "anime_faces"


def _load_faces(count, size, offset=0):
    if not FACES_DIR.is_dir():
        pytest.skip(f"real face data not found at {FACES_DIR} (shared/ is not beside the checkout)")
    # Sorted by number so every run uses the same images.
    paths = sorted(FACES_DIR.glob("*.jpg"), key=lambda p: int(p.stem))[offset:offset + count]
    if len(paths) < count:
        pytest.skip(f"need {count} face images in {FACES_DIR}, found {len(paths)}")
    return np.stack([np.asarray(Image.open(p).convert("RGB").resize((size, size),
                                                                    Image.BILINEAR))
                     for p in paths])


@pytest.fixture(scope="module")
def faces32():
    return _load_faces(512, 32)


@pytest.fixture(scope="module")
def faces48():
    return _load_faces(256, 48)


def _blur(images, sigma):
    out = ndimage.gaussian_filter(images.astype(np.float64), sigma=(0, sigma, sigma, 0))
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


# --- Laplacian pyramid ---------------------------------------------------------------------

def _reference_kernel():
    k = np.array([1.0, 4.0, 6.0, 4.0, 1.0])
    return np.outer(k, k) / 256.0


def test_pyramid_ops_match_scipy_mirror_convolution():
    # ProGAN's definition written directly with scipy's 2-D convolution in "mirror" mode.
    x = np.random.default_rng(0).uniform(0, 255, (2, 16, 12, 3)).astype(np.float32)
    kernel = _reference_kernel()[None, :, :, None]
    down_ref = ndimage.convolve(x, kernel, mode="mirror")[:, ::2, ::2]
    np.testing.assert_allclose(metrics.pyr_down(x), down_ref, rtol=1e-5, atol=1e-3)
    small = down_ref.astype(np.float32)
    zeros = np.zeros((2, 16, 12, 3), np.float32)
    zeros[:, ::2, ::2] = small
    up_ref = ndimage.convolve(zeros, kernel * 4.0, mode="mirror")
    np.testing.assert_allclose(metrics.pyr_up(small), up_ref, rtol=1e-5, atol=1e-3)


def test_laplacian_pyramid_reconstructs_and_keeps_levels_from_16():
    assert metrics.swd_level_shapes(64, 64) == [(64, 64), (32, 32), (16, 16)]
    assert metrics.swd_level_shapes(48, 48) == [(48, 48), (24, 24)]
    assert metrics.swd_level_shapes(28, 28) == [(28, 28)]
    with pytest.raises(ValueError):
        metrics.swd_level_shapes(15, 15)
    x = np.random.default_rng(1).integers(0, 256, (3, 48, 48, 3), dtype=np.uint8)
    lap = metrics.laplacian_pyramid(x, 2)
    assert [lvl.shape[1:3] for lvl in lap] == [(48, 48), (24, 24)]
    np.testing.assert_allclose(lap[0] + metrics.pyr_up(lap[1]), x, atol=1e-3)


# --- sliced Wasserstein core ---------------------------------------------------------------

@pytest.mark.parametrize("sizes", [(500, 500), (300, 700)])
def test_sliced_wasserstein_in_1d_equals_scipy_wasserstein(sizes):
    # With one-dimensional points every unit direction is +1 or -1, and W1 is invariant to a
    # sign flip, so SWD must equal the ordinary 1-D Wasserstein-1 distance.
    rng = np.random.default_rng(2)
    a = rng.normal(0.0, 1.0, (sizes[0], 1))
    b = rng.gamma(2.0, 1.0, (sizes[1], 1))
    expected = stats.wasserstein_distance(a[:, 0], b[:, 0])
    got = metrics.sliced_wasserstein(a, b, repeats=2, dirs_per_repeat=8)
    assert got == pytest.approx(expected, rel=1e-5)


def test_sliced_wasserstein_of_a_shifted_cloud_matches_the_analytic_value():
    # Shifting every point by v shifts each projection on unit d by <v, d> without reordering,
    # so SWD = E|<v, d>| = |v| * E|d_1| with d uniform on the sphere of dimension D, where
    # E|d_1| = Gamma(D/2) / (sqrt(pi) * Gamma((D+1)/2)).
    dim, shift = 4, 3.0
    a = np.random.default_rng(3).normal(size=(2000, dim))
    b = a.copy()
    b[:, 0] += shift
    expected = shift * math.gamma(dim / 2) / (math.sqrt(math.pi) * math.gamma((dim + 1) / 2))
    got = metrics.sliced_wasserstein(a, b, repeats=4, dirs_per_repeat=4096)
    assert got == pytest.approx(expected, rel=0.02)


# --- SWD on images -------------------------------------------------------------------------

def test_swd_of_identical_sets_is_zero(faces32):
    result = metrics.swd(faces32[:128], faces32[:128], seed=5)
    assert set(result) == {"swd_32", "swd_16", "swd_avg"}
    assert all(v == 0.0 for v in result.values())


def test_swd_is_repeatable_for_a_seed(faces32):
    first = metrics.swd(faces32[:64], faces32[64:128], seed=7)
    assert metrics.swd(faces32[:64], faces32[64:128], seed=7) == first


def test_swd_grows_with_blur(faces32):
    real = faces32[:128]
    scores = [metrics.swd(_blur(real, s), real)["swd_avg"] for s in (0.5, 1.0, 2.0)]
    floor = metrics.swd(faces32[128:256], real)["swd_avg"]
    assert 0.0 < scores[0] < scores[1] < scores[2]
    assert scores[2] > 3 * floor


def test_swd_of_a_shifted_copy_is_above_zero_but_near_the_floor(faces32):
    real = faces32[:128]
    shifted = metrics.swd(np.roll(real, 3, axis=(1, 2)), real)["swd_avg"]
    floor = metrics.swd(faces32[128:256], real)["swd_avg"]
    # The same faces seen at other patch positions: a small distance, of the floor's order.
    assert 0.0 < shifted < 3 * floor


def test_swd_noise_vs_faces_is_far_above_faces_vs_other_faces(faces48):
    real_a, real_b = faces48[:128], faces48[128:]
    noise = np.random.default_rng(4).integers(0, 256, real_a.shape, dtype=np.uint8)
    floor = metrics.swd(real_b, real_a)
    far = metrics.swd(noise, real_a)
    assert set(floor) == {"swd_48", "swd_24", "swd_avg"}
    for key in floor:
        assert far[key] > 5 * floor[key]


def test_swd_accepts_unequal_set_sizes_and_grey_images(faces32):
    grey = faces32.mean(axis=3).astype(np.uint8)  # (N, H, W): read as one channel
    result = metrics.swd(grey[:100], grey[100:300])
    assert result["swd_avg"] > 0.0 and math.isfinite(result["swd_avg"])


def test_inputs_are_validated(faces32):
    with pytest.raises(TypeError):
        metrics.swd(faces32[:8].astype(np.float32), faces32[:8])
    with pytest.raises(ValueError):
        metrics.swd(faces32[:8], faces32[:8, :16, :16])


# --- NDB -----------------------------------------------------------------------------------

def test_ndb_flags_a_set_with_one_cluster_removed(faces32):
    real, query = faces32[:256], faces32[256:512]
    bins = metrics.ndb_fit(real, k=8, seed=0)
    intact = metrics.ndb_score(bins, query)
    assert intact["ndb"] <= 1

    labels = metrics._nearest_centroid(metrics.pixel_features(query, bins.max_side),
                                       bins.centroids)
    dropped = int(np.bincount(labels, minlength=8).argmax())
    missing = metrics.ndb_score(bins, query[labels != dropped])
    assert dropped in missing["different_bins"]
    assert missing["ndb_over_k"] == missing["ndb"] / 8
    assert missing["js"] > intact["js"]


def test_ndb_of_noise_flags_most_bins(faces32):
    noise = np.random.default_rng(6).integers(0, 256, (256, 32, 32, 3), dtype=np.uint8)
    result = metrics.ndb(noise, faces32[:256], k=10, seed=0)
    assert result["ndb_over_k"] >= 0.5
    assert 0.0 < result["js"] <= math.log(2) + 1e-12


# --- MS-SSIM -------------------------------------------------------------------------------

def test_ms_ssim_of_identical_pairs_is_one(faces48):
    np.testing.assert_allclose(metrics.ms_ssim(faces48[:16], faces48[:16]), 1.0, atol=1e-12)


def test_single_scale_ms_ssim_matches_skimage_ssim(faces48):
    from skimage.metrics import structural_similarity

    a = faces48[:4, :16, :16]
    b = faces48[4:8, :16, :16]
    assert metrics.ms_ssim_scales(16, 16) == 1
    expected = [structural_similarity(x, y, channel_axis=2, data_range=255, gaussian_weights=True,
                                      sigma=1.5, use_sample_covariance=False)
                for x, y in zip(a, b, strict=True)]
    # Negative means are clipped to 0 by design (fractional powers of negatives are undefined).
    np.testing.assert_allclose(metrics.ms_ssim(a, b), np.maximum(expected, 0.0), rtol=1e-6)


def test_ms_ssim_scales_and_monotonic_in_blur(faces48):
    assert [metrics.ms_ssim_scales(s, s) for s in (28, 48, 96, 176)] == [2, 3, 4, 5]
    real = faces48[:16]
    scores = [metrics.ms_ssim(real, _blur(real, s)).mean() for s in (0.5, 1.0, 2.0)]
    assert 1.0 > scores[0] > scores[1] > scores[2] > 0.0


def test_ms_ssim_diversity_exposes_mode_collapse(faces48):
    real = faces48
    # A collapsed generator: one face repeated with slight pixel noise.
    jitter = np.random.default_rng(8).integers(-4, 5, real.shape)
    collapsed = np.clip(real[:1].astype(int) + jitter, 0, 255).astype(np.uint8)
    real_div = metrics.ms_ssim_diversity(real, n_pairs=200)
    collapsed_div = metrics.ms_ssim_diversity(collapsed, n_pairs=200)
    assert collapsed_div > 0.9 > real_div


def test_ms_ssim_terms_say_which_scale_a_shared_pattern_lives_at(faces48):
    """A fine pattern at the same place in every face (a generator's one layout of edges)
    raises the finest scale's term of the diversity pairs far more than the coarsest."""
    real = faces48
    fine = np.random.default_rng(9).normal(0, 24, real.shape[1:])
    stamped = np.clip(real + fine, 0, 255).astype(np.uint8)
    before = metrics.ms_ssim_diversity_terms(real, n_pairs=200).mean(axis=0)
    after = metrics.ms_ssim_diversity_terms(stamped, n_pairs=200).mean(axis=0)
    assert before.shape == (metrics.ms_ssim_scales(48, 48),)
    assert after[0] - before[0] > 0.2
    assert abs(after[-1] - before[-1]) < 0.05
    # The diversity score is the weighted product of exactly these pairs' terms.
    assert metrics.ms_ssim_diversity(stamped, n_pairs=200) == pytest.approx(
        metrics.ms_ssim_from_terms(metrics.ms_ssim_diversity_terms(stamped, n_pairs=200)).mean())


# --- all together --------------------------------------------------------------------------

def test_evaluate_sets_reports_every_metric_beside_its_floor(faces32):
    real = faces32[:256]
    noise = np.random.default_rng(9).integers(0, 256, (200, 32, 32, 3), dtype=np.uint8)
    result = metrics.evaluate_sets(noise, real, seed=1, ndb_k=10, ms_ssim_pairs=100)
    assert result["n"] == 128 and result["ndb_bins"] == 10
    for key in ("swd_32", "swd_16", "swd_avg", "ndb_over_k", "ndb_js"):
        assert result[key] > result[key.replace("swd_", "swd_floor_", 1)
                                    if key.startswith("swd") else key + "_floor"]
    assert result["ms_ssim_fake"] < result["ms_ssim_real"]
    assert all(isinstance(v, (int, float)) for v in result.values())
    report = metrics.format_report(result)
    assert "real vs real" in report and "MS-SSIM" in report
    assert metrics.evaluate_sets(noise, real, seed=1, ndb_k=10, ms_ssim_pairs=100) == result


def test_evaluate_sets_on_real_faces_sits_at_its_floor(faces32):
    result = metrics.evaluate_sets(faces32[:256], faces32[256:512], seed=2, ndb_k=10,
                                   ms_ssim_pairs=100)
    # Both comparisons are real vs real at the same N: same order of magnitude.
    assert result["swd_avg"] < 2 * result["swd_floor_avg"]
    assert result["swd_floor_avg"] < 2 * result["swd_avg"]


def test_evaluate_sets_on_grey_images():
    grey = _load_faces(160, 28).mean(axis=3).astype(np.uint8)[..., None]
    result = metrics.evaluate_sets(grey[:60], grey[60:], ndb_k=5, ms_ssim_pairs=50)
    assert {k for k in result if k.startswith("swd")} == {
        "swd_28", "swd_avg", "swd_floor_28", "swd_floor_avg"}
