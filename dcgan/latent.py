"""Latent vectors z: the distributions they are drawn from, and the vector of a seed.

The one place that knows the distribution names (`--z_dist`): how each is drawn with numpy
(training, evaluation), in the graph (`dcgan.model`), from the portable generator shared with the
web page ("the image of seed s"), and the range a dimension is swept over. It also writes and
reads a vector's handle (`to_handle`, `from_handle`): text that names any vector, as a seed names
the vector of that seed. `dcgan/web/seeds.js` mirrors `seed_z` and `from_handle`; tests keep the
two equal. No TensorFlow.
"""

import base64
import dataclasses
import math
import re

import numpy as np

from dcgan.errors import require
from dcgan.portable_random import SEED_LIMIT, Mulberry32

# A handle is this prefix and the vector's float16 values (little-endian) in URL-safe base64
# without padding: about 2.7 characters a dimension (267 for z_dim 100), short enough for a text
# box and a link, and never a whole number, so it cannot be taken for a seed. float16 keeps 11
# significant bits, 0.0005 of a value at most: a picture drawn from it is the picture of the
# vector to within a pixel level or so (the .npy beside it keeps float32).
HANDLE_PREFIX = "z16."
HANDLE_DTYPE = np.dtype("<f2")
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")


@dataclasses.dataclass(frozen=True)
class Distribution:
    """A latent distribution: uniform on [low, high), or the standard normal (`normal=True`).

    `sweep` is the range a single dimension is swept over in pictures of the latent space.
    """

    name: str
    sweep: tuple
    low: float = 0.0
    high: float = 1.0
    normal: bool = False

    @property
    def mean(self):
        """The distribution's mean: where truncation pulls a vector towards."""
        return 0.0 if self.normal else (self.low + self.high) / 2.0

    def draw(self, rng, count, z_dim):
        """`count` vectors from numpy Generator `rng`, float32 [count, z_dim]."""
        if self.normal:
            z = rng.normal(0.0, 1.0, size=(count, z_dim))
        else:
            z = rng.uniform(self.low, self.high, size=(count, z_dim))
        return z.astype(np.float32)

    def portable(self, next_float, z_dim):
        """`z_dim` values from a stream of uniform floats in [0, 1) (float64 list).

        Normal values come from Box-Muller on pairs (u1, u2): sqrt(-2 ln(1 - u1)) cos(2 pi u2),
        then sin(...) for the next dimension; 1 - u1 keeps the logarithm finite.
        """
        values = []
        while len(values) < z_dim:
            if self.normal:
                radius = math.sqrt(-2.0 * math.log(1.0 - next_float()))
                angle = 2.0 * math.pi * next_float()
                values += [radius * math.cos(angle), radius * math.sin(angle)]
            else:
                values.append(self.low + (self.high - self.low) * next_float())
        return values[:z_dim]


DISTRIBUTIONS = {d.name: d for d in (
    Distribution("uniform_signed", sweep=(-1.0, 1.0), low=-1.0, high=1.0),
    Distribution("uniform_unsigned", sweep=(0.0, 1.0), low=0.0, high=1.0),
    Distribution("normal01", sweep=(-2.0, 2.0), normal=True),
)}
NAMES = tuple(DISTRIBUTIONS)
DEFAULT = "uniform_signed"


def distribution(name):
    """The Distribution called `name`; ValueError naming the choices for any other name."""
    try:
        return DISTRIBUTIONS[name]
    except KeyError:
        raise ValueError(f"unknown z distribution {name!r}; choose from "
                         f"{', '.join(NAMES)}") from None


def sample_z(rng, count, z_dim, z_dist=DEFAULT):
    """Draw `count` latent vectors with numpy Generator `rng` (float32 [count, z_dim])."""
    return distribution(z_dist).draw(rng, count, z_dim)


def truncate(z, psi, z_dist=DEFAULT):
    """The truncation trick: latent vectors `z` pulled towards the distribution's mean,
    mean + psi * (z - mean), float32. `psi` in (0, 1]: smaller gives fewer odd pictures and less
    variety. psi = 1 returns `z` itself, so untruncated pictures stay bit for bit the same."""
    if not 0.0 < psi <= 1.0:
        raise ValueError(f"truncation must be in (0, 1], not {psi!r}")
    z = np.asarray(z, np.float32)
    if psi == 1.0:
        return z
    mean = distribution(z_dist).mean
    return (mean + np.float32(psi) * (z - np.float32(mean))).astype(np.float32)


def z_range(z_dist):
    """The (low, high) range a latent dimension is swept over for this distribution."""
    return distribution(z_dist).sweep


def bounds(z_dist, normal_limit=3.0):
    """The (low, high) box a latent vector stays inside when it is searched for (projection):
    a uniform distribution's own range; for the normal, +-`normal_limit` (3: 99.7% of draws)."""
    dist = distribution(z_dist)
    return (-normal_limit, normal_limit) if dist.normal else (dist.low, dist.high)


def seed_z(seed, z_dim, z_dist=DEFAULT):
    """The latent vector of `seed` (float32 [z_dim]): the one definition behind every "image of
    seed s", in `--visualize` files and in the browser alike.

    Each seed gets its own portable generator, so the vector of seed s depends neither on which
    other seeds are drawn with it nor on how many. Arithmetic is float64, rounded once to float32,
    as the page's JavaScript does.
    """
    if not 0 <= int(seed) < SEED_LIMIT:
        raise ValueError(f"seed {seed} is outside 0..{SEED_LIMIT - 1}")
    values = distribution(z_dist).portable(Mulberry32(seed).next_float, z_dim)
    return np.asarray(values, dtype=np.float64).astype(np.float32)


def seeds_z(seeds, z_dim, z_dist=DEFAULT):
    """The latent vectors of several seeds, stacked [len(seeds), z_dim]."""
    return np.stack([seed_z(seed, z_dim, z_dist) for seed in seeds]).reshape(-1, z_dim)


def to_handle(z):
    """The handle of latent vector `z` [z_dim]: HANDLE_PREFIX and its float16 values in URL-safe
    base64 (see HANDLE_PREFIX). The page's seed box and `from_handle` read it back."""
    z = np.asarray(z, np.float32)
    require(z.ndim == 1 and len(z), f"a handle holds one latent vector [z_dim], not shape "
                                     f"{z.shape}")
    require(np.isfinite(z).all(), "z holds NaN or infinite values")
    with np.errstate(over="ignore"):  # a value too large becomes infinite, refused below
        values = z.astype(HANDLE_DTYPE)
    require(np.isfinite(values).all(), "z holds values beyond float16's range (+-65504): no "
                                       "handle can hold them")
    return HANDLE_PREFIX + base64.urlsafe_b64encode(values.tobytes()).decode().rstrip("=")


def from_handle(handle, z_dim=None):
    """The latent vector float32 [z_dim] of a handle written by `to_handle` (the same numbers
    as the page draws); with `z_dim`, the handle must hold that many values. UsageError saying
    what is wrong for text that is not a whole handle."""
    require(isinstance(handle, str), f"a handle is text, not {type(handle).__name__}")
    text = handle.strip()
    shown = text if len(text) <= 24 else text[:20] + "..."
    require(text.startswith(HANDLE_PREFIX),
            f"{shown!r} is not a z handle: a handle starts with \"{HANDLE_PREFIX}\" (projection "
            "writes one beside each vector's .npy)")
    body = text[len(HANDLE_PREFIX):]
    try:
        data = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)) \
            if _BASE64URL.fullmatch(body) else b""
    except ValueError:  # a length no base64 has
        data = b""
    # Whole float16 values, written as to_handle writes them (no stray bits in the last
    # character): anything else was cut short or mistyped.
    require(data and len(data) % 2 == 0
            and base64.urlsafe_b64encode(data).decode().rstrip("=") == body,
            f"the z handle {shown!r} is damaged (cut short or mistyped): copy it whole")
    z = np.frombuffer(data, HANDLE_DTYPE).astype(np.float32)
    require(z_dim is None or len(z) == z_dim,
            f"the z handle holds {len(z)} numbers and this run's z has {z_dim}: it is a vector "
            "of another run")
    require(np.isfinite(z).all(), f"the z handle {shown!r} holds NaN or infinite values")
    return z
