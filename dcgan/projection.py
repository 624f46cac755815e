"""Projection: the latent vector z whose picture is closest to a given picture.

The trained generator is frozen; z becomes a variable, and Adam moves it downhill on

    loss(z) = mean squared pixel error + LAPLACIAN_WEIGHT * Laplacian-pyramid L1 distance

from several starting points at once (the restarts, each one row of the z variable), keeping the
row whose loss ends lowest. After every step z is clipped back into the range the run's latent
distribution covers (`latent.bounds`): a vector outside it is one the generator never saw in
training, and its picture is no longer a picture "of the model".

Why a Laplacian pyramid (Bojanowski et al., "Optimizing the latent space of generative
networks", 2018) and not the discriminator's features: it needs no download and no second
network, works the same for every run (a tiny 16 px test run, an MNIST run, a run whose D is
poor or overfitted), and it measures what a pixel loss misses: the squared error is dominated by
a few large colour differences and is content with a blurred average, while the pyramid weighs
every scale equally (the coarse layout as much as the edges), so the optimiser is pulled
towards the target's structure. D's features are trained to tell real from fake, not to say how
alike two pictures are, and they change meaning from checkpoint to checkpoint.

The graph is built into the trained generator's own graph (`session.TrainedGenerator`), on the
variables the checkpoint restored: `model.generator` is called once more with z a variable
instead of a placeholder. Only z and Adam's state are initialised here.
"""

import dataclasses

import numpy as np
import tensorflow as tf

from dcgan import grids, latent, model, ops

tf1 = tf.compat.v1

LEARNING_RATE = 0.05  # in z units: the latent ranges are about 2 wide
LAPLACIAN_WEIGHT = 1.0
FRAMES = 30  # pictures of the optimisation kept for the GIF
SMALLEST_LEVEL = 4  # the pyramid stops before a level smaller than this many pixels a side


@dataclasses.dataclass
class Projection:
    """What `project` found.

    `z` float32 [z_dim]: the latent vector; `image` uint8 [h, w, c]: its picture; `target` uint8
    [h, w, c]: the picture projected; `distance`: the mean absolute pixel difference between
    the two (0-255 units); `loss`: the final loss; `frames` uint8 [n, h, w, c]: the picture of
    the kept restart as the optimisation went (first the starting point, last `image`).
    `handle`: `z` as text the web page's seed box takes (`latent.to_handle`).
    """

    z: np.ndarray
    image: np.ndarray
    target: np.ndarray
    distance: float
    loss: float
    frames: np.ndarray

    @property
    def handle(self):
        """`z` as a handle (float16 in text: `dcgan.latent.to_handle`)."""
        return latent.to_handle(self.z)


def pixel_distance(first, second):
    """Mean absolute difference of uint8 pictures, in 0-255 units, over the last three axes
    (a float for one pair, an array for stacks of pictures)."""
    difference = np.abs(np.asarray(first, np.float64) - np.asarray(second, np.float64))
    return difference.mean(axis=(-3, -2, -1))


def laplacian_pyramid(images, smallest=SMALLEST_LEVEL):
    """The Laplacian pyramid of float images [b, h, w, c]: each level is a picture minus its
    half-size copy enlarged again (the detail of that scale), the last the smallest copy."""
    levels, current = [], images
    while min(current.shape[1], current.shape[2]) // 2 >= smallest:
        smaller = tf.nn.avg_pool2d(current, 2, 2, "SAME")
        enlarged = tf.image.resize(smaller, tf.shape(current)[1:3], method="bilinear")
        levels.append(current - enlarged)
        current = smaller
    return [*levels, current]


def laplacian_distance(images, targets):
    """Per picture, the sum over pyramid levels of the mean absolute difference [b]: the mean,
    not the sum, over each level's pixels gives every scale the same weight."""
    return tf.add_n([tf.reduce_mean(tf.abs(mine - theirs), axis=[1, 2, 3])
                     for mine, theirs in zip(laplacian_pyramid(images),
                                             laplacian_pyramid(targets), strict=True)])


class Projector:
    """The projection graph of one trained generator for `restarts` starting points at once.

    Built once (into `trained.graph`) and reused for every picture projected with it.
    """

    def __init__(self, trained, restarts):
        cfg = trained.cfg
        self.trained = trained
        self.restarts = restarts
        self.low, self.high = latent.bounds(cfg.z_dist)
        shape = (cfg.output_height, cfg.output_width, cfg.c_dim)
        with trained.graph.as_default(), ops.built_for(trained.settings.precision):
            with tf1.variable_scope("projection"):  # not around G: its variables are restored
                self.target = tf1.placeholder(tf.float32, shape, name="target")
                self.start = tf1.placeholder(tf.float32, [restarts, cfg.z_dim], name="start")
                # z starts where `start` is fed, each time the reset op runs.
                self.z = tf1.get_variable("z", initializer=self.start, trainable=False)
                self.y = tf1.placeholder(tf.float32, [None, cfg.y_dim], name="y") \
                    if cfg.y_dim else None
            self.images = tf.cast(model.generator(self.z, self.y, cfg, train=False,
                                                  ema=trained.ema), tf.float32)
            targets = tf.tile(self.target[tf.newaxis], [restarts, 1, 1, 1])
            squared = tf.reduce_mean(tf.square(self.images - targets), axis=[1, 2, 3])
            self.losses = squared + LAPLACIAN_WEIGHT * laplacian_distance(self.images, targets)
            optimizer = tf1.train.AdamOptimizer(LEARNING_RATE, name="Adam_projection")
            # Each restart's loss depends on its own row of z alone (batch norm reads its
            # moving averages here), so minimising the sum moves every row on its own loss.
            step = optimizer.minimize(tf.reduce_sum(self.losses), var_list=[self.z])
            with tf.control_dependencies([step]):
                # read_value: a read made after the step, not the variable's first snapshot.
                clipped = tf.clip_by_value(self.z.read_value(), self.low, self.high)
                self.step = tf1.assign(self.z, clipped)
            self.reset = tf1.variables_initializer([self.z, *optimizer.variables()])

    def project(self, target, start, label, steps, frames=FRAMES):
        """Project uint8 picture `target` [h, w, c] from latent vectors `start` [restarts,
        z_dim] (digit `label` for a conditional run); returns a Projection."""
        session = self.trained.session
        feed = {self.target: np.asarray(target, np.float32) / 127.5 - 1.0}
        if self.y is not None:
            feed[self.y] = model.one_hot(np.full(self.restarts, label), self.trained.cfg.y_dim)
        session.run(self.reset, {**feed, self.start: np.clip(start, self.low, self.high)})
        kept_at = set(np.linspace(0, steps, min(frames, steps + 1)).round().astype(int))
        history = []
        for done in range(steps + 1):
            if done in kept_at:
                history.append(session.run(self.images, feed))
            if done < steps:
                session.run(self.step, feed)
        z, losses = session.run([self.z, self.losses], feed)
        best = int(np.argmin(losses))
        pictures = grids.to_uint8(np.stack(history)[:, best])
        return Projection(z=z[best], image=pictures[-1], target=np.asarray(target, np.uint8),
                          distance=float(pixel_distance(pictures[-1], target)),
                          loss=float(losses[best]), frames=pictures)
