"""DiffAugment: differentiable augmentation of every image the discriminator sees in training.

Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN Training": the same random
transformations are applied to real and to generated images before D scores them, in the D step
and in the G step, and they are differentiable, so G learns through them. D then cannot win by
memorising a small set of real pictures, and G is never asked to produce augmented pictures.
Written here in TensorFlow ops (no reference code), in the training graph; the samplers and
exports never build it. Images are NHWC floats in [-1, 1] with a static height and width.
Each run of the graph draws new transformations for every image.
"""

import tensorflow as tf

from dcgan.recipes import AUGMENT_POLICIES

SCOPE = "augment"
TRANSLATION_RATIO = 0.125  # the largest shift, as a share of the side (the paper's 1/8)
CUTOUT_RATIO = 0.5  # the side of the blanked square, as a share of the image's side


def _side(size, ratio):
    return int(size * ratio + 0.5)


def _per_image(images, low, high):
    """One uniform draw in [low, high) per image, shaped to broadcast over its pixels."""
    return tf.random.uniform([tf.shape(images)[0], 1, 1, 1], low, high)


def color(images):
    """Random brightness, saturation and contrast of each image.

    Adds U(-0.5, 0.5) to every pixel, scales each pixel's distance from its own grey (the mean
    of its channels) by U(0, 2), then the distance from the image's mean by U(0.5, 1.5).
    Values may leave [-1, 1], as in the paper; D sees them unclipped.
    """
    images = images + _per_image(images, -0.5, 0.5)
    grey = tf.reduce_mean(images, axis=3, keepdims=True)
    images = (images - grey) * _per_image(images, 0.0, 2.0) + grey
    mean = tf.reduce_mean(images, axis=[1, 2, 3], keepdims=True)
    return (images - mean) * _per_image(images, 0.5, 1.5) + mean


def _draw_offsets(images, low_high):
    """[b, 2] int32 (row, column) offsets, each drawn uniformly from its [low, high]."""
    batch = tf.shape(images)[0]
    return tf.stack([tf.random.uniform([batch], low, high + 1, tf.int32)
                     for low, high in low_high], axis=1)


def translation(images, shifts=None, ratio=TRANSLATION_RATIO):
    """Move each image by whole pixels, filling the uncovered border with 0 (mid-grey).

    A shift (dy, dx) moves content dy rows down and dx columns right. `shifts` [b, 2] int32
    gives them (each at most `ratio` of the side in size); by default each is drawn uniformly
    from -that to +that. Differentiable: the output is a gather of the input's pixels.
    """
    _, height, width, _ = images.shape
    max_y, max_x = _side(height, ratio), _side(width, ratio)
    if shifts is None:
        shifts = _draw_offsets(images, [(-max_y, max_y), (-max_x, max_x)])
    padded = tf.pad(images, [[0, 0], [max_y, max_y], [max_x, max_x], [0, 0]])
    # Output row i of an image shifted by dy reads input row i - dy, padded row i - dy + max_y.
    rows = tf.range(height)[None, :] + max_y - shifts[:, :1]
    cols = tf.range(width)[None, :] + max_x - shifts[:, 1:]
    moved = tf.gather(padded, rows, axis=1, batch_dims=1)
    return tf.gather(moved, cols, axis=2, batch_dims=1)


def cutout(images, corners=None, ratio=CUTOUT_RATIO):
    """Set a square of each image, `ratio` of its side, to 0 (mid-grey).

    `corners` [b, 2] int32 gives each square's top-left (row, column); by default the square's
    centre is drawn uniformly over the image, so a square near the border is cut off by it.
    Differentiable: the pixels kept pass their gradient, the blanked ones pass none.
    """
    _, height, width, _ = images.shape
    cut_h, cut_w = _side(height, ratio), _side(width, ratio)
    if corners is None:
        centres = _draw_offsets(images, [(0, height - 1), (0, width - 1)])
        corners = centres - [[cut_h // 2, cut_w // 2]]
    rows = tf.range(height)[None, :] - corners[:, :1]  # [b, h]: row offset into the square
    cols = tf.range(width)[None, :] - corners[:, 1:]
    in_rows = (rows >= 0) & (rows < cut_h)
    in_cols = (cols >= 0) & (cols < cut_w)
    hole = in_rows[:, :, None] & in_cols[:, None, :]  # [b, h, w]
    return images * tf.cast(~hole, images.dtype)[..., None]


# The ops of the policies dcgan.recipes.AUGMENT_POLICIES names (a test keeps the two equal).
POLICIES = {"color": color, "translation": translation, "cutout": cutout}


def augment(images, policies):
    """`images` with each policy named in `policies` applied, in AUGMENT_POLICIES order.

    With no policies it returns `images` itself and adds no op, so a run without --augment
    trains on exactly the graph it had before augmentation existed.
    """
    if not policies:
        return images
    with tf.name_scope(SCOPE):
        for name in AUGMENT_POLICIES:
            if name in policies:
                images = POLICIES[name](images)
    return images
