"""Sessions, and a trained generator loaded from a run's newest checkpoint."""

import numpy as np
import tensorflow as tf

from dcgan import checkpoints, latent, model, ops, runtime, words
from dcgan.errors import UsageError

tf1 = tf.compat.v1


def run_sampler(session, sampler, z, labels=None, chunk=256):
    """Images in [-1, 1] from a `model.Sampler` for latent vectors `z`, `chunk` at a time.

    Conditional models without `labels` get the digits 0, 1, ..., 9, 0, ... in turn.
    """
    if labels is None:
        labels = sampler.cfg.labels_for(np.arange(len(z)))
    out = []
    for start in range(0, len(z), chunk):
        part_labels = None if labels is None else labels[start:start + chunk]
        out.append(session.run(sampler.images, sampler.feed(z[start:start + chunk], part_labels)))
    return np.concatenate(out) if out else np.zeros((0,), np.float32)


class TrainedGenerator:
    """The sampler (and optionally D's scores) of a trained run, restored in its own graph.

    Use as a context manager, or call close(). `step` is the checkpoint's training step.
    The sampler reads the EMA of the generator's weights when the run kept one (`ema=None`);
    `ema=False` picks the trained weights themselves. `checkpoint` picks a checkpoint path
    other than the newest.
    """

    def __init__(self, settings, with_discriminator=False, ema=None, checkpoint=None):
        folder = settings.run_checkpoint_dir
        if checkpoints.latest(folder) is None:
            raise UsageError(f"no checkpoint in {words.folder(folder)}: train first with "
                             f"`{words.command()} --dataset {settings.dataset} --name "
                             f"{settings.run_name} --train`")
        if ema and not settings.ema:
            raise UsageError(f"{folder} was trained without --ema: it has no averaged weights")
        runtime.start()
        settings = runtime.resolve_precision(settings, sampling=True)
        self.settings = settings
        self.cfg = settings.model
        self.ema = bool(settings.ema) if ema is None else ema
        self.graph = tf.Graph()
        with self.graph.as_default(), ops.built_for(settings.precision):
            self.sampler = model.Sampler(self.cfg, ema=self.ema)
            self.d_score = None
            if with_discriminator:
                self.d_images = tf1.placeholder(
                    tf.float32, [None, self.cfg.output_height, self.cfg.output_width,
                                 self.cfg.c_dim], name="d_images")
                self.d_score = model.discriminator(self.d_images, self.sampler.y, self.cfg,
                                                   train=False)[:, 0]
            self.session = tf1.Session(graph=self.graph, config=runtime.session_config(settings))
            restorer = checkpoints.Checkpointer(folder, var_list=tf1.global_variables())
            self.step = restorer.restore(self.session, checkpoint)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        """Release the session."""
        self.session.close()

    def sample_z(self, count, rng_seed=None):
        """`count` latent vectors from the run's z distribution, drawn by numpy (reproducibly
        when `rng_seed` is given). Not "the image of seed s": that is `dcgan.latent.seed_z`."""
        return latent.sample_z(np.random.default_rng(rng_seed), count, self.cfg.z_dim,
                               self.cfg.z_dist)

    def generate(self, z, labels=None, chunk=256):
        """Images in [-1, 1] for latent vectors `z` (and digit labels for MNIST), in chunks."""
        return run_sampler(self.session, self.sampler, z, labels, chunk)

    def score(self, images, labels=None, chunk=256):
        """The discriminator's logit for each image, in fp32: higher is "more real"
        (needs with_discriminator). Logits, not probabilities, because a confident D's
        sigmoid rounds to exactly 1.0 and then cannot rank."""
        scores = []
        for start in range(0, len(images), chunk):
            feed = {self.d_images: images[start:start + chunk]}
            if self.cfg.y_dim:
                feed[self.sampler.y] = model.one_hot(labels[start:start + chunk], self.cfg.y_dim)
            scores.append(self.session.run(self.d_score, feed))
        return np.concatenate(scores)
