"""What a picture file is, for every tool: which names count, how one is opened and flattened.

Training's reader (`dcgan.data`) and the data-preparation tools (`dcgan.prep`) both use this, so
a folder the tools cleaned is never thinned again when training reads it: the same extensions,
the same pixel cap, the same handling of transparency. No TensorFlow import.
"""

import contextlib
import os
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")
# Far above any illustration or photo a GAN trains on, far below what would exhaust memory. Checked
# from the header before decoding; Pillow's own process-wide limit is left as it is.
MAX_PIXELS = 100_000_000
# What Pillow raises for truncated, corrupt or hostile files: all mean "this one cannot be used".
DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError)
TRANSPARENT_MODES = ("RGBA", "LA", "PA", "RGBa")
WIDE_GREY_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N", "F")


# The extension a picture of each Pillow format is saved under when its name has none.
FORMAT_EXTENSIONS = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "BMP": ".bmp", "GIF": ".gif",
                     "TIFF": ".tif", "MPO": ".jpg"}
HIDDEN = "hidden files (names starting with .)"  # how every tool reports the pictures it leaves


class TooLarge(ValueError):
    """A picture whose header claims more than MAX_PIXELS pixels."""


def is_picture_name(name):
    """True when the file name has one of the picture extensions (any case)."""
    return str(name).lower().endswith(EXTENSIONS)


def is_hidden(name):
    """True for names starting with a dot. No tool reads them as pictures: they are our own
    temporaries and manifests, macOS's `._x.jpg` resource forks and the like. Hidden files with a
    picture extension are counted under HIDDEN, so none disappears without a word."""
    return str(name).startswith(".")


NOT_REGULAR = "not regular files (folders, pipes, links to nowhere)"


def find_pictures(source):
    """Picture files under the folder `source` (searched recursively), or `source` itself if it
    is a file, in a stable order. Returns (paths, left_out): a Counter of the entries with a
    picture's name that are left out, under HIDDEN (their name, or a folder on the way to them,
    starts with a dot; see is_hidden) or NOT_REGULAR (reading a pipe would wait forever)."""
    source = Path(source)
    if source.is_file():
        return [source], Counter()
    found, left_out = [], Counter()
    for path in sorted(source.rglob("*")):
        if not is_picture_name(path.name):
            continue
        if any(is_hidden(part) for part in path.relative_to(source).parts):
            left_out[HIDDEN] += 1
        elif not path.is_file():
            left_out[NOT_REGULAR] += 1
        else:
            found.append(path)
    return found, left_out


def cannot_be_read(error):
    """True when `error` (from opening or decoding) is the file system refusing the read
    (permissions, I/O error, a link loop) rather than bytes that are not a picture: a file that
    may read fine later, unlike one that does not decode. Pillow's decode errors carry no errno."""
    return isinstance(error, OSError) and error.errno is not None


def file_version(path):
    """A string that changes whenever the file at `path` may hold other bytes, read from its
    inode alone (no byte is read).

    Size and mtime miss a file replaced by another of the same size whose mtime was restored
    (`cp -p`, `rsync -a`, `tar x` all restore it). The change time (ctime) cannot be set back by
    any of them: the kernel sets it to now on every write, rename onto, or mtime change; the inode
    number tells a replaced file from a rewritten one. A chmod also moves ctime: that costs one
    redo, never a stale result. Raises OSError when the file cannot be stat'ed.
    """
    status = os.stat(path)
    return f"{status.st_size}:{status.st_mtime_ns}:{status.st_ctime_ns}:{status.st_ino}"


def extension_for(path):
    """The usual extension ('.jpg', '.png', ...) of the picture in `path`, from its bytes; None
    for a format the tools do not read by name. Raises one of DECODE_ERRORS for a non-picture."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with Image.open(path) as opened:
            return FORMAT_EXTENSIONS.get(opened.format)


@contextlib.contextmanager
def open_picture(path):
    """Open `path` with Pillow, refuse it from its header when it is over MAX_PIXELS, decode the
    first frame and turn it upright by its EXIF orientation; yields the Pillow image.

    Raises TooLarge, or one of DECODE_ERRORS for files that are not usable pictures.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow warns on odd EXIF/ICC data it still reads
        try:
            opened = Image.open(path)
        except Image.DecompressionBombError:
            raise TooLarge(path) from None
        with opened:
            if opened.width * opened.height > MAX_PIXELS:
                raise TooLarge(path)
            opened.seek(0)  # first frame of an animation
            opened.load()
            yield ImageOps.exif_transpose(opened)


def _to_8bit(image):
    # 16- and 32-bit greyscale: scale the used range down instead of clipping it to white.
    array = np.asarray(image, dtype=np.float64)
    peak = 65535.0 if array.max() > 255 else 255.0
    return Image.fromarray(np.clip(array * (255.0 / peak), 0, 255).astype(np.uint8), "L")


def flatten(image, mode="RGB"):
    """Any Pillow mode -> `mode` ('RGB' or 'L'); transparency is composited onto white, which is
    what illustrations with an alpha channel are drawn to be seen on."""
    if image.mode in WIDE_GREY_MODES:
        image = _to_8bit(image)
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in TRANSPARENT_MODES:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return image.convert(mode)


def load_rgb(path):
    """Decode a picture to an RGB uint8 array (upright, transparency on white)."""
    with open_picture(path) as image:
        return np.asarray(flatten(image, "RGB"))
