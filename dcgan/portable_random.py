"""Latent vectors from an integer seed, computed bit-for-bit alike in Python and in the browser.

numpy's generators cannot be reproduced in JavaScript, so the web page and this module share a
tiny generator instead: mulberry32 (a 32-bit state advanced by 0x6D2B79F5 and mixed by two
multiply-xorshift rounds) gives uniform floats k / 2**32 in [0, 1); `uniform_signed` maps them to
2u - 1, `uniform_unsigned` keeps u, and `normal01` uses Box-Muller on pairs (u1, u2) as
sqrt(-2 ln(1 - u1)) * cos(2 pi u2), then sin(...) for the next dimension. All arithmetic is in
float64 and the result is rounded once to float32, as `dcgan/web/seeds.js` does, so a face's
seed means the same face on both sides. No TensorFlow import.
"""

import math

import numpy as np

MASK32 = 0xFFFFFFFF
SEED_LIMIT = 2 ** 32  # seeds are unsigned 32-bit integers
_INCREMENT = 0x6D2B79F5


class Mulberry32:
    """The mulberry32 generator: `next_uint32()` and `next_float()` in [0, 1)."""

    def __init__(self, seed):
        self.state = int(seed) & MASK32

    def next_uint32(self):
        """The next 32-bit output."""
        self.state = (self.state + _INCREMENT) & MASK32
        t = self.state
        t = ((t ^ (t >> 15)) * (t | 1)) & MASK32
        t = ((t + (((t ^ (t >> 7)) * (t | 61)) & MASK32)) & MASK32) ^ t
        return (t ^ (t >> 14)) & MASK32

    def next_float(self):
        """The next uniform float in [0, 1) with 32 random bits."""
        return self.next_uint32() / SEED_LIMIT


def z_for_seed(seed, z_dim, z_dist="uniform_signed"):
    """The latent vector (float32, shape [z_dim]) that the web page draws for `seed`."""
    if not 0 <= int(seed) < SEED_LIMIT:
        raise ValueError(f"seed {seed} is outside 0..{SEED_LIMIT - 1}")
    rng = Mulberry32(seed)
    if z_dist == "uniform_signed":
        values = [2.0 * rng.next_float() - 1.0 for _ in range(z_dim)]
    elif z_dist == "uniform_unsigned":
        values = [rng.next_float() for _ in range(z_dim)]
    elif z_dist == "normal01":
        values = []
        while len(values) < z_dim:
            radius = math.sqrt(-2.0 * math.log(1.0 - rng.next_float()))
            angle = 2.0 * math.pi * rng.next_float()
            values += [radius * math.cos(angle), radius * math.sin(angle)]
        values = values[:z_dim]
    else:
        raise ValueError(f"unknown z distribution {z_dist!r}")
    return np.asarray(values, dtype=np.float64).astype(np.float32)


def z_for_seeds(seeds, z_dim, z_dist="uniform_signed"):
    """Latent vectors [len(seeds), z_dim] for several seeds (one row per seed)."""
    return np.stack([z_for_seed(seed, z_dim, z_dist) for seed in seeds]).reshape(-1, z_dim)
