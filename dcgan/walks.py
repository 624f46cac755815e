"""Walks through the latent space with numpy: sweeps of one dimension and interpolations.

Free of TensorFlow, so the geometry can be tested (and reasoned about) on its own.
"""

import itertools

import numpy as np

from dcgan.latent import z_range


def sweep_values(z_dist, steps):
    """`steps` evenly spaced values over the range a dimension of this distribution takes."""
    low, high = z_range(z_dist)
    return np.linspace(low, high, steps, dtype=np.float32)


def sweep(base, dim, values):
    """Copies of the vector `base`, one per value, with dimension `dim` set to that value."""
    batch = np.repeat(np.asarray(base, np.float32)[np.newaxis], len(values), axis=0)
    batch[:, dim] = values
    return batch


def lerp(a, b, t):
    """Points on the straight line from `a` (t=0) to `b` (t=1), one row per t."""
    t = np.asarray(t, np.float32)[:, np.newaxis]
    return ((1.0 - t) * a + t * b).astype(np.float32)


def slerp(a, b, t):
    """Points on the great circle from `a` (t=0) to `b` (t=1), one row per t.

    Spherical interpolation keeps the vector's length near that of typical samples, where a
    straight line passes through the low-norm middle the generator rarely saw in training.
    Falls back to lerp for (anti)parallel or zero vectors, where the circle is undefined.
    """
    a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
    norms = np.linalg.norm(a64) * np.linalg.norm(b64)
    if norms == 0.0:
        return lerp(a, b, t)
    omega = np.arccos(np.clip(np.dot(a64, b64) / norms, -1.0, 1.0))
    if np.sin(omega) < 1e-6:
        return lerp(a, b, t)
    t = np.asarray(t, np.float64)[:, np.newaxis]
    points = (np.sin((1.0 - t) * omega) * a64 + np.sin(t * omega) * b64) / np.sin(omega)
    # The ends are exactly the given vectors, so the first and last images are the seeds'.
    points[t[:, 0] == 0.0] = a64
    points[t[:, 0] == 1.0] = b64
    return points.astype(np.float32)


INTERPOLATIONS = {"lerp": lerp, "slerp": slerp}


def path(points, steps, kind="lerp"):
    """Interpolate through `points` in order, `steps` vectors per leg (ends included).

    Consecutive legs share their joint, so k points give (k - 1) * (steps - 1) + 1 vectors; the
    first is points[0] and the last points[-1].
    """
    interpolate = INTERPOLATIONS[kind]
    t = np.linspace(0.0, 1.0, steps)
    legs = [interpolate(a, b, t)[:-1] for a, b in itertools.pairwise(points)]
    return np.concatenate([*legs, np.asarray(points[-1:], np.float32)])


def there_and_back(frames):
    """Frames played forward then backward, without repeating the two turning frames."""
    frames = list(frames)
    return frames + frames[-2:0:-1]
