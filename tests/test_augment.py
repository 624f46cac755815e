"""DiffAugment on real faces: what each policy does, gradients to G, only in the training graph."""

import json

import numpy as np
import pytest
import tensorflow as tf
from helpers import TINY_FLAGS, carpedm20, copy_faces, main_in_process
from test_model import CFG, real_batch

from dcgan import augment, model, recipes

tf1 = tf.compat.v1
SIZE = 24  # real_batch's side: shifts up to 3 px, a 12 px cut-out square


def _run(build, images, seed=7):
    """`build(tensor)` on a constant batch in a fresh seeded graph, evaluated once."""
    with tf.Graph().as_default():
        tf1.set_random_seed(seed)
        out = build(tf.constant(images))
        with tf1.Session() as session:
            return session.run(out)


def _shifted(image, dy, dx):
    """numpy: `image` moved dy rows down and dx columns right, the border filled with 0."""
    out = np.zeros_like(image)
    h, w = image.shape[:2]
    out[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        image[max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return out


def test_the_flag_names_are_the_policies_and_each_keeps_the_shape():
    assert tuple(augment.POLICIES) == recipes.AUGMENT_POLICIES
    faces = real_batch(4)
    for name in recipes.AUGMENT_POLICIES:
        out = _run(lambda x, name=name: augment.augment(x, (name,)), faces)
        assert out.shape == faces.shape and out.dtype == np.float32
        assert np.isfinite(out).all() and np.abs(out - faces).max() > 0.01, name
        if name != "color":  # moving and blanking pixels invents no values
            assert out.min() >= faces.min() and out.max() <= faces.max()


def test_translation_moves_the_pixels_by_the_shift():
    faces = real_batch(4)
    shifts = np.array([[2, -3], [0, 0], [-3, 3], [1, 1]], np.int32)
    moved = _run(lambda x: augment.translation(x, tf.constant(shifts)), faces)
    for face, out, (dy, dx) in zip(faces, moved, shifts, strict=True):
        np.testing.assert_array_equal(out, _shifted(face, dy, dx))
    # Drawn shifts: every image is its face moved by some whole shift of at most 1/8 the side.
    drawn = _run(augment.translation, faces)
    limit = int(SIZE * augment.TRANSLATION_RATIO + 0.5)
    found = []
    for face, out in zip(faces, drawn, strict=True):
        matches = [(dy, dx) for dy in range(-limit, limit + 1) for dx in range(-limit, limit + 1)
                   if np.array_equal(out, _shifted(face, dy, dx))]
        assert len(matches) == 1, matches
        found.append(matches[0])
    assert len(set(found)) > 1  # drawn per image, not once per batch


def test_cutout_zeroes_a_square_of_half_the_side():
    faces = real_batch(8)
    assert (faces != 0).all()  # x / 127.5 - 1 is never exactly 0 for a uint8 x
    side = int(SIZE * augment.CUTOUT_RATIO + 0.5)
    placed = _run(lambda x: augment.cutout(x, tf.constant([[5, 7]] * 8, tf.int32)), faces)
    expected = faces.copy()
    expected[:, 5:5 + side, 7:7 + side] = 0
    np.testing.assert_array_equal(placed, expected)
    for face, out in zip(faces, _run(augment.cutout, faces), strict=True):
        hole = (out == 0).all(axis=2)
        rows, cols = np.nonzero(hole.any(axis=1))[0], np.nonzero(hole.any(axis=0))[0]
        top, left, bottom, right = rows[0], cols[0], rows[-1] + 1, cols[-1] + 1
        assert hole[top:bottom, left:right].all() and hole.sum() == (bottom - top) * (right - left)
        assert bottom - top <= side and right - left <= side
        assert bottom - top == side or top == 0 or bottom == SIZE  # only the border cuts it
        assert right - left == side or left == 0 or right == SIZE
        np.testing.assert_array_equal(out[~hole], face[~hole])


def test_color_changes_a_grey_face_by_a_gain_and_an_offset_per_image():
    grey = real_batch(4).mean(axis=3, keepdims=True).repeat(3, axis=3)
    out = _run(augment.color, grey)
    np.testing.assert_allclose(out, out[..., :1].repeat(3, axis=3), atol=1e-6)  # stays grey
    for face, changed in zip(grey[..., 0], out[..., 0], strict=True):
        gain, offset = np.polyfit(face.ravel(), changed.ravel(), 1)
        np.testing.assert_allclose(changed, gain * face + offset, atol=1e-5)
        assert 0.5 <= gain < 1.5 and abs(offset) < 1.5  # contrast; brightness and mean


@pytest.mark.parametrize("policy", recipes.AUGMENT_POLICIES)
def test_the_generator_gets_gradients_through_each_policy(policy):
    with tf.Graph().as_default():
        tf1.set_random_seed(3)
        gan = model.DCGAN(CFG, tf.constant(real_batch(8)), choices=carpedm20(augment=policy))
        weights = model.scoped_variables(model.GENERATOR_SCOPE, tf1.GraphKeys.TRAINABLE_VARIABLES)
        grads = tf.gradients(gan.g_loss, weights)
        assert all(g is not None for g in grads)
        with tf1.Session() as session:
            session.run(tf1.global_variables_initializer())
            values = session.run(grads)
    assert all(np.isfinite(v).all() for v in values)
    assert all(np.abs(v).max() > 0 for v in values)


def _augment_ops(graph):
    return [op.name for op in graph.get_operations() if op.name.startswith(augment.SCOPE)]


def test_only_the_training_graph_augments():
    with tf.Graph().as_default() as training:
        gan = model.DCGAN(CFG, tf.constant(real_batch(8)),
                          choices=carpedm20(augment=",".join(recipes.AUGMENT_POLICIES)))
    with tf.Graph().as_default() as plain:
        model.DCGAN(CFG, tf.constant(real_batch(8)), choices=carpedm20())
    assert _augment_ops(training) and not _augment_ops(plain)
    # The sampler inside the augmented training graph reads G directly.
    sampler_inputs = {t.op.name for t in gan.sampler.images.op.inputs}
    assert not any(name.startswith(augment.SCOPE) for name in sampler_inputs)
    with tf.Graph().as_default() as sampling:
        model.Sampler(CFG)
    assert not _augment_ops(sampling)


def test_a_tiny_run_trains_with_every_policy_and_samples_without_them(tmp_path):
    from dcgan import settings
    from dcgan.session import TrainedGenerator

    copy_faces(tmp_path / "data" / "anime", 16)
    result = main_in_process(["--dataset", "anime", "--train", "--epoch", "1",
                              "--augment", "cutout,translation,color", *TINY_FLAGS], tmp_path)
    assert result.returncode == 0, result.stderr
    folder = tmp_path / "checkpoints" / "anime_8_16_16"
    saved = json.loads((folder / "run.json").read_text())
    assert saved["augment"] == "color,translation,cutout" and saved["recipe"] == recipes.DEFAULT
    run = settings.load(folder).replace(checkpoint_dir=str(tmp_path / "checkpoints"))
    with TrainedGenerator(run) as generator:
        assert not _augment_ops(generator.graph)
        pictures = generator.generate(generator.sample_z(3, 0))
    assert pictures.shape == (3, 16, 16, 3) and np.isfinite(pictures).all()
