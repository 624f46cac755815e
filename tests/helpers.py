"""Helpers the tests share: real pictures, the bad files a scraped folder holds, running main.py.

Two sources of real pictures. Tests about pictures in general use photos that ship inside the
installed scikit-image wheel (`photo`, `copy_photos`), so every clone runs them. Tests about
anime faces in particular (face detection, the faces' statistics) read ../shared beside the
checkout (`face_files`, `copy_faces`) and skip, saying why, where it is absent.
"""

import contextlib
import functools
import io
import json
import logging
import os
import shlex
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path
from unittest import mock

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
FACES = SHARED / "data" / "anime_faces"
MNIST_DIR = SHARED / "data" / "mnist"
MAIN = REPO / "main.py"

# Small enough for a 2-core CI machine, big enough to be the real architecture.
TINY_FLAGS = ["--output_size", "16", "--image_size", "96", "--batch_size", "8", "--gf_dim", "8",
              "--df_dim", "8", "--z_dim", "16", "--num_samples", "12"]


# scikit-image's colour sample photos (files inside its wheel: no download). Picture i of the
# test set is a square cut from one of them, so the set is as large as a test needs.
PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry",
          "hubble_deep_field")
PHOTO_SIZE = 96  # as the shared anime faces


@functools.cache
def _sample_photo(name):
    import skimage.data

    return getattr(skimage.data, name)()


def photo(index):
    """Real picture `index` of the package photo set: a 96x96 RGB PIL image, always the same.

    A square of a random side (96 px to 60% of the shorter side) at a random place in photo
    index % 6, resized; the randomness is seeded by `index`. Keeping the squares local keeps
    them distinct: no two of the first 200 are near duplicates by dcgan.prep.clean's hash.
    """
    import numpy as np
    from PIL import Image

    source = _sample_photo(PHOTOS[index % len(PHOTOS)])
    rng = np.random.default_rng(index)
    height, width = source.shape[:2]
    side = int(rng.integers(PHOTO_SIZE, int(0.6 * min(height, width)) + 1))
    top, left = int(rng.integers(height - side + 1)), int(rng.integers(width - side + 1))
    square = Image.fromarray(source[top:top + side, left:left + side])
    return square.resize((PHOTO_SIZE, PHOTO_SIZE), Image.BILINEAR)


def photo_bytes(index):
    """Picture `index` of the package photo set as the bytes of a JPEG file."""
    buffer = io.BytesIO()
    photo(index).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def photo_arrays(count, size=PHOTO_SIZE, start=0):
    """uint8 [count, size, size, 3] of package photos `start`... (resized when size differs)."""
    import numpy as np
    from PIL import Image

    return np.stack([np.asarray(photo(i).resize((size, size), Image.BILINEAR))
                     for i in range(start, start + count)])


def copy_photos(folder, count, start=0):
    """Write package photos `start`..`start + count - 1` into `folder` as N.jpg; returns it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(start, start + count):
        (folder / f"{index}.jpg").write_bytes(photo_bytes(index))
    return folder


def need_shared(path):
    """Skip the calling test, saying why, when ../shared (or a file in it) is absent."""
    if not path.exists():
        pytest.skip(f"{path} is absent: the shared real-data folder beside the checkout "
                    "is needed for this test")
    return path


def face_files(count, start=0):
    """Paths of `count` real 96x96 anime faces from ../shared (skips if absent)."""
    need_shared(FACES)
    names = sorted(os.listdir(FACES), key=lambda n: int(n.split(".")[0]))
    return [FACES / n for n in names[start:start + count]]


def copy_faces(folder, count, start=0):
    """Copy `count` real faces into `folder` (made if needed); returns the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for path in face_files(count, start):
        shutil.copy(path, folder / path.name)
    return folder


def png_header_claiming(width, height):
    """A PNG whose header claims width x height (a decompression bomb, a few bytes long)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + header
    return (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(header)) + chunk
            + struct.pack(">I", zlib.crc32(chunk)) + b"\0\0\0\0IEND\xaeB`\x82")


def make_bad_files(folder, crop=96, locked=True):
    """The bad and odd files a scraped folder holds, made from real package photos.

    `crop` is the run's crop size (the 1x1 and 20x20 pictures are smaller). `locked` adds a file
    nobody may read; only meaningful when the reader is not root (root reads it anyway).
    Returns (expected skip counts by kind, number of odd-but-usable files that get converted).
    """
    import numpy as np
    from PIL import Image

    folder = Path(folder)
    face = photo(500)
    raw = photo_bytes(500)
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "text.jpg").write_text("not a picture")
    (folder / "truncated.jpg").write_bytes(raw[:len(raw) // 2])
    face.resize((1, 1)).save(folder / "one_pixel.png")
    face.resize((20, 20)).save(folder / "tiny.png")
    (folder / "bomb.png").write_bytes(png_header_claiming(20000, 20000))
    (folder / "a_folder.jpg").mkdir()  # a folder, even one named like a picture, is searched
    face.save(folder / "a_folder.jpg" / "inside.jpg")
    (folder / ".thumbnails").mkdir()  # hidden folders are left out, and counted
    face.save(folder / ".thumbnails" / "thumb.jpg")
    os.symlink(".", folder / "up")  # a linked folder would read the same pictures forever
    (folder / "notes.txt").write_text("hello")
    os.symlink("loop.jpg", folder / "loop.jpg")  # a link to itself
    os.symlink("nowhere.jpg", folder / "dangling.jpg")
    os.mkfifo(folder / "fifo.jpg")  # reading a named pipe would wait forever
    skipped = {"files that do not decode": 2, "empty files": 1,
               f"pictures smaller than the crop size {crop}x{crop}": 2,
               "pictures over 100 Mpx": 1, "hidden folders (names starting with .)": 1,
               "linked folders (not followed)": 1, "not picture files": 1, "unreadable files": 2,
               "pipes and devices": 1}
    if locked:
        face.save(folder / "locked.jpg")
        os.chmod(folder / "locked.jpg", 0)
        skipped["unreadable files"] += 1
    # Odd but usable: converted, not skipped.
    face.convert("RGBA").save(folder / "alpha.png")
    face.convert("P").save(folder / "palette.png")
    grey16 = np.asarray(face.convert("L")).astype(np.uint16) * 257
    Image.fromarray(grey16).save(folder / "sixteen_bit.png")
    face.convert("L").save(folder / "grey.jpg")
    face.convert("CMYK").save(folder / "cmyk.jpg")
    face.resize((8000, 8000)).save(folder / "huge.jpg", quality=50)
    frames = [photo(index) for index in range(600, 603)]
    frames[0].save(folder / "animated.gif", save_all=True, append_images=frames[1:],
                   duration=100, loop=0)
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: turn 90 degrees clockwise to view
    face.transpose(Image.Transpose.ROTATE_90).save(folder / "exif_rotated.jpg", exif=exif)
    face.save(folder / "really_a_png.jpg", format="PNG")
    return skipped, 10  # inside.jpg is the tenth: usable as it is


def without_capabilities(*capabilities):
    """A command prefix that runs a command without root's `capabilities` (e.g. "dac_override"),
    so it meets permissions the way a normal user does; [] when not root.

    Uses util-linux `setpriv`; skips the calling test, saying why, where root has none.
    """
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without util-linux setpriv: root's privileges would "
                    "bypass the check under test")
    return [setpriv, "--bounding-set", ",".join(f"-{name}" for name in capabilities)]


def permissions_apply():
    """A command prefix under which file permissions bind: root's bypass of them dropped."""
    return without_capabilities("dac_override", "dac_read_search")


def run_prep(tool, *args, prefix=(), timeout=60):
    """Run `python -m dcgan.prep.TOOL ARGS` in the checkout (after the command `prefix`, such
    as `permissions_apply()`); returns the CompletedProcess (text)."""
    return subprocess.run([*prefix, sys.executable, "-m", f"dcgan.prep.{tool}", *map(str, args)],
                          check=False, cwd=REPO, capture_output=True, text=True, timeout=timeout)


def run_main(args, cwd, timeout=300, env=None, prefix=(), **kwargs):
    """Run `python main.py ARGS` in `cwd` (with `env` added to the environment, after the
    command `prefix` such as `with_file_size_limit`); returns the CompletedProcess (text)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", **(env or {}))
    return subprocess.run([*prefix, sys.executable, str(MAIN), *args], cwd=cwd, env=env,
                          text=True, capture_output=True, timeout=timeout, **kwargs)


def progress_lines(output, desc):
    """The progress lines of the step `desc` in `output`, where a bar prints whole lines
    because stderr is no terminal; fails if a redrawn bar's carriage returns are there."""
    assert "\r" not in output, output
    return [line for line in output.splitlines() if line.startswith(f"{desc}: ")]
def node_module(page_file, names, script):
    """Run `script` in Node.js with `names` imported from the page's `dcgan/web/<page_file>`;
    returns what it printed last, read as JSON."""
    module = (REPO / "dcgan" / "web" / page_file).as_uri()
    code = f"import {{ {', '.join(names)} }} from '{module}';{script}"
    result = subprocess.run(["node", "--input-type=module", "-e", code], capture_output=True,
                            text=True, timeout=60, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main_in_process(args, cwd):
    """Run what `python main.py ARGS` in `cwd` runs, in this process (no Python or TensorFlow
    start-up to pay): absl's parsing and `cli.main`. Returns a CompletedProcess whose stdout is
    what was printed and whose stderr is what main.py shows there: the package's log lines
    (INFO and up, as `LEVEL: message`), anyone's WARNING and up, and the `error: ` line.

    For tests that check files, numbers and messages; the process itself (exit statuses, no
    traceback, start-up, signals) is checked through `run_main`. An unexpected exception is
    raised here, where main.py would print a traceback. The flags are unparsed afterwards.
    """
    from dcgan import cli

    argv = ["main.py", *args]
    stdout, stderr = io.StringIO(), io.StringIO()
    returncode = 0
    here = os.getcwd()
    cli.FLAGS.unparse_flags()
    try:
        os.chdir(cwd)
        with _console(stderr), contextlib.redirect_stdout(stdout), \
                contextlib.redirect_stderr(stderr):
            try:
                cli.main(cli.parse(argv))
            except SystemExit as exit_:
                returncode = exit_.code
    finally:
        os.chdir(here)
        cli.FLAGS.unparse_flags()
    return subprocess.CompletedProcess(argv, returncode, stdout.getvalue(), stderr.getvalue())


@contextlib.contextmanager
def _console(stream):
    """While the block runs, write to `stream` the log lines main.py shows on its console: the
    package's INFO and up, anyone's WARNING and up, as `LEVEL: message`."""
    package, root = logging.getLogger("dcgan"), logging.getLogger()
    package_level = package.level
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    handler.addFilter(lambda record: record.levelno >= logging.WARNING
                      or record.name.startswith("dcgan"))
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
        package.setLevel(package_level)


def refusal(args):
    """The line `python main.py ARGS` would exit 2 with (less its `error: `), found in this
    process and the current folder: absl's parsing and `cli.run`, as main.py runs them.

    The test fails if the command gets as far as starting TensorFlow (where a mode's real work
    begins), shows anything else on the way (a print, or a log line main.py would show: the
    package's INFO and up, anyone's WARNING and up) or is not refused at all. The flags are
    unparsed afterwards, as before the call. The exit status and the `error: ` prefix are
    main.py's, proven by the few rows that still run it (tests/test_cli.py).
    """
    from dcgan import cli, runtime
    from dcgan.errors import UsageError

    argv = ["main.py", *args]
    typed = f"`python main.py {shlex.join(args)}`"

    def start():
        raise AssertionError(f"{typed} got as far as starting TensorFlow")

    shown = []
    cli.FLAGS.unparse_flags()
    try:
        with mock.patch.object(runtime, "start", start), _shown_lines(shown):
            cli.run(cli.parse(argv), command_line=argv)
    except UsageError as error:
        line = str(error)
    else:
        raise AssertionError(f"{typed} was not refused")
    finally:
        cli.FLAGS.unparse_flags()
    assert not shown, f"{typed} showed more than its error line: {shown}"
    return line


@contextlib.contextmanager
def _shown_lines(shown):
    """While the block runs, add to `shown` what main.py would put on the console: what is
    printed, the package's log lines of INFO and up and anyone's of WARNING and up."""
    package, root = logging.getLogger("dcgan"), logging.getLogger()
    records, package_level = [], package.level
    watched = [(package, logging.Handler(logging.INFO)), (root, logging.Handler(logging.WARNING))]
    for logger, handler in watched:
        handler.emit = records.append
        logger.addHandler(handler)
    package.setLevel(logging.INFO)
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
            yield
    finally:
        for logger, handler in watched:
            logger.removeHandler(handler)
        package.setLevel(package_level)
        logged = {id(record): record.getMessage() for record in records}  # once, not twice
        shown += printed.getvalue().splitlines() + list(logged.values())


def files_under(folder):
    """Every path under `folder` (files, folders, links), relative to it: compare before and
    after a command that must write nothing."""
    folder = Path(folder)
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


def with_file_size_limit(limit):
    """A command prefix under which no file can grow past `limit` bytes (RLIMIT_FSIZE: a write
    beyond it fails with EFBIG, for root too), so a test can make a write fail part-way.

    Uses util-linux `prlimit`; skips the calling test, saying why, where it is absent.
    """
    prlimit = shutil.which("prlimit")
    if prlimit is None:
        pytest.skip("util-linux prlimit is not installed: no way to limit a command's file size")
    return [prlimit, f"--fsize={limit}", "--"]




def flag_values(**given):
    """Flag values as the command line has them (its defaults, and `given`), and the names of
    the flags given: the arguments of dcgan.runs' training_run and sampling_run."""
    from dcgan import cli

    return {**{name: cli.FLAGS[name].default for name in cli.FLAGS}, **given}, set(given)


def cropped_run(**changes):
    """RunSettings of a 96x64 crop resized to 48x32, unless `changes` say otherwise (no files: a
    value to save, load, compare)."""
    from dcgan.network import ModelConfig
    from dcgan.settings import RunSettings

    model = ModelConfig(output_height=48, output_width=32, c_dim=3)
    return RunSettings.create(**{"dataset": "anime", "model": model, "crop_height": 96,
                                 "crop_width": 64, **changes})


def carpedm20(**changes):
    """carpedm20's training choices (model.DCGAN's `choices`), with `changes` over them."""
    from dcgan import recipes

    return {**recipes.RECIPES[recipes.CARPEDM20], **changes}


def wait_until_stopped(process, timeout=180):
    """Wait until the Popen `process` stops itself at a pause point (checkpoints.PAUSE_ENV,
    SIGSTOP); fails, saying so, if it exits first or does not stop within `timeout` seconds.
    The process stays stopped (and unreaped) for the test to kill or continue."""
    import time

    deadline = time.monotonic() + timeout
    pid = status = 0
    while not pid:
        assert time.monotonic() < deadline, f"the process did not pause within {timeout} s"
        pid, status = os.waitpid(process.pid, os.WNOHANG | os.WUNTRACED)
        if not pid:
            time.sleep(0.05)  # a poll: a blocking waitpid has no timeout
    assert os.WIFSTOPPED(status), f"the process exited (wait status {status}) before pausing"
