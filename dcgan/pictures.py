"""What a picture file is, for every tool: which names count, how one is opened and flattened.

Training's reader (`dcgan.data`) and the data-preparation tools (`dcgan.prep`) both use this, so
a folder the tools cleaned is never thinned again when training reads it: the same extensions,
the same pixel cap, the same handling of transparency. No TensorFlow import.
"""

import contextlib
import warnings

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


class TooLarge(ValueError):
    """A picture whose header claims more than MAX_PIXELS pixels."""


def is_picture_name(name):
    """True when the file name has one of the picture extensions (any case)."""
    return str(name).lower().endswith(EXTENSIONS)


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
