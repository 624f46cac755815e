"""Image-set metrics that need no pretrained network (issue 6).

Every public function takes uint8 image arrays shaped (N, H, W, C) with C = 3 (RGB) or 1
(grey, e.g. MNIST; a plain (N, H, W) array is read as C = 1) and returns plain floats or dicts,
so the results can go straight into a log line, a CSV row or a TensorBoard summary.

- SWD: sliced Wasserstein distance on Laplacian-pyramid patches (Karras et al. 2018, ProGAN).
- NDB/K and JS: number of statistically different bins (Richardson & Weiss 2018).
- MS-SSIM diversity over random pairs (Wang et al. 2003, as used by Odena et al. 2017).

`evaluate_sets` runs all of them, each beside its real-vs-real floor at the same N.
Only numpy is needed at import time; scikit-learn is imported by the NDB k-means.
"""

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

# ---------------------------------------------------------------------------------------------
# Input handling


def _as_images(images, name="images"):
    """Validate a uint8 image batch and return it as (N, H, W, C)."""
    arr = np.asarray(images)
    # Floats are refused rather than guessed at: a generator's [-1, 1] output fed by mistake
    # would otherwise give plausible-looking but meaningless numbers.
    if arr.dtype != np.uint8:
        raise TypeError(f"{name} must be uint8 in [0, 255], got dtype {arr.dtype}")
    if arr.ndim == 3:
        arr = arr[..., np.newaxis]
    if arr.ndim != 4 or arr.shape[-1] not in (1, 3):
        raise ValueError(f"{name} must be shaped (N, H, W, C) with C in (1, 3), got {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty")
    return arr


def _check_same_geometry(a, b):
    if a.shape[1:] != b.shape[1:]:
        raise ValueError(f"image sets differ in (H, W, C): {a.shape[1:]} vs {b.shape[1:]}")


# ---------------------------------------------------------------------------------------------
# Laplacian pyramid (ProGAN's pyr_down / pyr_up, which match OpenCV's pyrDown / pyrUp)

# The 5x5 kernel [1,4,6,4,1]^T [1,4,6,4,1] / 256 is separable, so two 1-D passes do the work of
# one 2-D convolution at a fraction of the cost.
_BINOMIAL_1D = np.array([1.0, 4.0, 6.0, 4.0, 1.0], dtype=np.float32) / 16.0

_MIN_SWD_SIZE = 16


def _binomial_filter(x, axis, step):
    """Filter an (N, H, W, C) array along `axis` and keep every `step`-th output sample.

    numpy's "reflect" padding (d c b | a b c d | c b a) is scipy.ndimage's "mirror" mode, which
    is what ProGAN uses. Computing only the kept outputs makes the downsample half price.
    """
    size = x.shape[axis]
    pad = [(0, 0)] * x.ndim
    pad[axis] = (2, 2)
    padded = np.pad(x, pad, mode="reflect")
    n_out = len(range(0, size, step))
    out = None
    for offset, weight in enumerate(_BINOMIAL_1D):
        index = [slice(None)] * x.ndim
        index[axis] = slice(offset, offset + step * (n_out - 1) + 1, step)
        term = padded[tuple(index)] * weight
        if out is None:
            out = term
        else:
            out += term
    return out


def pyr_down(x):
    """Gaussian downsample of float (N, H, W, C): binomial filter, then every second pixel."""
    return _binomial_filter(_binomial_filter(x, 1, 2), 2, 2)


def pyr_up(x, shape=None):
    """Upsample float (N, H, W, C) by zero insertion and the binomial filter times 4.

    `shape` (H, W) crops the result, for odd sizes whose downsample rounded up.
    """
    n, h, w, c = x.shape
    up = np.zeros((n, 2 * h, 2 * w, c), dtype=x.dtype)
    up[:, ::2, ::2] = x
    # x4 restores the mean brightness lost to the three zeros inserted per pixel.
    up = _binomial_filter(_binomial_filter(up, 1, 1), 2, 1) * 4.0
    if shape is not None:
        up = up[:, : shape[0], : shape[1]]
    return up


def swd_level_shapes(height, width):
    """Pyramid level sizes used by SWD: from full size, halving while both sides are >= 16.

    As in ProGAN a level is kept only while it is at least 16 pixels, so 64 -> 64, 32, 16;
    48 -> 48, 24 (12 is dropped); 96 -> 96, 48, 24; 28 (MNIST) -> 28, 14 is dropped -> 28.
    Odd sizes round up, as taking every second pixel does.
    """
    shapes = []
    h, w = height, width
    while min(h, w) >= _MIN_SWD_SIZE:
        shapes.append((h, w))
        h, w = (h + 1) // 2, (w + 1) // 2
    if not shapes:
        raise ValueError(f"SWD needs images of at least {_MIN_SWD_SIZE}x{_MIN_SWD_SIZE}")
    return shapes


def laplacian_pyramid(images, num_levels):
    """Laplacian pyramid of a uint8 or float batch as a list of float32 (N, h, w, C) arrays.

    Level i is gaussian_i - pyr_up(gaussian_{i+1}); the last level is the gaussian level
    itself (the low-pass residual), exactly as ProGAN builds it. Values stay in the 0..255 scale
    (SWD normalises descriptors per channel afterwards, so the scale does not matter).
    """
    pyramid = [np.asarray(images, dtype=np.float32)]
    for _ in range(1, num_levels):
        pyramid.append(pyr_down(pyramid[-1]))
        pyramid[-2] = pyramid[-2] - pyr_up(pyramid[-1], pyramid[-2].shape[1:3])
    return pyramid


# ---------------------------------------------------------------------------------------------
# Sliced Wasserstein distance

_NHOOD_SIZE = 7
_NHOODS_PER_IMAGE = 128
_DIR_REPEATS = 4
_DIRS_PER_REPEAT = 128

# Seeds are built as [seed, stream, level] so that each random stream is fixed by the user's
# seed alone, whatever else is computed in the same call.
_STREAM_PATCHES, _STREAM_DIRECTIONS, _STREAM_SPLIT, _STREAM_PAIRS = range(4)


def _patch_positions(rng, count, height, width):
    half = _NHOOD_SIZE // 2
    # Centres from [half, size - half) keep the whole 7x7 patch inside the image, as ProGAN.
    ys = rng.integers(half, height - half, size=count)
    xs = rng.integers(half, width - half, size=count)
    return ys, xs


def swd_descriptors(level, seed=0, level_index=0, nhoods_per_image=_NHOODS_PER_IMAGE):
    """Random 7x7 patches of one pyramid level, normalised per colour channel.

    Returns a float32 (N * nhoods_per_image, 7 * 7 * C) array. Patch positions depend only on
    (seed, level_index) and the image's index, so two sets of equal size are sampled at the same
    positions: identical sets then score exactly 0 and the real-vs-real floor shares the fake
    comparison's sampling noise. Mean and std are taken over all descriptors and positions of
    this set alone (each set is normalised separately, as in ProGAN).
    """
    n, h, w, _ = level.shape
    count = n * nhoods_per_image
    rng = np.random.default_rng([seed, _STREAM_PATCHES, level_index])
    ys, xs = _patch_positions(rng, count, h, w)
    offsets = np.arange(_NHOOD_SIZE) - _NHOOD_SIZE // 2
    image_index = np.repeat(np.arange(n), nhoods_per_image)[:, None, None]
    rows = ys[:, None, None] + offsets[None, :, None]
    cols = xs[:, None, None] + offsets[None, None, :]
    desc = level[image_index, rows, cols]  # (count, 7, 7, C)
    pixels = desc.reshape(-1, desc.shape[-1])
    desc -= _channel_mean(pixels).astype(np.float32)
    std = np.sqrt(_channel_mean(pixels * pixels)).astype(np.float32)
    # A flat channel (e.g. a constant test image) has std 0; leave its zeros as they are.
    desc /= np.where(std > 0, std, 1.0)
    return desc.reshape(count, -1)


def _channel_mean(pixels, block=4096):
    """Per-column mean of a float32 (M, C) array, accurate and faster than dtype=float64.

    float32 sums over short blocks, then a float64 sum of the block sums: the rounding error of
    one long float32 running sum is avoided without casting millions of values to float64.
    """
    partial = np.add.reduceat(pixels, np.arange(0, len(pixels), block), axis=0)
    return partial.sum(axis=0, dtype=np.float64) / len(pixels)


def _sort_rows_inplace(a):
    """Sort each row of a C-contiguous 2-D array in place, on several threads.

    Sorting dominates SWD. numpy releases the GIL while sorting, so row blocks sort in parallel
    (bench/README.md, "Design figures"); rows are contiguous so each sort runs on unit stride.
    """
    workers = min(os.cpu_count() or 1, a.shape[0], 8)
    if workers <= 1:
        a.sort(axis=1)
        return
    blocks = np.array_split(a, workers, axis=0)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(lambda block: block.sort(axis=1), blocks))


def _w1_sorted(sorted_a, sorted_b):
    """Mean over rows of the 1-D Wasserstein-1 distance between sorted samples (one per row).

    Equal sizes: the mean absolute difference of sorted values (ProGAN's formula), computed in
    place in `sorted_a`, which is overwritten: fresh multi-megabyte temporaries cost far more
    than the arithmetic here. Unequal sizes: the exact integral of |F_a^-1(t) - F_b^-1(t)| over
    t, whose quantile functions step at i/n and j/m; working in units of 1/(n*m) keeps the
    breakpoints exact integers.
    """
    n, m = sorted_a.shape[1], sorted_b.shape[1]
    if n == m:
        gaps = np.subtract(sorted_a, sorted_b, out=sorted_a)
        np.abs(gaps, out=gaps)
        # Row means of contiguous float32 use pairwise summation: accurate without float64.
        return float(gaps.mean(axis=1).mean(dtype=np.float64))
    edges = np.union1d(np.arange(n + 1, dtype=np.int64) * m, np.arange(m + 1, dtype=np.int64) * n)
    starts = edges[:-1]
    widths = np.diff(edges) / float(n * m)
    gaps = np.abs(sorted_a[:, starts // m] - sorted_b[:, starts // n])
    return float((gaps @ widths).mean())


def _sort_projections(desc, dirs, out):
    # (directions, points) layout: each direction's projections are one contiguous row. The
    # buffer is reused across repeats for the same reason as in `_w1_sorted`.
    np.matmul(dirs, desc.T, out=out)
    _sort_rows_inplace(out)
    return out


def _sliced_wasserstein_many(reference, candidates, seed, level_index, repeats, dirs_per_repeat):
    """Sliced Wasserstein distance of each candidate descriptor set to one reference set.

    The reference's projections are sorted once per repeat and shared by all candidates, which
    saves part of the sorting when a fake set and a real floor are measured together.
    """
    for desc in candidates:
        if desc.ndim != 2 or desc.shape[1] != reference.shape[1]:
            raise ValueError(f"descriptor shapes do not match: {desc.shape} vs {reference.shape}")
    rng = np.random.default_rng([seed, _STREAM_DIRECTIONS, level_index])
    ref_buf = np.empty((dirs_per_repeat, len(reference)), dtype=np.float32)
    cand_bufs = {}
    totals = np.zeros(len(candidates))
    for _ in range(repeats):
        dirs = rng.standard_normal((dirs_per_repeat, reference.shape[1]))
        dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
        dirs = dirs.astype(np.float32)
        ref_sorted = _sort_projections(reference, dirs, ref_buf)
        for i, desc in enumerate(candidates):
            if len(desc) not in cand_bufs:
                cand_bufs[len(desc)] = np.empty((dirs_per_repeat, len(desc)), dtype=np.float32)
            cand_sorted = _sort_projections(desc, dirs, cand_bufs[len(desc)])
            totals[i] += _w1_sorted(cand_sorted, ref_sorted)
    return [float(t / repeats) for t in totals]


def sliced_wasserstein(desc_a, desc_b, seed=0, level_index=0, repeats=_DIR_REPEATS,
                       dirs_per_repeat=_DIRS_PER_REPEAT):
    """Sliced Wasserstein distance between two descriptor sets (rows are points).

    `repeats` times, draw `dirs_per_repeat` random unit directions, project both sets, sort the
    projections and take the 1-D Wasserstein-1 distance per direction; return the mean over all
    directions and repeats. The sets may differ in size. Directions depend only on
    (seed, level_index), so comparisons against a shared reference use the same directions.
    """
    desc_a = np.asarray(desc_a, dtype=np.float32)
    desc_b = np.asarray(desc_b, dtype=np.float32)
    return _sliced_wasserstein_many(desc_b, [desc_a], seed, level_index, repeats,
                                    dirs_per_repeat)[0]


def _level_key(shape):
    h, w = shape
    return f"{h}" if h == w else f"{h}x{w}"


def _swd_against(reference, candidates, seed):
    """SWD (x1e3) of each candidate set against one reference set, as a list of dicts.

    The reference's descriptors are built once per level, and only one level's descriptors are
    held at a time, which bounds memory for large N.
    """
    shapes = swd_level_shapes(*reference.shape[1:3])
    ref_pyr = laplacian_pyramid(reference, len(shapes))
    cand_pyrs = [laplacian_pyramid(c, len(shapes)) for c in candidates]
    results = [{} for _ in candidates]
    for level_index, shape in enumerate(shapes):
        ref_desc = swd_descriptors(ref_pyr[level_index], seed, level_index)
        descs = [swd_descriptors(pyr[level_index], seed, level_index) for pyr in cand_pyrs]
        dists = _sliced_wasserstein_many(ref_desc, descs, seed, level_index, _DIR_REPEATS,
                                         _DIRS_PER_REPEAT)
        for result, dist in zip(results, dists, strict=True):
            result[f"swd_{_level_key(shape)}"] = 1e3 * dist
    for result in results:
        result["swd_avg"] = float(np.mean(list(result.values())))
    return results


def swd(images_a, images_b, seed=0):
    """Sliced Wasserstein distance between two uint8 image sets, as in ProGAN.

    Returns {"swd_<size>": value, ..., "swd_avg": mean} with each pyramid level's distance
    multiplied by 1e3 (ProGAN's reporting scale), levels from full size down to >= 16 pixels
    (see `swd_level_shapes`). The sets must share (H, W, C) but may differ in N. The result is
    repeatable for a given seed; always quote it beside a real-vs-real value at the same N.
    """
    a = _as_images(images_a, "images_a")
    b = _as_images(images_b, "images_b")
    _check_same_geometry(a, b)
    return _swd_against(b, [a], seed)[0]


# ---------------------------------------------------------------------------------------------
# NDB / JS (Richardson & Weiss 2018)


@dataclass(frozen=True)
class NdbBins:
    """Voronoi bins fitted on real images: k-means centroids and the real images' bin counts."""

    centroids: np.ndarray  # (K, D) float32, in the feature space of `pixel_features`
    counts: np.ndarray  # (K,) int64, real images per bin
    max_side: int


def pixel_features(images, max_side):
    """Raw pixels in [0, 1], area-downsampled by an integer factor so no side exceeds max_side,
    one row [n, d] per image (NDB's bins and the memorisation check's nearest neighbours).

    NDB works on raw pixels as in the paper; shrinking 48x48 to 24x24 (96 -> 32) keeps k-means
    to seconds while fine texture, which SWD already measures, matters little for mode counts.
    """
    n, h, w, c = images.shape
    factor = max(1, math.ceil(max(h, w) / max_side))
    h2, w2 = h // factor, w // factor
    x = images[:, : h2 * factor, : w2 * factor].astype(np.float32) / 255.0
    x = x.reshape(n, h2, factor, w2, factor, c).mean(axis=(2, 4))
    return x.reshape(n, -1)


def _nearest_centroid(features, centroids):
    # |x - c|^2 = |x|^2 - 2 x.c + |c|^2; |x|^2 is the same for every centroid so it is dropped.
    dist = (centroids * centroids).sum(axis=1)[None, :] - 2.0 * (features @ centroids.T)
    return dist.argmin(axis=1)


def ndb_fit(real_images, k=100, seed=0, max_side=32):
    """Fit NDB's K bins with k-means on real images (scikit-learn's KMeans, seeded)."""
    from sklearn.cluster import KMeans  # deferred: only NDB needs scikit-learn

    real = _as_images(real_images, "real_images")
    if len(real) < k:
        raise ValueError(f"NDB with K={k} bins needs at least {k} real images, got {len(real)}")
    features = pixel_features(real, max_side)
    kmeans = KMeans(n_clusters=k, n_init=3, random_state=seed).fit(features)
    centroids = kmeans.cluster_centers_.astype(np.float32)
    counts = np.bincount(_nearest_centroid(features, centroids), minlength=k)
    return NdbBins(centroids=centroids, counts=counts, max_side=max_side)


def _js_divergence(p, q):
    """Jensen-Shannon divergence in nats (0 for equal, at most ln 2), with 0 log 0 = 0."""
    m = 0.5 * (p + q)

    def kl(x):
        mask = x > 0
        return float(np.sum(x[mask] * np.log(x[mask] / m[mask])))

    return 0.5 * kl(p) + 0.5 * kl(q)


# Real images a bin needs on average before NDB can say anything: a bin the generator never
# fills, against m real images in it, gets z = sqrt(m) in the pooled two-proportion test of
# equal-sized sets, which passes 1.96 (alpha 0.05) only from m = 4. Fewer, and NDB/K stays near
# zero whatever the generator does.
NDB_MIN_PER_BIN = 4


def ndb_meaningful(images_per_set, bins):
    """True when `images_per_set` images in `bins` NDB bins give the test a chance to flag one."""
    return images_per_set >= NDB_MIN_PER_BIN * bins


def ndb_score(bins, images, alpha=0.05):
    """Compare a sample's bin proportions with the real ones fitted in `bins`.

    Each bin gets a two-proportion z-test (pooled variance, two-sided) at level `alpha`.
    Returns {"ndb": count of different bins, "ndb_over_k": count / K, "js": JS divergence of the
    two bin histograms, "different_bins": sorted bin indices, "bins": K}.
    """
    samples = _as_images(images)
    labels = _nearest_centroid(pixel_features(samples, bins.max_side), bins.centroids)
    k = len(bins.counts)
    counts = np.bincount(labels, minlength=k)
    n_real, n_samp = bins.counts.sum(), counts.sum()
    p_real, p_samp = bins.counts / n_real, counts / n_samp
    pooled = (bins.counts + counts) / (n_real + n_samp)
    se = np.sqrt(pooled * (1.0 - pooled) * (1.0 / n_real + 1.0 / n_samp))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, (p_samp - p_real) / se, 0.0)
    p_values = np.array([math.erfc(abs(v) / math.sqrt(2.0)) for v in z])
    different = np.flatnonzero(p_values < alpha)
    return {
        "ndb": len(different),
        "ndb_over_k": len(different) / k,
        "js": _js_divergence(p_real, p_samp),
        "different_bins": [int(i) for i in different],
        "bins": k,
    }


def ndb(fake_images, real_images, k=100, alpha=0.05, seed=0, max_side=32):
    """NDB/K and JS of fake images against k-means bins fitted on real images (mode dropping)."""
    return ndb_score(ndb_fit(real_images, k, seed, max_side), fake_images, alpha)


# ---------------------------------------------------------------------------------------------
# MS-SSIM (Wang, Simoncelli & Bovik 2003)

_MS_SSIM_WEIGHTS = np.array([0.0448, 0.2856, 0.3001, 0.2363, 0.1333])
_SSIM_WINDOW = 11
_SSIM_SIGMA = 1.5
_SSIM_C1 = (0.01 * 255) ** 2
_SSIM_C2 = (0.03 * 255) ** 2


def ms_ssim_scales(height, width):
    """Number of MS-SSIM scales that fit: each halving must leave >= 11 px (the window).

    Five scales need 176 px; 96 -> 4 scales, 64 and 48 -> 3, 32 and 28 -> 2. The weights of the
    scales used are renormalised to sum to 1, keeping the 11-px window of the standard method
    rather than shrinking it.
    """
    scales, size = 0, min(height, width)
    while scales < len(_MS_SSIM_WEIGHTS) and size >= _SSIM_WINDOW:
        scales += 1
        size //= 2
    if scales == 0:
        raise ValueError(f"MS-SSIM needs images of at least {_SSIM_WINDOW}x{_SSIM_WINDOW}")
    return scales


def _gaussian_valid(x, kernel):
    """Separable 'valid' Gaussian filter over axes 1 and 2 of (P, H, W, C)."""
    size = len(kernel)
    h, w = x.shape[1] - size + 1, x.shape[2] - size + 1
    rows = sum(kernel[i] * x[:, i:i + h] for i in range(size))
    return sum(kernel[i] * rows[:, :, i:i + w] for i in range(size))


def ms_ssim_terms(images_a, images_b):
    """The per-scale terms of each pair's MS-SSIM, a float64 array of shape (N, scales).

    Column s is scale s's contrast-structure map averaged over pixels and channels, finest
    first; the last column also carries the luminance comparison (the full SSIM map at the
    coarsest scale). Scales are 2x2 average-pooled. `ms_ssim` is their weighted product; apart
    they say at which scale two sets differ (fine texture and edges vs layout vs colour).
    """
    a = _as_images(images_a, "images_a").astype(np.float64)
    b = _as_images(images_b, "images_b").astype(np.float64)
    if a.shape != b.shape:
        raise ValueError(f"MS-SSIM pairs need equal shapes, got {a.shape} and {b.shape}")
    scales = ms_ssim_scales(*a.shape[1:3])
    half = _SSIM_WINDOW // 2
    kernel = np.exp(-0.5 * (np.arange(-half, half + 1) / _SSIM_SIGMA) ** 2)
    kernel /= kernel.sum()
    terms = np.empty((len(a), scales))
    for scale in range(scales):
        mu_a, mu_b = _gaussian_valid(a, kernel), _gaussian_valid(b, kernel)
        var_a = _gaussian_valid(a * a, kernel) - mu_a**2
        var_b = _gaussian_valid(b * b, kernel) - mu_b**2
        cov = _gaussian_valid(a * b, kernel) - mu_a * mu_b
        value = (2 * cov + _SSIM_C2) / (var_a + var_b + _SSIM_C2)
        if scale == scales - 1:
            value = value * (2 * mu_a * mu_b + _SSIM_C1) / (mu_a**2 + mu_b**2 + _SSIM_C1)
        else:
            a, b = _avg_pool2(a), _avg_pool2(b)
        terms[:, scale] = value.mean(axis=(1, 2, 3))
    return terms


def ms_ssim(images_a, images_b):
    """MS-SSIM of each pair (images_a[i], images_b[i]) as a float64 array of shape (N,).

    The weighted product of `ms_ssim_terms`: negative terms are clipped to 0 first so the
    fractional powers stay real. Identical pairs score exactly 1.
    """
    return ms_ssim_from_terms(ms_ssim_terms(images_a, images_b))


def ms_ssim_from_terms(terms):
    """MS-SSIM from rows of per-scale terms, with the standard weights of the scales used
    renormalised to sum to 1."""
    weights = _MS_SSIM_WEIGHTS[:terms.shape[1]] / _MS_SSIM_WEIGHTS[:terms.shape[1]].sum()
    return np.prod(np.maximum(terms, 0.0) ** weights, axis=1)


def _avg_pool2(x):
    n, h, w, c = x.shape
    x = x[:, : h // 2 * 2, : w // 2 * 2]
    return x.reshape(n, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))


def ms_ssim_diversity_terms(images, n_pairs=1000, seed=0, batch=256):
    """`ms_ssim_terms` of `n_pairs` random pairs of distinct images of one set, shape
    (n_pairs, scales): the pairs `ms_ssim_diversity` averages. Pairs are drawn with
    replacement, never an image with itself."""
    imgs = _as_images(images)
    n = len(imgs)
    if n < 2:
        raise ValueError("MS-SSIM diversity needs at least 2 images")
    rng = np.random.default_rng([seed, _STREAM_PAIRS])
    first = rng.integers(0, n, size=n_pairs)
    # Adding 1..n-1 modulo n gives a uniformly random partner that is never the image itself.
    second = (first + rng.integers(1, n, size=n_pairs)) % n
    return np.concatenate([ms_ssim_terms(imgs[first[i:i + batch]], imgs[second[i:i + batch]])
                           for i in range(0, n_pairs, batch)])


def ms_ssim_diversity(images, n_pairs=1000, seed=0, batch=256):
    """Mean MS-SSIM over `n_pairs` random pairs of distinct images of one set.

    Lower means more diverse. A generator whose value sits well above the real data's is
    collapsing onto few modes.
    """
    terms = ms_ssim_diversity_terms(images, n_pairs, seed, batch)
    return float(ms_ssim_from_terms(terms).mean())


# ---------------------------------------------------------------------------------------------
# Everything at once


def evaluate_sets(fake_images, real_images, seed=0, ndb_k=100, ms_ssim_pairs=1000,
                  on_stage=None):
    """All metrics of a fake set against a real set, each beside its real-vs-real floor.

    The real set is shuffled (seeded) and split into two disjoint halves A and B of n images,
    n = min(len(fake), len(real) // 2); a larger fake set is subsampled to n. SWD and NDB then
    compare fake vs A and, as the floor a perfect generator would reach at this N, B vs A, with
    the same patch positions, directions and bins. MS-SSIM diversity uses the n fakes and the
    whole real set. Returns a flat dict of floats (plus the ints "n" and "ndb_bins"):
    swd_<size>..., swd_avg, swd_floor_<size>..., swd_floor_avg, ndb_over_k, ndb_js,
    ndb_over_k_floor, ndb_js_floor, ms_ssim_fake, ms_ssim_real. `on_stage`, if given, is
    called with "SWD", "NDB" and "MS-SSIM" as each starts (a progress bar's hook).
    """
    on_stage = on_stage or (lambda name: None)
    fake = _as_images(fake_images, "fake_images")
    real = _as_images(real_images, "real_images")
    _check_same_geometry(fake, real)
    n = min(len(fake), len(real) // 2)
    if n < max(2, ndb_k):
        raise ValueError(f"evaluate_sets compares sets of n = min(len(fake), len(real) // 2) = {n}"
                         f" images; NDB with K={ndb_k} bins needs n >= K (pass a smaller ndb_k)")
    rng = np.random.default_rng([seed, _STREAM_SPLIT])
    order = rng.permutation(len(real))
    real_a, real_b = real[order[:n]], real[order[n:2 * n]]
    if len(fake) > n:
        fake = fake[np.sort(rng.choice(len(fake), size=n, replace=False))]

    result = {"n": n}
    on_stage("SWD")
    swd_fake, swd_floor = _swd_against(real_a, [fake, real_b], seed)
    result.update(swd_fake)
    result.update({k.replace("swd_", "swd_floor_", 1): v for k, v in swd_floor.items()})

    on_stage("NDB")
    bins = ndb_fit(real_a, k=ndb_k, seed=seed)
    for suffix, images in (("", fake), ("_floor", real_b)):
        score = ndb_score(bins, images)
        result[f"ndb_over_k{suffix}"] = score["ndb_over_k"]
        result[f"ndb_js{suffix}"] = score["js"]
    result["ndb_bins"] = ndb_k

    on_stage("MS-SSIM")
    result["ms_ssim_fake"] = ms_ssim_diversity(fake, ms_ssim_pairs, seed)
    result["ms_ssim_real"] = ms_ssim_diversity(real, ms_ssim_pairs, seed)
    return result


def format_report(result):
    """Human-readable lines for an `evaluate_sets` result, each metric beside its floor."""
    levels = [k[len("swd_"):] for k in result if k.startswith("swd_") and
              not k.startswith("swd_floor_")]
    lines = [f"images per set: {result['n']}"]
    for level in levels:
        lines.append(f"SWD x1e3 {level:>5}: {result['swd_' + level]:8.2f}"
                     f"   (real vs real {result['swd_floor_' + level]:.2f})")
    meaningless = "" if ndb_meaningful(result["n"], result["ndb_bins"]) else \
        f"; meaningless below {NDB_MIN_PER_BIN} images a bin"
    lines.append(f"NDB/K (K={result['ndb_bins']}): {result['ndb_over_k']:.3f}"
                 f"   (real vs real {result['ndb_over_k_floor']:.3f}{meaningless})")
    lines.append(f"NDB JS: {result['ndb_js']:.4f}   (real vs real {result['ndb_js_floor']:.4f})")
    lines.append(f"MS-SSIM diversity: {result['ms_ssim_fake']:.4f}"
                 f"   (real {result['ms_ssim_real']:.4f}; higher than real = less diverse)")
    return "\n".join(lines)
