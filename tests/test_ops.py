"""Layer shapes, gradients and batch-norm behaviour of dcgan.ops."""

import numpy as np
import pytest
import tensorflow as tf

from dcgan import ops

tf1 = tf.compat.v1


@pytest.fixture()
def graph():
    with tf.Graph().as_default() as g:
        yield g


def _run(fetches, feed=None):
    with tf1.Session() as session:
        session.run(tf1.global_variables_initializer())
        return session.run(fetches, feed)


def test_layer_shapes_follow_the_input_batch(graph):
    x = tf1.placeholder(tf.float32, [None, 12, 12, 3])
    conv = ops.conv2d(x, 7, scope="c")  # stride 2, SAME: 12 -> 6
    deconv = ops.deconv2d(conv, (12, 12), 5, scope="d")
    flat = ops.linear(tf.reshape(conv, [-1, 6 * 6 * 7]), 4, scope="l")
    for batch in (1, 5):
        out = _run([conv, deconv, flat], {x: np.zeros((batch, 12, 12, 3), np.float32)})
        assert [o.shape for o in out] == [(batch, 6, 6, 7), (batch, 12, 12, 5), (batch, 4)]


def test_odd_sizes_round_up_like_the_model(graph):
    x = tf.zeros([2, 25, 25, 1])
    assert ops.conv2d(x, 2, scope="c").shape.as_list() == [2, 13, 13, 2]
    assert ops.deconv2d(tf.zeros([2, 13, 13, 2]), (25, 25), 1, scope="d").shape.as_list() \
        == [2, 25, 25, 1]


def test_every_layer_passes_gradients_to_its_weights(graph):
    x = tf.random.normal([4, 8, 8, 3], seed=1)
    h = ops.lrelu(ops.batch_norm(ops.conv2d(x, 6, scope="c"), True, scope="bn"))
    h = ops.deconv2d(h, (8, 8), 2, scope="d")
    out = ops.linear(tf.reshape(h, [4, -1]), 1, scope="l")
    weights = tf1.trainable_variables()
    grads = _run(tf.gradients(tf.reduce_sum(out ** 2), weights))
    assert len(weights) == 8
    for variable, grad in zip(weights, grads, strict=True):
        assert np.abs(grad).max() > 0, variable.name


def test_lrelu_keeps_positive_and_scales_negative(graph):
    out = _run(ops.lrelu(tf.constant([-2.0, 0.0, 3.0])))
    np.testing.assert_allclose(out, [-0.4, 0.0, 3.0])


def test_lrelu_gradient_is_one_for_positives_and_leak_for_negatives(graph):
    x = tf.constant([-2.0, -0.5, 0.5, 3.0])
    out = ops.lrelu(x, leak=0.2)
    grad = _run(tf.gradients(tf.reduce_sum(out * tf.constant([1.0, 2.0, 3.0, 4.0])), x)[0])
    np.testing.assert_allclose(grad, [0.2, 0.4, 3.0, 4.0])


def test_batch_norm_training_normalises_and_updates_moving_averages(graph):
    rng = np.random.default_rng(0)
    data = (rng.normal(5.0, 3.0, size=(32, 4, 4, 2))).astype(np.float32)
    x = tf.constant(data)
    y = ops.batch_norm(x, True, scope="bn")
    updates = ops.update_moving_statistics("bn/")
    mean = next(v for v in tf1.global_variables() if v.name == "bn/moving_mean:0")
    with tf1.Session() as session:
        session.run(tf1.global_variables_initializer())
        out, _ = session.run([y, updates])
        moved = session.run(mean)
    assert abs(out.mean()) < 1e-4 and abs(out.std() - 1.0) < 1e-2
    # One update moves the average a tenth of the way (decay 0.9) towards the batch mean.
    np.testing.assert_allclose(moved, 0.1 * data.mean(axis=(0, 1, 2)), rtol=1e-4)


def test_batch_norm_inference_uses_the_moving_statistics(graph):
    x = tf.constant(np.full((2, 2, 2, 1), 3.0, np.float32))
    with tf1.variable_scope("s"):
        ops.batch_norm(x, True, scope="bn")
    with tf1.variable_scope("s", reuse=True):
        y = ops.batch_norm(x, False, scope="bn")
    variables = {v.name: v for v in tf1.global_variables()}
    with tf1.Session() as session:
        session.run(tf1.global_variables_initializer())
        session.run([variables["s/bn/moving_mean:0"].assign([1.0]),
                     variables["s/bn/moving_variance:0"].assign([4.0])])
        out = session.run(y)
    np.testing.assert_allclose(out, (3.0 - 1.0) / np.sqrt(4.0 + ops.BN_EPSILON), rtol=1e-5)


def test_conv_cond_concat_appends_label_maps(graph):
    out = _run(ops.conv_cond_concat(tf.zeros([2, 3, 3, 1]), tf.constant([[1.0, 0.0],
                                                                           [0.0, 1.0]])))
    assert out.shape == (2, 3, 3, 3)
    assert (out[0, :, :, 1] == 1).all() and (out[1, :, :, 2] == 1).all()


def _layer_gradients(size, channels, compute_dtype):
    """Gradients of a conv2d -> deconv2d pair (weights and input), and the graph's op types."""
    with tf.Graph().as_default() as graph:
        tf1.set_random_seed(3)
        height, width = size if isinstance(size, tuple) else (size, size)
        x = tf.random.normal([3, height, width, channels], seed=4)
        with ops.matmul_filter_gradients(compute_dtype):
            hidden = ops.conv2d(x, 2 * channels, scope="c")
            out = ops.deconv2d(hidden, (height, width), channels, scope="d")
        loss = tf.reduce_sum(tf.sin(out) * tf.cos(x))
        grads = tf.gradients(loss, [*tf1.trainable_variables(), x])
        return _run(grads), [op.type for op in graph.get_operations()]


@pytest.mark.parametrize("size, channels, uses_matmul", [
    (12, 16, True),   # 6x6 = 36 positions after the stride-2 layer: the matmul gradient
    (7, 8, True),     # odd size: SAME padding of 2 + 2, as the convolution pads
    ((6, 11), 8, True),  # not square: 3x6 outputs, padded differently in each direction
    (16, 4, False),   # 8x8 = 64 positions: oneDNN's own kernel stays
])
@pytest.mark.parametrize("compute_dtype, tolerance", [(tf.float32, 1e-4), (tf.bfloat16, 2e-2)])
def test_matmul_filter_gradients_equal_the_native_ones(size, channels, uses_matmul,
                                                       compute_dtype, tolerance):
    native, native_ops = _layer_gradients(size, channels, None)
    by_matmul, matmul_ops = _layer_gradients(size, channels, compute_dtype)
    assert "GatherV2" not in native_ops
    # One patch matmul per weight gradient: the convolution's and the transposed one's.
    assert matmul_ops.count("GatherV2") == (2 if uses_matmul else 0)
    for expected, got in zip(native, by_matmul, strict=True):
        assert got.dtype == np.float32
        # bfloat16 keeps 8 significant bits: about 3 decimal digits of every product.
        np.testing.assert_allclose(got, expected, rtol=tolerance,
                                   atol=tolerance * np.abs(expected).max())
