"""The network's configuration and latent-space helpers, free of TensorFlow.

Kept apart from model.py so checking flags and reading run.json need no TensorFlow import.
"""

import dataclasses
import math

import numpy as np

Z_DISTRIBUTIONS = ("uniform_signed", "uniform_unsigned", "normal01")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Everything that fixes the shapes of the network's variables."""

    output_height: int
    output_width: int
    c_dim: int = 3
    z_dim: int = 100
    y_dim: int = 0
    gf_dim: int = 64
    df_dim: int = 64
    gfc_dim: int = 1024
    dfc_dim: int = 1024
    z_dist: str = "uniform_signed"

    def to_dict(self):
        """The config as a plain dict (for run.json)."""
        return dataclasses.asdict(self)


def _halve(size):
    # SAME-padded stride-2 convolutions round up.
    return int(math.ceil(size / 2))


def layer_sizes(size, halvings):
    """[size, size/2, size/4, ...] as SAME-padded stride-2 layers make them (rounded up)."""
    sizes = [size]
    for _ in range(halvings):
        sizes.append(_halve(sizes[-1]))
    return sizes


def sample_z(rng, count, z_dim, z_dist="uniform_signed"):
    """Draw `count` latent vectors with numpy from the configured distribution (float32)."""
    if z_dist == "uniform_signed":
        z = rng.uniform(-1.0, 1.0, size=(count, z_dim))
    elif z_dist == "uniform_unsigned":
        z = rng.uniform(0.0, 1.0, size=(count, z_dim))
    elif z_dist == "normal01":
        z = rng.normal(0.0, 1.0, size=(count, z_dim))
    else:
        raise ValueError(f"unknown z distribution {z_dist!r}; choose from {Z_DISTRIBUTIONS}")
    return z.astype(np.float32)


def z_range(z_dist):
    """The (low, high) range a latent dimension is swept over for this distribution."""
    return {"uniform_signed": (-1.0, 1.0), "uniform_unsigned": (0.0, 1.0),
            "normal01": (-2.0, 2.0)}[z_dist]


