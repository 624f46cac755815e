"""Does the generator copy its training images? The memorisation check of `--evaluate`.

Each generated sample gets the distance to its nearest training image; so do real images the
model did not learn from (held-out ones). A model that draws new faces puts its samples about as
far from the training set as a new real face is; one that copies puts them much closer. Without
a held-out folder, the held-out images are training images each compared with the others
(leave-one-out): a real face's distance to the N - 1 other faces.

The distance is between cheap features, the pixels area-downscaled to at most 16 px a side
(`metrics.pixel_features`): a copy stays a copy at 16 px, and a brute-force nearest neighbour
over 50,000 training images is a few numpy matrix products (bench/memorisation_speed.py). It is
the root mean square of the pixel differences, 0 (identical) to 1 (black vs white).
"""

import math

import numpy as np

from dcgan import grids, metrics

FEATURE_SIDE = 16  # features are the pictures area-downscaled to at most this many pixels a side
QUERY_CHUNK = 512  # queries against every training image at once: 512 x 50,000 floats, 100 MB
FEATURE_CHUNK = 4096  # images turned into features at once (never one float copy of them all)
SHOWN = 16  # the closest samples drawn beside their nearest training image
PAIRS_A_ROW = 4
# A sample closer than this share of held-out real images counts as suspiciously close; without
# copying, that share of samples is what chance gives.
CLOSE_QUANTILE = 0.05


def features(images, max_side=FEATURE_SIDE):
    """float32 [n, d] features of uint8 images [n, h, w, c], computed a chunk at a time."""
    parts = [metrics.pixel_features(np.asarray(images[start:start + FEATURE_CHUNK]), max_side)
             for start in range(0, len(images), FEATURE_CHUNK)]
    return np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)


def nearest(queries, references, exclude=None):
    """(index, distance) of the nearest row of `references` for each row of `queries` (float32
    features): the RMS over the feature's values. `exclude[i]`, when given, is a reference row
    query i may not match (itself, for leave-one-out)."""
    reference_norms = np.einsum("ij,ij->i", references, references)
    found = np.empty(len(queries), np.int64)
    for start in range(0, len(queries), QUERY_CHUNK):
        part = queries[start:start + QUERY_CHUNK]
        # |q - r|^2 = |q|^2 - 2 q.r + |r|^2; |q|^2 is the same for every r, so it is left out.
        scores = reference_norms[np.newaxis] - 2.0 * (part @ references.T)
        if exclude is not None:
            scores[np.arange(len(part)), exclude[start:start + QUERY_CHUNK]] = np.inf
        found[start:start + len(part)] = scores.argmin(axis=1)
    # The distances themselves are computed directly: the expansion above loses precision for
    # near-copies, which are the ones that matter here.
    difference = queries - references[found]
    return found, np.sqrt(np.einsum("ij,ij->i", difference, difference) / queries.shape[1])


def check(samples, training, held_out=None, seed=0):
    """Nearest-training-image distances of `samples` and of held-out real images (uint8 sets).

    `held_out`: real images the model never trained on; None: as many training images as there
    are samples (at most all of them), each against the other training images. Returns
    (result dict, pairs): the dict holds the medians and minima of both sets, the held-out 5th
    percentile and the share of samples below it; pairs is uint8 [k, 2, h, w, c], the k closest
    samples beside their nearest training image, closest first.
    """
    training_features = features(training)
    sample_index, sample_distance = nearest(features(samples), training_features)
    if held_out is None:
        count = min(len(samples), len(training))
        picked = np.sort(np.random.default_rng(seed).choice(len(training), count, replace=False))
        _, real_distance = nearest(training_features[picked], training_features, exclude=picked)
    else:
        _, real_distance = nearest(features(held_out), training_features)
    threshold = float(np.quantile(real_distance, CLOSE_QUANTILE))
    result = {
        "nearest_training_images": len(training),
        "nearest_held_out": "leave-one-out" if held_out is None else "held-out folder",
        "nearest_fake_median": float(np.median(sample_distance)),
        "nearest_real_median": float(np.median(real_distance)),
        "nearest_fake_min": float(sample_distance.min()),
        "nearest_real_min": float(real_distance.min()),
        "nearest_real_p5": threshold,
        "nearest_fake_below_real_p5": float(np.mean(sample_distance < threshold)),
    }
    closest = np.argsort(sample_distance, kind="stable")[:SHOWN]
    pairs = np.stack([np.asarray(samples)[closest],
                      np.asarray(training[sample_index[closest]])], axis=1)
    return result, pairs


def pairs_grid(pairs):
    """One picture of (sample, nearest training image) pairs, PAIRS_A_ROW pairs a row, each
    sample on the left of its neighbour; unused cells at the end stay black."""
    per_row = min(PAIRS_A_ROW, len(pairs))
    rows = math.ceil(len(pairs) / per_row)
    tiles = np.zeros((rows * per_row * 2, *pairs.shape[2:]), np.uint8)
    tiles[:2 * len(pairs)] = pairs.reshape(-1, *pairs.shape[2:])
    return grids.make_grid(tiles, rows)


def format_report(result):
    """The check's numbers in three lines."""
    return (f"memorisation: nearest training image (RMS pixel distance at {FEATURE_SIDE} px, "
            "0-1)\n"
            f"  samples median {result['nearest_fake_median']:.4f}, min "
            f"{result['nearest_fake_min']:.4f}   (real, {result['nearest_held_out']}: median "
            f"{result['nearest_real_median']:.4f}, min {result['nearest_real_min']:.4f})\n"
            f"  samples closer than 95% of real: {100 * result['nearest_fake_below_real_p5']:.1f}%"
            "   (about 5% when it does not copy)")
