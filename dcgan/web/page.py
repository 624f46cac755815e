"""The browser page that draws endless faces (`python main.py --export web`).

Builds `<export_dir>/<run>/web/`, a static folder that works from any file server with no
network: the page (`dcgan/web/`), the run's `generator.onnx` and `model.json`, and the
onnxruntime-web wasm runtime copied from the npm package `onnxruntime-web`. The runtime is
found in a `node_modules/` (the current folder, its parents, or beside this package) or in
`$DCGAN_ORT_WEB` (a folder holding its `dist/` files); failing that it is installed with npm into
a cache folder once.
"""

import glob
import json
import logging
import os
import shutil
import subprocess
from pathlib import Path

from dcgan import durable, words
from dcgan.errors import UsageError

TEMPLATE = Path(__file__).parent  # the static files sit beside this module
PAGE_FILES = ("index.html", "app.js", "worker.js", "seeds.js")
ORT_WEB_VERSION = "1.30.0"
# The wasm-only build: its ES module, the emscripten loader and the SIMD+threads binary.
ORT_FILES = ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
MODEL_FILES = ("generator.onnx", "model.json")  # copied from the export beside the page
SERVED_FILES = (*PAGE_FILES, *ORT_FILES, *MODEL_FILES)  # all the page folder holds
WEB_FOLDER = "web"
# How long the registry may take to answer one small request before the machine counts as offline.
REGISTRY_TIMEOUT_S = 15
# npm's error lines that name no cause: the error code's fields and where its log file is.
NPM_NOISE = ("code ", "syscall ", "errno ", "A complete log", "Log files were not written")

log = logging.getLogger(__name__)


def _has_runtime(folder):
    return all((Path(folder) / name).is_file() for name in ORT_FILES)


def _node_modules_candidates():
    here = Path.cwd().resolve()
    for folder in (here, *here.parents, Path(__file__).resolve().parents[2]):
        yield folder / "node_modules" / "onnxruntime-web" / "dist"


def cache_folder():
    """Where onnxruntime-web is installed when no node_modules has it."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "dcgan" / f"onnxruntime-web-{ORT_WEB_VERSION}"


def find_runtime():
    """The folder holding onnxruntime-web's wasm files, or None."""
    configured = os.environ.get("DCGAN_ORT_WEB")
    candidates = [Path(configured)] if configured else []
    candidates += [*_node_modules_candidates(),
                   cache_folder() / "node_modules" / "onnxruntime-web" / "dist"]
    return next((folder for folder in candidates if _has_runtime(folder)), None)


def _npm_reason(stderr):
    """The line of npm's error output that says what went wrong (not its log file's name)."""
    for line in stderr.splitlines():
        text = line.removeprefix("npm error").removeprefix("npm ERR!").strip()
        if text and not text.startswith(NPM_NOISE):
            return text
    return "no output"


def _npm(npm, *args, timeout=None):
    """Run npm quietly; returns (ok, the reason it failed)."""
    try:
        result = subprocess.run([npm, *args, "--no-audit", "--no-fund"], capture_output=True,
                                text=True, check=False, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False, f"no answer in {timeout} s"
    return result.returncode == 0, _npm_reason(result.stderr)


def install_runtime():
    """`npm install onnxruntime-web` into the cache folder; returns its dist folder.

    npm's own cache is tried first (no network). Then one quick request checks that the registry
    answers, so an offline machine fails in seconds rather than after npm's minute of retries.
    """
    npm = shutil.which("npm")
    package = f"onnxruntime-web@{ORT_WEB_VERSION}"
    manual = (f"once npm can reach its registry, run `npm install {package}` in this folder (or "
              "set DCGAN_ORT_WEB to a folder holding its dist/ files), then export again")
    if npm is None:
        raise UsageError(f"the web page needs the onnxruntime-web runtime and npm is not "
                         f"installed: {manual}")
    target = cache_folder()
    target.mkdir(parents=True, exist_ok=True)
    install = ("install", "--prefix", str(target), "--no-save", "--no-package-lock", package)
    dist = target / "node_modules" / "onnxruntime-web" / "dist"
    if _npm(npm, *install, "--offline")[0] and _has_runtime(dist):
        return dist
    reachable, reason = _npm(npm, "view", package, "version", "--fetch-retries=0",
                             f"--fetch-timeout={REGISTRY_TIMEOUT_S * 1000}",
                             timeout=REGISTRY_TIMEOUT_S + 30)
    if not reachable:
        raise UsageError(f"the web page needs the onnxruntime-web runtime, and npm cannot reach "
                         f"its registry ({reason}): {manual}")
    log.info("installing %s with npm into %s (once)", package, target)
    installed, reason = _npm(npm, *install)
    if not installed or not _has_runtime(dist):
        raise UsageError(f"could not install onnxruntime-web with npm ({reason}): {manual}")
    return dist


def runtime_folder():
    """The folder of onnxruntime-web's wasm files: found, or else installed (see the module)."""
    return find_runtime() or install_runtime()


def build_page(export_folder, runtime):
    """Write the static page into a new `web/` folder of an export being built (which holds
    generator.onnx and model.json), with the wasm files from `runtime`; returns its folder.

    Every file is created new (durable.copy_new), so nothing is written through a link.
    """
    export_folder = Path(export_folder)
    page = export_folder / WEB_FOLDER
    page.mkdir()
    sources = [(TEMPLATE, PAGE_FILES), (Path(runtime), ORT_FILES), (export_folder, MODEL_FILES)]
    for folder, names in sources:
        for name in names:
            durable.copy_new(folder / name, page / name)
    return str(page)


def page_names(export_dir):
    """The names of the exports under `export_dir` that hold a web page, sorted."""
    pattern = os.path.join(export_dir, "*", WEB_FOLDER, "model.json")
    return sorted(Path(path).parent.parent.name for path in glob.glob(pattern))


def newest_page(export_dir, dataset=None):
    """The most recently built page folder under `export_dir` (of `dataset` if given); a page
    whose model.json cannot be read as a JSON object is skipped with a warning.

    Hidden folders are not searched: an export being built or replaced sits in one
    (durable.fresh_folder), and glob's `*` does not match them.
    """
    pages = []
    for path in glob.glob(os.path.join(export_dir, "*", WEB_FOLDER, "model.json")):
        try:  # another export's damaged model.json must not stop this one being served
            with open(path) as handle:
                model = json.load(handle)
            if not isinstance(model, dict):
                raise ValueError("it is not a JSON object")
        except (OSError, ValueError) as error:  # unreadable, not UTF-8, not JSON, not an object
            log.warning("skipping %s: its model.json is damaged (%s)", os.path.dirname(path),
                        error)
            continue
        if dataset is None or model.get("dataset") == dataset:
            pages.append((os.path.getmtime(path), os.path.dirname(path)))
    if not pages:
        which = f"--dataset {dataset} " if dataset else ""
        raise UsageError(f"no web page {'of ' + dataset + ' ' if dataset else ''}in "
                         f"{words.folder(export_dir)}: make one with "
                         f"`{words.command()} {which}--export web`")
    return max(pages)[1]
