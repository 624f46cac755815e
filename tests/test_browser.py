"""The exported web page in real headless Chromium, served by dcgan.web.serve on 127.0.0.1,
at a desktop width and at a phone's 400 px.

Needs Debian's `chromium`, Node.js and `npm install` run in the repository (playwright-core and
onnxruntime-web in node_modules/, as .ci/run does); skips saying which is missing otherwise.
"""

import json
import shutil
import subprocess
import threading
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import pytest
from helpers import REPO, main_in_process

CHROMIUM = Path("/usr/bin/chromium")
PLAYWRIGHT = REPO / "node_modules" / "playwright-core"
DRIVER = Path(__file__).with_name("web_page_check.cjs")
SEED = 12345


def _missing():
    from dcgan.web import page as webpage

    if not CHROMIUM.exists():
        return "no /usr/bin/chromium (apt-get install -y chromium)"
    if shutil.which("node") is None:
        return "Node.js is not installed"
    if not PLAYWRIGHT.is_dir():
        return "playwright-core is not in node_modules/ (run `npm install` in the repository)"
    if webpage.find_runtime() is None:
        return "onnxruntime-web is not in node_modules/ (run `npm install` in the repository)"
    return None


@pytest.fixture(scope="module")
def served_page(trained_run, tmp_path_factory):
    """`--export web` of the tiny run, served on 127.0.0.1: (url, settings)."""
    reason = _missing()
    if reason:
        pytest.skip(reason)
    from dcgan.web.serve import make_server

    workdir, settings = trained_run
    export_dir = tmp_path_factory.mktemp("web_export")
    result = main_in_process(["--dataset", "anime", "--export", "web", "--export_dir",
                              str(export_dir)], workdir)
    assert result.returncode == 0, result.stderr
    page = export_dir / settings.run_name / "web"
    assert (page / "ort-wasm-simd-threaded.wasm").is_file()
    server = make_server(page, 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/index.html", settings
    server.shutdown()
    server.server_close()


def _pixels(face):
    """A face the driver read from the page, as uint8 RGBA [h, w, 4]."""
    return np.asarray(face["rgba"], np.uint8).reshape(face["height"], face["width"], 4)


def test_page_draws_the_python_face_for_a_seed_and_a_handle(served_page, tmp_path):
    from dcgan import grids, latent
    from dcgan.session import TrainedGenerator

    url, settings = served_page
    screenshot = tmp_path / "page.png"
    # A vector no seed gives, as a projection finds them: inside the range, off the seeds' grid.
    z = np.random.default_rng(SEED).uniform(-1, 1, settings.model.z_dim).astype(np.float32)
    handle = latent.to_handle(z)
    result = subprocess.run(["node", str(DRIVER), url, str(SEED), str(screenshot), handle],
                            capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["errors"] == [] and report["offsite"] == []
    assert report["isolated"], "the server's COOP/COEP headers did not isolate the page"
    assert all(ms > 0 for ms in report["times"])

    web = _pixels(report["face"])
    with TrainedGenerator(settings) as generator:
        seed_z = latent.seeds_z([SEED], generator.cfg.z_dim, generator.cfg.z_dist)
        expected, from_handle = grids.to_uint8(generator.generate(
            np.concatenate([seed_z, latent.from_handle(handle)[np.newaxis]])))
    assert np.abs(web[:, :, :3].astype(int) - expected).max() <= 1
    assert (web[:, :, 3] == 255).all()

    # The handle's face, opened from the address and typed in the box, is Python's picture of
    # its vector; a damaged handle is a message on the page (no error in the console, checked
    # above) that showing a good one puts right; the address names the face on show.
    handled = report["handled"]
    for shown in (handled["fromAddress"], handled["fromBox"]):
        assert np.abs(_pixels(shown)[:, :, :3].astype(int) - from_handle).max() <= 1
    assert "is damaged (cut short or mistyped): copy it whole" in handled["damaged"]
    assert handled["recovered"] and handled["address"] == f"#{handle}"

    shot = imageio.imread(screenshot)
    colours = np.unique(shot[:, :, :3].reshape(-1, 3), axis=0)
    assert shot.shape[0] > 300 and shot.std() > 10 and len(colours) > 100

    # A phone-sized window: nothing sticks out sideways, and the faces stay big enough to see.
    narrow = report["narrow"]
    assert narrow["scrollWidth"] <= narrow["viewport"] == 400
    assert narrow["right"] <= narrow["viewport"]
    assert narrow["tile"] >= 64 and narrow["face"] >= 200
    phone = imageio.imread(screenshot.with_name("page-narrow.png"))
    assert phone.shape[1] == 400 and phone.std() > 10
