"""Layers of the DCGAN written on raw TensorFlow ops (tf.compat.v1 graph mode).

Keras 3 removed `tf.compat.v1.layers` and `tf.contrib` is gone, so every layer here is
`get_variable` plus a `tf.nn` op. Tensors are NHWC. Weights start from N(0, 0.02) as in the
DCGAN paper; biases from zero.
"""

import tensorflow as tf
from tensorflow.python.ops import gen_nn_ops

tf1 = tf.compat.v1
# The whole package is TF1-style graph code: placeholders, sessions, variable scopes.
tf1.disable_eager_execution()

BN_DECAY = 0.9
BN_EPSILON = 1e-5
INIT_STDDEV = 0.02


def _weights(name, shape, stddev=INIT_STDDEV):
    return tf1.get_variable(name, shape, initializer=tf1.random_normal_initializer(stddev=stddev))


def _bias(name, size):
    return tf1.get_variable(name, [size], initializer=tf1.constant_initializer(0.0))


def lrelu(x, leak=0.2, name="lrelu"):
    """Leaky ReLU on the fused LeakyRelu op, its gradient taken from the output.

    The fused op and its fused gradient cost a quarter of the CPU time per training iteration
    less than `maximum(x, leak*x)` (whose gradient is a compare and two selects over every
    activation). The gradient reads the output rather than the input (for 0 < leak < 1 both have
    the same sign): Grappler fuses conv + bias + LeakyRelu into one op, and a gradient that
    still asked for the bias-add's output would make its remapper fail with an error line.
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


def linear(x, output_size, scope="linear", stddev=INIT_STDDEV):
    """Fully connected layer `x @ W + b` for a 2-D input of shape [batch, features]."""
    with tf1.variable_scope(scope):
        matrix = _weights("Matrix", [int(x.shape[-1]), output_size], stddev)
        bias = _bias("bias", output_size)
        return tf.matmul(x, matrix) + bias


def conv2d(x, output_dim, kernel=5, stride=2, scope="conv2d", stddev=INIT_STDDEV):
    """Strided convolution with SAME padding: [b, h, w, c] -> [b, ceil(h/s), ceil(w/s), out]."""
    with tf1.variable_scope(scope):
        w = _weights("w", [kernel, kernel, int(x.shape[-1]), output_dim], stddev)
        conv = tf.nn.conv2d(x, w, strides=[1, stride, stride, 1], padding="SAME")
        return tf.nn.bias_add(conv, _bias("biases", output_dim))


def deconv2d(x, output_hw, output_dim, kernel=5, stride=2, scope="deconv2d",
             stddev=INIT_STDDEV):
    """Transposed convolution to spatial size `output_hw` = (h, w).

    The output shape takes the batch size from the input at run time, so one graph serves any
    number of images (training batches, a single sample, a 512-image search).
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
        return tf.nn.bias_add(deconv, _bias("biases", output_dim))


def batch_norm(x, train, scope="batch_norm"):
    """Batch normalisation (decay 0.9, epsilon 1e-5, learned scale and offset).

    With `train=True` it normalises by the batch's statistics and registers the updates of the
    moving mean and variance in UPDATE_OPS; with `train=False` it uses the moving statistics, as
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
        moving_mean = tf1.get_variable(
            "moving_mean", [channels], initializer=tf1.zeros_initializer(), trainable=False)
        moving_variance = tf1.get_variable(
            "moving_variance", [channels], initializer=tf1.ones_initializer(), trainable=False)
        if train:
            y, mean, variance = tf1.nn.fused_batch_norm(
                x, gamma, beta, epsilon=BN_EPSILON, is_training=True)
            for moving, value in ((moving_mean, mean), (moving_variance, variance)):
                update = tf1.assign_sub(moving, (1.0 - BN_DECAY) * (moving - value))
                tf1.add_to_collection(tf1.GraphKeys.UPDATE_OPS, update)
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
