"""The DCGAN graph: generator, discriminator, losses, optimisers and the sampler.

A port of carpedm20/DCGAN-tensorflow's architecture to tf.compat.v1 graph mode. Two layer stacks
share one code path: the convolutional DCGAN for pictures of any size, and carpedm20's small
conditional network for MNIST, chosen by `ModelConfig.y_dim` (0 = unconditional). All images in
the graph are float in [-1, 1], NHWC.
"""


import numpy as np
import tensorflow as tf

from dcgan import augment, latent, ops, recipes
from dcgan.network import layer_sizes

tf1 = tf.compat.v1

GENERATOR_SCOPE = "generator"
DISCRIMINATOR_SCOPE = "discriminator"
# Each generator variable's exponential moving average lives beside it as `<variable>/ema`.
EMA_SUFFIX = "ema"


def _random_z(count, cfg):
    shape = tf.stack([count, cfg.z_dim])
    dist = latent.distribution(cfg.z_dist)
    if dist.normal:
        return tf.random.normal(shape)
    return tf.random.uniform(shape, dist.low, dist.high)


def generator(z, y, cfg, train, ema=False):
    """Map latent vectors z [b, z_dim] (and one-hot labels y [b, y_dim]) to images in [-1, 1].

    `train` picks batch statistics (True) or the moving averages (False, the sampler). Both
    builds share the variables under the `generator` scope. `ema=True` builds the same layers
    on the exponential moving averages of those variables (see `_ema_getter`).
    """
    getter = _ema_getter if ema else None
    with tf1.variable_scope(GENERATOR_SCOPE, reuse=tf1.AUTO_REUSE, custom_getter=getter):
        if cfg.y_dim:
            return _conditional_generator(z, y, cfg, train)
        return _conv_generator(z, cfg, train)


def _ema_getter(getter, name, *args, **kwargs):
    """Hand out a variable's moving-average shadow `<name>/ema` in place of the variable.

    Every generator variable is shadowed, the batch-norm moving statistics included, so the
    averaged weights are normalised by statistics averaged over the same stretch of training
    (as BigGAN's EMA of the whole state does). A new shadow starts equal to its variable: both
    take the one initial-value tensor in the same initialiser run.
    """
    variable = getter(name, *args, **kwargs)
    # No aggregation: under tf.distribute every replica moves its own copy of the shadow, with
    # no all-reduce, and the copies stay equal because the variables they follow are.
    return getter(f"{name}/{EMA_SUFFIX}", initializer=variable.initial_value,
                  trainable=False, collections=[tf1.GraphKeys.GLOBAL_VARIABLES])


def ema_pairs():
    """(variable, shadow) pairs of the generator variables that have an EMA shadow."""
    # By `name`, not `op.name`: a tf.distribute variable's op is its replica's copy
    # (`.../replica_1`), its name the variable's own.
    variables = {v.name.split(":")[0]: v for v in scoped_variables(GENERATOR_SCOPE)}
    suffix = "/" + EMA_SUFFIX
    return [(variables[name[:-len(suffix)]], shadow) for name, shadow in variables.items()
            if name.endswith(suffix)]


def ema_update(decay, step, start=0):
    """One EMA step of every generator shadow towards its variable.

    The decay is min(decay, (1 + t) / (10 + t)) with t the steps since `start`, as in
    tf.train.ExponentialMovingAverage, so early in training the average follows the
    fast-changing weights instead of remembering the random initialisation for thousands of
    steps. Before step `start` the shadows copy the variables.
    """
    since = tf.cast(step, tf.float32)
    if start:
        since = tf.maximum(since - start, 0.0)
    rate = 1.0 - tf.minimum(decay, (1.0 + since) / (10.0 + since))
    if start:
        rate = tf.where(step < start, 1.0, rate)
    return tf.group(*[tf1.assign_sub(shadow, rate * (shadow - variable))
                      for variable, shadow in ema_pairs()], name="ema_update")


def _conv_generator(z, cfg, train):
    s_h, s_h2, s_h4, s_h8, s_h16 = layer_sizes(cfg.output_height, 4)
    s_w, s_w2, s_w4, s_w8, s_w16 = layer_sizes(cfg.output_width, 4)
    gf = cfg.gf_dim
    # z [b, z_dim] -> [b, s16, s16, gf*8]
    h0 = ops.linear(z, gf * 8 * s_h16 * s_w16, "g_h0_lin")
    h0 = tf.reshape(h0, [-1, s_h16, s_w16, gf * 8])
    h0 = tf.nn.relu(ops.batch_norm(h0, train, "g_bn0"))
    # -> [b, s8, s8, gf*4]
    h1 = ops.deconv2d(h0, (s_h8, s_w8), gf * 4, kernel=cfg.g_kernel, scope="g_h1")
    h1 = tf.nn.relu(ops.batch_norm(h1, train, "g_bn1"))
    # -> [b, s4, s4, gf*2]
    h2 = ops.deconv2d(h1, (s_h4, s_w4), gf * 2, kernel=cfg.g_kernel, scope="g_h2")
    h2 = tf.nn.relu(ops.batch_norm(h2, train, "g_bn2"))
    # -> [b, s2, s2, gf]
    h3 = ops.deconv2d(h2, (s_h2, s_w2), gf, kernel=cfg.g_kernel, scope="g_h3")
    h3 = tf.nn.relu(ops.batch_norm(h3, train, "g_bn3"))
    # -> [b, s, s, c_dim]
    h4 = ops.deconv2d(h3, (s_h, s_w), cfg.c_dim, kernel=cfg.g_kernel, scope="g_h4",
                       output_layer=True)
    return tf.nn.tanh(h4)


def _conditional_generator(z, y, cfg, train):
    s_h, s_h2, s_h4 = layer_sizes(cfg.output_height, 2)
    s_w, s_w2, s_w4 = layer_sizes(cfg.output_width, 2)
    gf = cfg.gf_dim
    # [b, z_dim + y_dim] -> [b, gfc_dim], y appended again
    h0 = tf.concat([z, y], 1)
    h0 = tf.nn.relu(ops.batch_norm(ops.linear(h0, cfg.gfc_dim, "g_h0_lin"), train, "g_bn0"))
    h0 = tf.concat([h0, y], 1)
    # -> [b, s4, s4, gf*2], y appended as constant feature maps
    h1 = ops.linear(h0, gf * 2 * s_h4 * s_w4, "g_h1_lin")
    h1 = tf.nn.relu(ops.batch_norm(h1, train, "g_bn1"))
    h1 = ops.conv_cond_concat(tf.reshape(h1, [-1, s_h4, s_w4, gf * 2]), y)
    # -> [b, s2, s2, gf*2]
    h2 = ops.deconv2d(h1, (s_h2, s_w2), gf * 2, kernel=cfg.g_kernel, scope="g_h2")
    h2 = ops.conv_cond_concat(tf.nn.relu(ops.batch_norm(h2, train, "g_bn2")), y)
    # -> [b, s, s, c_dim]
    return tf.nn.tanh(ops.deconv2d(h2, (s_h, s_w), cfg.c_dim, kernel=cfg.g_kernel, scope="g_h3",
                                   output_layer=True))


def discriminator(images, y, cfg, train=True):
    """Score images [b, h, w, c] in [-1, 1] as real; returns logits [b, 1] (fp32 in any graph:
    `ops.logit`).

    As in carpedm20, the training graph always uses batch statistics (`train=True`); the
    moving averages (`train=False`) serve scoring outside training, e.g. best-of-N sampling.
    """
    with tf1.variable_scope(DISCRIMINATOR_SCOPE, reuse=tf1.AUTO_REUSE):
        if cfg.y_dim:
            return _conditional_discriminator(images, y, cfg, train)
        return _conv_discriminator(images, cfg, train)


def _conv_discriminator(images, cfg, train):
    df = cfg.df_dim
    h0 = ops.lrelu(ops.conv2d(images, df, scope="d_h0_conv"))  # [b, s2, s2, df]
    h1 = ops.lrelu(ops.batch_norm(ops.conv2d(h0, df * 2, scope="d_h1_conv"), train, "d_bn1"))
    h2 = ops.lrelu(ops.batch_norm(ops.conv2d(h1, df * 4, scope="d_h2_conv"), train, "d_bn2"))
    h3 = ops.lrelu(ops.batch_norm(ops.conv2d(h2, df * 8, scope="d_h3_conv"), train, "d_bn3"))
    # [b, s16, s16, df*8] -> [b, 1]
    flat = tf.reshape(h3, [-1, int(np.prod(h3.shape[1:]))])
    return ops.logit(flat, "d_h4_lin")


def _conditional_discriminator(images, y, cfg, train):
    x = ops.conv_cond_concat(images, y)  # [b, s, s, c + y]
    h0 = ops.lrelu(ops.conv2d(x, cfg.c_dim + cfg.y_dim, scope="d_h0_conv"))  # [b, s2, s2, c+y]
    h0 = ops.conv_cond_concat(h0, y)
    h1 = ops.conv2d(h0, cfg.df_dim + cfg.y_dim, scope="d_h1_conv")  # [b, s4, s4, df+y]
    h1 = ops.lrelu(ops.batch_norm(h1, train, "d_bn1"))
    h1 = tf.concat([tf.reshape(h1, [-1, int(np.prod(h1.shape[1:]))]), y], 1)
    h2 = ops.lrelu(ops.batch_norm(ops.linear(h1, cfg.dfc_dim, "d_h2_lin"), train, "d_bn2"))
    h2 = tf.concat([h2, y], 1)  # [b, dfc + y]
    return ops.logit(h2, "d_h3_lin")


def _sigmoid_xent(logits, label):
    # A real-image label below 1 is one-sided label smoothing (Salimans et al. 2016).
    labels = tf.fill(tf.shape(logits), label)
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(logits=logits, labels=labels))


def scoped_variables(scope, collection=tf1.GraphKeys.GLOBAL_VARIABLES):
    """Variables of one network, chosen by scope name (`generator` or `discriminator`)."""
    return tf1.get_collection(collection, scope=scope + "/")


class Sampler:
    """The generator in inference mode behind placeholders `z` (and `y` for MNIST).

    Takes any number of latent vectors; its output tensor is named `sampler:0` (the first
    sampler of a graph). `ema=True` samples from the moving averages of the weights.
    """

    def __init__(self, cfg, ema=False):
        self.cfg = cfg
        self.ema = ema
        self.z = tf1.placeholder(tf.float32, [None, cfg.z_dim], name="z")
        self.y = tf1.placeholder(tf.float32, [None, cfg.y_dim], name="y") if cfg.y_dim else None
        self.images = tf.identity(generator(self.z, self.y, cfg, train=False, ema=ema),
                                  name="sampler")

    def feed(self, z, labels=None):
        """The feed dict for latent vectors `z` and, for conditional models, integer labels."""
        feed = {self.z: z}
        if self.y is not None:
            feed[self.y] = one_hot(labels, self.cfg.y_dim)
        return feed


def one_hot(labels, depth):
    """Integer labels -> float32 one-hot rows."""
    labels = np.asarray(labels, dtype=np.int64)
    return np.eye(depth, dtype=np.float32)[labels]


def _per_replica(loss, replicas):
    """The share of one replica's mean loss in the global-batch mean (no op on one device)."""
    return loss if replicas == 1 else loss / replicas


class DCGAN:
    """The training graph: G and D on a batch of real images, their losses and Adam updates.

    `real_images` is a float tensor in [-1, 1] (from the input pipeline, no feed_dict);
    `real_labels` one-hot for conditional models. Fake images get fresh latent vectors (and
    uniformly drawn labels) on every run of an update op. With an `ema` decay > 0 every run of
    `g_optim` also moves the generator's EMA shadows (from step `ema_start`), and `sampler`
    reads them; `raw_sampler` always reads the trained weights themselves.

    `choices` are the run's training choices, resolved (`RunSettings.choices`, or a recipe of
    `dcgan.recipes.RECIPES`): `d_learning_rate` / `g_learning_rate` are the two nets' Adam
    rates, `beta1` their momentum and `beta2` the decay of their squared gradients' average,
    `label_smoothing` is D's target for real images, `ema` and `ema_start` the EMA's decay and
    first step, and `augment` names the DiffAugment policies applied to every image D sees in
    training (`dcgan.augment`; the samplers never).
    `lr_half_life` > 0 decays both rates with the step (`rate_decay`).
    `r1_gamma` > 0 adds `d_optim_r1`, the D update whose loss `d_loss_r1` adds the lazy R1
    penalty (`r1_penalty`, weighted gamma * `r1_every`), for the trainer to run in place of
    `d_optim` every `r1_every` steps; with 0 the graph is the plain one. No default is applied
    here: the recipe is the one place they are declared.

    `replicas` > 1 builds one replica of a tf.distribute run (inside `call_for_each_replica`):
    the optimisers then minimise loss / replicas, because tf.compat.v1 optimisers outside an
    Estimator all-reduce gradients with SUM (TF 2.21's distribute_utils.get_loss_reduction), so
    the sum of the scaled gradients is the mean over the global batch.
    """

    def __init__(self, cfg, real_images, real_labels=None, *, choices, replicas=1):
        self.cfg = cfg
        augment_policies = recipes.parse_augment(choices["augment"])
        batch = tf.shape(real_images)[0]
        self.z = _random_z(batch, cfg)
        fake_labels = None
        if cfg.y_dim:
            drawn = tf.random.uniform([batch], 0, cfg.y_dim, dtype=tf.int32)
            fake_labels = tf.one_hot(drawn, cfg.y_dim)
        self.fake_images = generator(self.z, fake_labels, cfg, train=True)
        # Each run of an update op draws fresh augmentations, so the D step augments real and
        # fake images and the G step augments the fakes again.
        seen_real = augment.augment(real_images, augment_policies)
        seen_fake = augment.augment(self.fake_images, augment_policies)
        real_logits = discriminator(seen_real, real_labels, cfg, train=True)
        fake_logits = discriminator(seen_fake, fake_labels, cfg, train=True)
        self.d_real = tf.sigmoid(real_logits)
        self.d_fake = tf.sigmoid(fake_logits)

        self.d_loss_real = _sigmoid_xent(real_logits, choices["label_smoothing"])
        self.d_loss_fake = _sigmoid_xent(fake_logits, 0.0)
        self.d_loss = self.d_loss_real + self.d_loss_fake
        # Non-saturating generator loss: G maximises log D(G(z)).
        self.g_loss = _sigmoid_xent(fake_logits, 1.0)
        self.seen_real = seen_real
        # D's loss on a lazy R1 step (None without R1): the penalty, scaled by its interval.
        self.d_loss_r1 = None
        d_losses = [self.d_loss]
        if choices["r1_gamma"] > 0:
            self.d_loss_r1 = self.d_loss + r1_penalty(real_logits, seen_real, choices["r1_gamma"]
                                                      * choices["r1_every"])
            d_losses.append(self.d_loss_r1)

        self.global_step = tf1.train.get_or_create_global_step()
        betas, ema_decay = (choices["beta1"], choices["beta2"]), choices["ema"]
        decay = rate_decay(self.global_step, choices["lr_half_life"])
        d_optims = self._adam_steps([_per_replica(loss, replicas) for loss in d_losses],
                                    DISCRIMINATOR_SCOPE, choices["d_learning_rate"] * decay,
                                    betas, self.global_step, replicas=replicas)
        # `d_optim_r1` (None without R1) replaces `d_optim` on every r1_every-th step.
        self.d_optim, self.d_optim_r1 = [*d_optims, None][:2]
        [self.g_optim] = self._adam_steps([_per_replica(self.g_loss, replicas)], GENERATOR_SCOPE,
                                          choices["g_learning_rate"] * decay, betas,
                                          replicas=replicas)
        self.sampler = Sampler(cfg, ema=ema_decay > 0)
        self.raw_sampler = self.sampler
        if ema_decay > 0:
            self.raw_sampler = Sampler(cfg)
            with tf.control_dependencies([self.g_optim]):
                self.g_optim = ema_update(ema_decay, self.global_step, choices["ema_start"])

    @staticmethod
    def _adam_steps(losses, scope, learning_rate, betas, global_step=None, replicas=1):
        """One Adam update op of the `scope` network per loss, all sharing one optimizer's
        moments (so a lazy R1 step continues the plain steps' Adam state). With several
        replicas of a bf16 graph their gradients are all-reduced in bf16 (`Bf16WireAdam`)."""
        # Each network's batch-norm moving averages advance only with its own update, by the
        # statistics of its first call in the graph (D's on the real batch).
        updates = ops.update_moving_statistics(scope + "/")
        adam = Bf16WireAdam if replicas > 1 and ops.building_for_bf16() else \
            tf1.train.AdamOptimizer
        beta1, beta2 = betas
        optimizer = adam(learning_rate, beta1=beta1, beta2=beta2, name=f"Adam_{scope}")
        variables = scoped_variables(scope, tf1.GraphKeys.TRAINABLE_VARIABLES)
        with tf.control_dependencies(updates):
            return [optimizer.minimize(loss, var_list=variables, global_step=global_step)
                    for loss in losses]


class Bf16WireAdam(tf1.train.AdamOptimizer):
    """Adam whose cross-replica all-reduce carries the gradients in bf16: half the bytes of
    fp32 on the wire, the cost that bounds a multi-worker step (bench/README.md, Several
    workers). The moments and weights stay fp32.

    Under the bf16 rewrite the weight gradients are computed in bf16 already (the rewrite casts
    them to fp32 for Adam), so the cast loses nothing but the rounding of their sum; the
    all-reduce of a tf.compat.v1 optimizer happens inside `apply_gradients` (its
    `_distributed_apply`), so the cast goes in before it and the way back after it.
    """

    def apply_gradients(self, grads_and_vars, global_step=None, name=None):
        """`AdamOptimizer.apply_gradients` of the gradients cast to bf16."""
        wire = [(None if grad is None else tf.cast(grad, tf.bfloat16), var)
                for grad, var in grads_and_vars]
        return super().apply_gradients(wire, global_step, name)

    def _resource_apply_dense(self, grad, var):
        return super()._resource_apply_dense(tf.cast(grad, var.dtype.base_dtype), var)


def rate_decay(global_step, half_life):
    """The factor on both nets' Adam rates at `global_step`: 1 for the first `half_life` steps,
    then halving every `half_life` steps (a float32 tensor); the number 1 when `half_life` is 0,
    so a run with constant rates builds exactly the graph it always had.

    A schedule of the step alone, not of the run's length, so a resumed, extended or
    `--minutes` run decays the same way.
    """
    if not half_life:
        return 1.0
    halvings = tf.maximum(tf.cast(global_step, tf.float32) / half_life - 1.0, 0.0)
    return tf.pow(0.5, halvings)


def r1_penalty(real_logits, seen_real, weight):
    """The R1 penalty (Mescheder et al. 2018), `weight` / 2 * E[||grad_x D(x)||^2] over the real
    images `seen_real` as D sees them (after DiffAugment), as a scalar.

    A lazy penalty (StyleGAN2) passes gamma * its interval as `weight`. The gradient of the sum of
    the logits gives each image its own gradient (batch norm couples them only through the
    batch's statistics, as in training). Under bf16 the gradient is computed by the rewritten
    ops like any other and squared behind `ops.fp32_edge`, so the sum of squares keeps fp32's
    resolution.
    """
    [gradient] = ops.differentiable_gradients(tf.reduce_sum(real_logits), [seen_real])
    squares = tf.reduce_sum(tf.square(ops.fp32_edge(gradient)), axis=[1, 2, 3])
    return 0.5 * weight * tf.reduce_mean(squares)
