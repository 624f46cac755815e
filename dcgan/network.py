"""The network's configuration and layer sizes, free of TensorFlow.

Kept apart from model.py so checking flags and reading run.json need no TensorFlow import.
"""

import dataclasses
import math

import numpy as np

from dcgan import latent

# The kernel sides G's stride-2 deconvolutions may have: carpedm20's 5, or 4, which a stride of
# 2 overlaps evenly (uneven overlap draws checkerboard patterns: Odena et al. 2016).
G_KERNELS = (4, 5)


@dataclasses.dataclass(frozen=True, kw_only=True)
class ModelConfig:
    """Everything that fixes the shapes of the network's variables, and the one record of a
    run's output size and channels."""

    output_height: int
    output_width: int
    c_dim: int = 3
    z_dim: int = 100
    y_dim: int = 0
    gf_dim: int = 64
    g_kernel: int = 5  # G's stride-2 deconvolutions' kernel side (G_KERNELS; 5: carpedm20's)
    df_dim: int = 64
    gfc_dim: int = 1024
    dfc_dim: int = 1024
    z_dist: str = latent.DEFAULT

    def labels_for(self, indices):
        """The digit label of each item when no label is asked for: item i draws digit i mod
        y_dim, so a grid shows every digit in turn. None for unconditional models."""
        if not self.y_dim:
            return None
        return np.asarray(indices, np.int64) % self.y_dim


def _halve(size):
    # SAME-padded stride-2 convolutions round up.
    return int(math.ceil(size / 2))


def layer_sizes(size, halvings):
    """[size, size/2, size/4, ...] as SAME-padded stride-2 layers make them (rounded up)."""
    sizes = [size]
    for _ in range(halvings):
        sizes.append(_halve(sizes[-1]))
    return sizes
