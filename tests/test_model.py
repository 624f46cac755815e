"""The DCGAN graph on real pictures: variables by scope, sampler, batch norm, learning."""

import numpy as np
import pytest
import tensorflow as tf
from helpers import carpedm20, photo_arrays

from dcgan import latent, model
from dcgan.network import ModelConfig

tf1 = tf.compat.v1
CFG = ModelConfig(output_height=24, output_width=24, c_dim=3, z_dim=16, gf_dim=8, df_dim=8)


def real_batch(count=16, size=24):
    """Real pictures (package photos) resized to `size`, as floats in [-1, 1]."""
    return photo_arrays(count, size).astype(np.float32) / 127.5 - 1.0


@pytest.fixture()
def graph():
    with tf.Graph().as_default() as g:
        tf1.set_random_seed(3)
        yield g


def test_networks_own_their_variables_and_sampler_shares_them(graph):
    gan = model.DCGAN(CFG, tf.constant(real_batch(8)), choices=carpedm20())
    g_vars = model.scoped_variables(model.GENERATOR_SCOPE, tf1.GraphKeys.TRAINABLE_VARIABLES)
    d_vars = model.scoped_variables(model.DISCRIMINATOR_SCOPE, tf1.GraphKeys.TRAINABLE_VARIABLES)
    assert g_vars and d_vars and not set(g_vars) & set(d_vars)
    # The sampler adds no weights of its own.
    assert all(v.name.startswith(("generator/", "discriminator/")) or "Adam" in v.name
               or "beta" in v.name or v.name.startswith("global_step")
               for v in tf1.global_variables())
    with tf1.Session() as session:
        session.run(tf1.global_variables_initializer())
        for count in (1, 3, 40):  # any number of samples, independent of the batch size
            z = latent.sample_z(np.random.default_rng(0), count, CFG.z_dim)
            assert session.run(gan.sampler.images, gan.sampler.feed(z)).shape == (count, 24, 24, 3)


def test_generator_moving_statistics_change_in_training_and_drive_the_sampler(graph):
    gan = model.DCGAN(CFG, tf.constant(real_batch(8)), choices=carpedm20())
    moving = next(v for v in tf1.global_variables() if v.name == "generator/g_bn1/moving_mean:0")
    z = latent.sample_z(np.random.default_rng(0), 4, CFG.z_dim)
    with tf1.Session() as session:
        session.run(tf1.global_variables_initializer())
        before = session.run(moving)
        session.run(gan.g_optim)
        after = session.run(moving)
        assert np.abs(after - before).max() > 0
        sample = session.run(gan.sampler.images, gan.sampler.feed(z))
        session.run(moving.assign(after + 1.0))
        shifted = session.run(gan.sampler.images, gan.sampler.feed(z))
    # Untrained outputs are tiny (weights ~N(0, 0.02)): compare relative to their size.
    assert np.abs(shifted - sample).max() > 0.01 * np.abs(sample).max()
    assert np.abs(sample).max() <= 1.0


def test_discriminator_steps_lower_its_loss_on_a_fixed_batch_of_real_faces(graph):
    gan = model.DCGAN(CFG, tf.constant(real_batch(16)), choices=carpedm20())
    with tf1.Session() as session:
        session.run(tf1.global_variables_initializer())
        first = np.mean([session.run(gan.d_loss) for _ in range(3)])
        for _ in range(15):
            session.run(gan.d_optim)
        last = np.mean([session.run(gan.d_loss) for _ in range(3)])
        step = session.run(gan.global_step)
    assert last < 0.7 * first, (first, last)
    assert step == 15


def test_conditional_mnist_model_follows_its_labels(graph):
    cfg = ModelConfig(output_height=28, output_width=28, c_dim=1, z_dim=8, y_dim=10,
                            gf_dim=8, df_dim=8, gfc_dim=32, dfc_dim=32)
    gan = model.DCGAN(cfg, tf.zeros([4, 28, 28, 1]), tf.one_hot([0, 1, 2, 3], 10),
                      choices=carpedm20())
    z = np.zeros((2, 8), np.float32)
    with tf1.Session() as session:
        session.run(tf1.global_variables_initializer())
        session.run([gan.d_optim, gan.g_optim])
        digits = session.run(gan.sampler.images, gan.sampler.feed(z, [3, 7]))
    assert digits.shape == (2, 28, 28, 1)
    assert np.abs(digits[0] - digits[1]).max() > 0  # same z, different label


@pytest.mark.parametrize("dist", latent.NAMES)
def test_sample_z_matches_the_named_distribution(dist):
    z = latent.sample_z(np.random.default_rng(0), 4000, 5, dist)
    low, high = latent.z_range(dist)
    assert z.dtype == np.float32 and z.shape == (4000, 5)
    if dist.startswith("uniform"):
        assert z.min() >= low and z.max() <= high
    else:
        assert abs(z.std() - 1.0) < 0.05
