"""Converting between the graph's [-1, 1] floats and uint8 pictures, grids and files."""

import math
import os

import imageio.v3 as imageio
import numpy as np

from dcgan import durable

# Pixels between the tiles of a grid, and their value: a thin white line tells neighbouring
# faces (and MNIST's white-on-black digits) apart without hiding any of them.
GAP = 2
GAP_VALUE = 255
# The training grids (train_*.png, reals.png) enlarge small pictures until each tile is at least
# this many pixels on its shorter side: a grid of 16 px faces is too small to judge.
READABLE_TILE = 64


def to_uint8(images):
    """Float images in [-1, 1] -> uint8 in [0, 255] (rounded, clipped)."""
    return np.clip(np.rint((np.asarray(images) + 1.0) * 127.5), 0, 255).astype(np.uint8)


def grid_shape(count, rows=None):
    """Rows and columns of a near-square grid of `count` tiles (any count, not just squares)."""
    if rows is None:
        rows = max(1, int(math.floor(math.sqrt(count))))
    cols = int(math.ceil(count / rows))
    return rows, cols


def enlarge(pictures, scale):
    """uint8 pictures [..., h, w, c] made `scale` times larger on each side, nearest neighbour
    (each pixel becomes a scale x scale block, so nothing is smoothed away)."""
    pictures = np.asarray(pictures)
    if scale == 1:
        return pictures
    return pictures.repeat(scale, axis=-3).repeat(scale, axis=-2)


def readable_scale(height, width):
    """The whole-number enlargement that makes a height x width tile at least READABLE_TILE px
    on its shorter side (1 for tiles already that large)."""
    return max(1, math.ceil(READABLE_TILE / min(height, width)))


def make_grid(images, rows=None, gap=GAP):
    """Tile uint8 images [n, h, w, c] into one picture, `gap` white pixels between tiles; empty
    cells stay black.

    Single-channel images become 2-D so they save as greyscale PNGs.
    """
    images = np.asarray(images)
    count, height, width, channels = images.shape
    rows, cols = grid_shape(count, rows)
    grid = np.full((rows * (height + gap) - gap, cols * (width + gap) - gap, channels), GAP_VALUE,
                   dtype=images.dtype)
    for index in range(rows * cols):
        top, left = tile_origin(index, (height, width), cols, gap)
        grid[top:top + height, left:left + width] = images[index] if index < count else 0
    return grid[:, :, 0] if channels == 1 else grid


def tile_origin(index, tile_shape, cols, gap=GAP):
    """(top, left) pixel of tile `index` in a grid of `cols` columns made by make_grid."""
    row, col = divmod(index, cols)
    return row * (tile_shape[0] + gap), col * (tile_shape[1] + gap)


def _writable(image):
    # Image writers take greyscale as 2-D, not with a channel axis of 1.
    return image[:, :, 0] if image.ndim == 3 and image.shape[2] == 1 else image


def _write_encoded(path, image, **options):
    """Encode in memory, then write the file atomically: a full disk is one OSError naming the
    file and leaves neither a half picture nor an imageio writer failing again at exit."""
    encoded = imageio.imwrite("<bytes>", image, extension=os.path.splitext(path)[1], **options)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    return durable.write_atomically(path, encoded)


def save_image(path, image):
    """Write one uint8 picture (PNG, JPEG...) creating its folder; returns the path."""
    return _write_encoded(path, _writable(image))


def save_grid(path, images, rows=None):
    """Write float images [n, h, w, c] in [-1, 1] as one grid picture, each tile enlarged by
    readable_scale (nearest neighbour); returns the path. Training's grids are written so."""
    pictures = to_uint8(images)
    scale = readable_scale(*pictures.shape[1:3])
    return save_image(path, make_grid(enlarge(pictures, scale), rows))


def save_gif(path, frames, fps=8):
    """Write uint8 pictures as a GIF that loops forever at `fps` frames a second; returns path.

    GIF stores delays in hundredths of a second. A frame identical to the one before it is
    merged into it (longer delay), so such a GIF has fewer frames but plays the same.
    """
    return _write_encoded(path, [_writable(frame) for frame in frames], duration=1000.0 / fps,
                          loop=0)
