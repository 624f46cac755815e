"""Layers of the DCGAN written on raw TensorFlow ops (tf.compat.v1 graph mode).

Keras 3 removed `tf.compat.v1.layers` and `tf.contrib` is gone, so every layer here is
`get_variable` plus a `tf.nn` op. Tensors are NHWC. Weights start from N(0, 0.02) as in the
DCGAN paper; biases from zero.
"""

import contextlib
import dataclasses
import re

import numpy as np
import tensorflow as tf
from tensorflow.python.ops import gen_nn_ops

tf1 = tf.compat.v1

BN_DECAY = 0.9
BN_EPSILON = 1e-5
INIT_STDDEV = 0.02


def _weights(name, shape, stddev=INIT_STDDEV):
    return tf1.get_variable(name, shape, initializer=tf1.random_normal_initializer(stddev=stddev))


def _bias(name, size):
    return tf1.get_variable(name, [size], initializer=tf1.constant_initializer(0.0))


def lrelu(x, leak=0.2, name="lrelu"):
    """Leaky ReLU on the fused LeakyRelu op, its gradient taken from the output.

    The fused op and its fused gradient cost much less CPU time per training iteration than
    `maximum(x, leak*x)`, whose gradient is a compare and two selects over every activation
    (bench/README.md, "Design figures"). The gradient reads the output rather than the input
    (for 0 < leak < 1 both have the same sign): Grappler fuses conv + bias + LeakyRelu into
    one op, and a gradient that still asked for the bias-add's output would make its remapper
    fail with an error line.
    """
    with tf.name_scope(name):
        return _leaky_relu(x, leak)


def _leaky_relu(x, leak):
    @tf.custom_gradient
    def forward(features):
        y = tf.nn.leaky_relu(features, leak)

        def gradient(dy):
            return gen_nn_ops.leaky_relu_grad(dy, y, alpha=leak)

        return y, gradient

    return forward(x)


@tf.RegisterGradient("DcganLeakyReluGradOfGrad")
def _leaky_relu_grad_of_grad(op, grad):
    # leaky_relu_grad(dy, y) is linear in dy with the same mask; in y it is constant almost
    # everywhere (the activation is piecewise linear), so its gradient there is exactly none.
    # TensorFlow's own sends zeros into y's LeakyRelu, whose gradient reads the bias-add
    # Grappler fuses away (see `lrelu`): its remapper would fail for the whole graph.
    return gen_nn_ops.leaky_relu_grad(grad, op.inputs[1], alpha=op.get_attr("alpha")), None


def differentiable_gradients(ys, xs):
    """`tf.gradients(ys, xs)` built to be differentiated again (a gradient penalty), with the
    fused-op-friendly second derivative of `lrelu`."""
    overrides = {"LeakyReluGrad": "DcganLeakyReluGradOfGrad"}
    with tf1.get_default_graph().gradient_override_map(overrides):
        return tf.gradients(ys, xs)


def linear(x, output_size, scope="linear", stddev=INIT_STDDEV):
    """Fully connected layer `x @ W + b` for a 2-D input of shape [batch, features]."""
    with tf1.variable_scope(scope):
        matrix = _weights("Matrix", [int(x.shape[-1]), output_size], stddev)
        bias = _bias("bias", output_size)
        return tf.matmul(x, matrix) + bias


def logit(x, scope="logit", stddev=INIT_STDDEV):
    """A network's single output unit, `x @ W + b` -> [batch, 1], always computed in fp32.

    The variables are those of `linear(x, 1, scope)`, so checkpoints are the same. The product is
    a multiply and a sum rather than a MatMul because the oneDNN bf16 rewrite runs every MatMul in
    bf16, and behind `fp32_edge` neither op is painted: D's score keeps fp32's resolution (bf16
    has 8 bits: near 0.5, a probability moves in steps of 2^-9, so a lightly trained D scored
    every image exactly 0.5). The cost is nothing next to the convolutions.
    """
    with tf1.variable_scope(scope):
        features = int(x.shape[-1])
        matrix = _weights("Matrix", [features, 1], stddev)
        bias = _bias("bias", 1)
        row = tf.reshape(matrix, [1, features])
        return tf.reduce_sum(fp32_edge(x) * row, axis=1, keepdims=True) + bias


def conv2d(x, output_dim, kernel=5, stride=2, scope="conv2d", stddev=INIT_STDDEV):
    """Strided convolution with SAME padding: [b, h, w, c] -> [b, ceil(h/s), ceil(w/s), out]."""
    with tf1.variable_scope(scope):
        w = _weights("w", [kernel, kernel, int(x.shape[-1]), output_dim], stddev)
        conv = tf.nn.conv2d(x, w, strides=[1, stride, stride, 1], padding="SAME")
        return tf.nn.bias_add(conv, _bias("biases", output_dim))


def deconv2d(x, output_hw, output_dim, kernel=5, stride=2, scope="deconv2d",
             stddev=INIT_STDDEV, output_layer=False):
    """Transposed convolution to spatial size `output_hw` = (h, w).

    The output shape takes the batch size from the input at run time, so one graph serves any
    number of images (training batches, a single sample, a 512-image search). `output_layer`:
    the network's last layer, whose bias (and what follows it, e.g. tanh) is computed in fp32
    behind `fp32_edge`, so generated images leave a bf16 graph with fp32 precision.
    """
    height, width = output_hw
    with tf1.variable_scope(scope):
        in_dim = int(x.shape[-1])
        # conv2d_transpose filters are [h, w, out, in].
        w = _weights("w", [kernel, kernel, output_dim, in_dim], stddev)
        output_shape = tf.stack([tf.shape(x)[0], height, width, output_dim])
        deconv = tf.nn.conv2d_transpose(
            x, w, output_shape=output_shape, strides=[1, stride, stride, 1], padding="SAME")
        deconv = tf.reshape(deconv, [-1, height, width, output_dim])
        if output_layer:
            deconv = fp32_edge(deconv)
        return tf.nn.bias_add(deconv, _bias("biases", output_dim))


# Whether the layers being built are for a bf16 session (set by `built_for`, read by `fp32_edge`).
_building_for_bf16 = False


@contextlib.contextmanager
def built_for(precision):
    """Build the layers inside for a session computing in `precision` ("fp32" or "bf16").

    For bf16 (Grappler's oneDNN auto-mixed-precision rewrite), two things differ: the deep
    layers' weight gradients are one matmul (`matmul_filter_gradients`), and `fp32_edge` puts
    its barrier in, so the tensors that leave the graph (images, D's logits, the losses) are
    computed in fp32. For fp32 the graph is exactly as before: what is exported stays clean.
    Wrap the whole model construction (under tf.distribute, every replica's too).
    """
    global _building_for_bf16
    previous, _building_for_bf16 = _building_for_bf16, precision == "bf16"
    try:
        with matmul_filter_gradients(tf.bfloat16 if _building_for_bf16 else None):
            yield
    finally:
        _building_for_bf16 = previous


def building_for_bf16():
    """Whether the layers being built are for a bf16 session (inside `built_for("bf16")`)."""
    return _building_for_bf16


def fp32_edge(x):
    """`x` (float32), behind a barrier that the oneDNN bf16 rewrite does not paint through when
    the graph is built for bf16 (`built_for`); `x` itself otherwise.

    Why: the rewrite runs in bf16 its allow-listed ops (every convolution and MatMul) and also
    every "infer" op (BiasAdd, Tanh, Sigmoid, Mul, Sum, ...) whose input it has already painted,
    so without a barrier a network's output is computed and returned in bf16 (8 bits). A Cast
    is on none of the rewrite's lists, so it is never painted and the spread stops there; the
    round trip through float64 is exact and, unlike a float32 -> float32 Cast, is not removed
    as a no-op before the rewrite runs. tests/test_precision.py checks the rewritten graph.
    """
    if not _building_for_bf16:
        return x
    return tf.cast(tf.cast(x, tf.float64), tf.float32)


# Layers whose output has at most this many positions per image take their weight gradient
# from a matmul over image patches under `matmul_filter_gradients` (see there).
MATMUL_FILTER_GRADIENT_MAX_POSITIONS = 36


def matmul_filter_gradient_applies(out_height, out_width):
    """Whether a layer with this output size gets the patch-matmul weight gradient."""
    return out_height * out_width <= MATMUL_FILTER_GRADIENT_MAX_POSITIONS


@contextlib.contextmanager
def matmul_filter_gradients(compute_dtype=None):
    """Convolutions built inside take their deep layers' weight gradients from one matmul.

    Why: on CPUs with AVX512-BF16 but no AMX, oneDNN's bf16 backward-weights convolution for the
    small, wide layers (6x6 -> 3x3 with 256 -> 512 channels, 12x12 -> 6x6) runs no faster than
    fp32, while the other convolutions gain (bench/conv_kernels.py; bench/README.md). The same
    gradient as a matmul of image patches by the output gradient runs at matmul speed. Big
    layers keep the native kernel, which is faster there. Only the gradient changes (the forward
    ops are untouched), and it is the same sum in another order.

    `compute_dtype` (tf.bfloat16 or tf.float32) is the type the patches and the matmul use;
    None makes this a no-op. Patches are gathered in that type on purpose: cast first, the
    6x larger patch matrix is never cast. Gradients are chosen when the graph is built, so wrap
    the model's construction.
    """
    if compute_dtype is None:
        yield
        return
    with tf1.get_default_graph().gradient_override_map(_MATMUL_GRADIENTS[compute_dtype]):
        yield


def _filter_gradient(images, out_backprop, filter_shape, strides, compute_dtype):
    """d(loss)/d(filter) of a SAME-padded convolution `images` -> `out_backprop`'s shape."""
    if matmul_filter_gradient_applies(int(out_backprop.shape[1]), int(out_backprop.shape[2])):
        return filter_gradient_by_matmul(images, out_backprop, filter_shape, strides,
                                         compute_dtype)
    return tf1.nn.conv2d_backprop_filter(images, [int(d) for d in filter_shape], out_backprop,
                                         strides, "SAME")


def filter_gradient_by_matmul(images, out_backprop, filter_shape, strides,
                              compute_dtype=tf.float32):
    """The weight gradient of a SAME-padded convolution as one matmul over image patches.

    Each output position's receptive field becomes a row, so the gradient is
    patches^T @ out_backprop summed over every image and position at once, computed in
    `compute_dtype` and returned in the images' type.
    """
    kernel_h, kernel_w, in_dim, out_dim = (int(d) for d in filter_shape)
    patches = _patch_rows(tf.cast(images, compute_dtype), kernel_h, kernel_w, strides[1:3])
    gradient = tf.matmul(patches, tf.reshape(tf.cast(out_backprop, compute_dtype), [-1, out_dim]),
                         transpose_a=True)
    return tf.cast(tf.reshape(gradient, [kernel_h, kernel_w, in_dim, out_dim]), images.dtype)


def _patch_rows(images, kernel_h, kernel_w, strides):
    """Every receptive field of a SAME-padded convolution over `images` [b, h, w, c] (static
    h, w) as a row: [b * out_h * out_w, kernel_h * kernel_w * c], ordered (row, column, channel)
    like the filter's own [h, w, in] layout.

    A gather of whole pixel vectors at precomputed positions: the same rows as
    tf.image.extract_patches, much faster than its generic kernel on the deep layers
    (bench/README.md, "Design figures").
    """
    _, height, width, channels = images.shape.as_list()
    stride_h, stride_w = strides
    out_h, out_w = -(-height // stride_h), -(-width // stride_w)
    pad_h = max((out_h - 1) * stride_h + kernel_h - height, 0)
    pad_w = max((out_w - 1) * stride_w + kernel_w - width, 0)
    padded = tf.pad(images, [[0, 0], [pad_h // 2, pad_h - pad_h // 2],
                             [pad_w // 2, pad_w - pad_w // 2], [0, 0]])
    padded_w = width + pad_w
    # Pixel index in the padded image of (output row, output column, kernel row, kernel column).
    rows = (np.arange(out_h) * stride_h)[:, None, None, None] + np.arange(kernel_h)[:, None]
    cols = (np.arange(out_w) * stride_w)[None, :, None, None] + np.arange(kernel_w)
    positions = (rows * padded_w + cols).reshape(-1).astype(np.int32)
    pixels = tf.reshape(padded, [-1, (height + pad_h) * padded_w, channels])
    return tf.reshape(tf.gather(pixels, positions, axis=1), [-1, kernel_h * kernel_w * channels])


def _register_matmul_gradients(compute_dtype):
    """Register convolution gradients whose weight gradient may use the patch matmul in
    `compute_dtype`; returns the gradient_override_map that selects them."""
    conv_name = f"DcganConv2DMatmulFilterGrad_{compute_dtype.name}"
    deconv_name = f"DcganDeconv2DMatmulFilterGrad_{compute_dtype.name}"

    @tf.RegisterGradient(conv_name)
    def _conv2d_gradient(op, grad):
        images, filters = op.inputs
        strides = op.get_attr("strides")
        d_images = tf1.nn.conv2d_backprop_input(tf.shape(images), filters, grad, strides, "SAME")
        return d_images, _filter_gradient(images, grad, filters.shape, strides, compute_dtype)

    @tf.RegisterGradient(deconv_name)
    def _deconv2d_gradient(op, grad):
        # A transposed convolution is the input gradient of a convolution of its output
        # (`grad`'s shape) to its input, so the roles of the two tensors swap.
        _, filters, inputs = op.inputs
        strides = op.get_attr("strides")
        d_inputs = tf.nn.conv2d(grad, filters, strides, "SAME")
        return None, _filter_gradient(grad, inputs, filters.shape, strides, compute_dtype), \
            d_inputs

    return {"Conv2D": conv_name, "Conv2DBackpropInput": deconv_name}


_MATMUL_GRADIENTS = {dtype: _register_matmul_gradients(dtype) for dtype in (tf.float32,
                                                                           tf.bfloat16)}


# Collection of the BatchStatistic of every batch norm built with train=True.
BATCH_STATISTICS = "batch_statistics"
# The name scope tf.distribute's MirroredStrategy puts a replica's ops in (none for the first).
_REPLICA_SCOPE = re.compile(r"^replica_\d+/")


def _replica_id():
    """This replica's number in a tf.distribute replica function (0 outside one)."""
    return tf.get_static_value(tf.distribute.get_replica_context().replica_id_in_sync_group)


@dataclasses.dataclass(frozen=True)
class BatchStatistic:
    """One batch's mean or variance (`value`) and the moving statistic it moves (`variable`),
    seen by replica `replica` (MirroredStrategy builds every replica into one graph)."""

    variable: tf.Variable
    value: tf.Tensor
    replica: int = dataclasses.field(default_factory=_replica_id)

    @property
    def name(self):
        """The statistic's op name as the first replica names it: what a collection's `scope`
        filter matches ("discriminator/..." for D's first call, "discriminator_1/..." for its
        second, on every replica alike)."""
        return _REPLICA_SCOPE.sub("", self.value.name)


def _batch_mean(strategy, *values):
    """The mean over the replicas of each value, all in one all-reduce (in cross-replica
    context, through ReplicaContext.merge_call). ReplicaContext.all_reduce does the same inside
    a custom gradient, which in graph mode looks up by name every variable its inputs depend on
    and finds no `replica_1` copy: statistics need no gradient."""
    return strategy.extended.batch_reduce_to(tf.distribute.ReduceOp.MEAN,
                                             [(value, value) for value in values])


def update_moving_statistics(scope):
    """The ops that move the moving statistics towards the batch values that this replica's
    batch norms under name scope `scope` registered (decay BN_DECAY).

    Under tf.distribute (in a replica function) every replica moves its own copy by the mean of
    all replicas' values, which is what averaging the replicas' updates would give, but with
    one all-reduce for all the statistics instead of one per variable (a collective costs the
    same few hundred microseconds whether it carries 16 numbers or 16,000).
    """
    statistics = [statistic for statistic in tf1.get_collection(BATCH_STATISTICS, scope=scope)
                  if statistic.replica == _replica_id()]
    values = [statistic.value for statistic in statistics]
    context = tf.distribute.get_replica_context()
    if values and context is not None and context.num_replicas_in_sync > 1:
        values = context.merge_call(_batch_mean, args=values)
    return [tf1.assign_sub(statistic.variable, (1.0 - BN_DECAY) * (statistic.variable - value))
            for statistic, value in zip(statistics, values, strict=True)]


def batch_norm(x, train, scope="batch_norm"):
    """Batch normalisation (decay 0.9, epsilon 1e-5, learned scale and offset).

    With `train=True` it normalises by the batch's statistics (each replica's own batch under
    tf.distribute) and registers them in BATCH_STATISTICS, for `update_moving_statistics` to
    move the moving mean and variance; with `train=False` it uses the moving statistics, as
    the sampler must. `train` is a Python bool, not a tensor: a `tf.cond` would put control flow
    into the exported graph. 2-D inputs (after a linear layer) are normalised per feature.
    """
    with tf1.variable_scope(scope):
        flat = len(x.shape) == 2
        if flat:
            x = x[:, tf.newaxis, tf.newaxis, :]
        channels = int(x.shape[-1])
        gamma = tf1.get_variable("gamma", [channels], initializer=tf1.ones_initializer())
        beta = tf1.get_variable("beta", [channels], initializer=tf1.zeros_initializer())
        # No aggregation: under tf.distribute each replica moves its own copy, by the mean of
        # the replicas' statistics (update_moving_statistics), so all copies hold one value.
        moving_mean = tf1.get_variable(
            "moving_mean", [channels], initializer=tf1.zeros_initializer(), trainable=False)
        moving_variance = tf1.get_variable(
            "moving_variance", [channels], initializer=tf1.ones_initializer(), trainable=False)
        if train:
            y, mean, variance = tf1.nn.fused_batch_norm(
                x, gamma, beta, epsilon=BN_EPSILON, is_training=True)
            for moving, value in ((moving_mean, mean), (moving_variance, variance)):
                tf1.add_to_collection(BATCH_STATISTICS, BatchStatistic(moving, value))
        else:
            y, _, _ = tf1.nn.fused_batch_norm(
                x, gamma, beta, mean=moving_mean, variance=moving_variance,
                epsilon=BN_EPSILON, is_training=False)
        if flat:
            y = y[:, 0, 0, :]
        return y


def conv_cond_concat(x, y):
    """Append a one-hot condition `y` [b, n] to feature maps `x` [b, h, w, c] as n constant maps."""
    x_shape = tf.shape(x)
    y_maps = y[:, tf.newaxis, tf.newaxis, :] * tf.ones(
        tf.stack([x_shape[0], x_shape[1], x_shape[2], 1]), dtype=y.dtype)
    return tf.concat([x, y_maps], axis=3)
