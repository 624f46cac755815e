"""Export: the ONNX model and frozen graph give the TF sampler's images; portable seeds."""

import contextlib
import json
import os
import resource
import shutil
import signal
from pathlib import Path

import numpy as np
import pytest
from helpers import REPO, main_in_process, node_module, progress_lines, refusal

from dcgan import latent


@pytest.fixture(scope="module")
def exported(trained_run, tmp_path_factory):
    """`python main.py --dataset anime --export` on the tiny trained run, in this process:
    (folder, settings)."""
    workdir, settings = trained_run
    export_dir = tmp_path_factory.mktemp("export")
    result = main_in_process(["--dataset", "anime", "--export", "--export_dir", str(export_dir)],
                             workdir)
    assert result.returncode == 0, result.stderr
    # One bar over the formats, as lines here (stderr is not a terminal), its last field naming
    # the one being written.
    lines = progress_lines(result.stderr, "export")
    assert [line.rsplit(", ", 1)[-1] for line in lines] == \
        ["frozen graph]", "SavedModel]", "ONNX]", "model.json]", "done]"], lines
    return export_dir / settings.run_name, settings


def test_export_writes_every_format(exported):
    folder, settings = exported
    for name in ("generator.pb", "generator.onnx", "model.json", "saved_model/saved_model.pb"):
        assert (folder / name).is_file(), name
    description = json.loads((folder / "model.json").read_text())
    assert description["z_dim"] == settings.model.z_dim == 16
    assert description["output_height"] == 16 and description["channels"] == 3
    assert description["inputs"] == {"z": "z:0"} and description["output"] == "sampler:0"
    assert description["labels"] is None


def _frozen_graph_images(path, z):
    """The images the frozen graph at `path` draws from `z`, run in a graph of its own."""
    import tensorflow as tf

    graph_def = tf.compat.v1.GraphDef.FromString(Path(path).read_bytes())
    with tf.Graph().as_default() as graph:
        tf.compat.v1.import_graph_def(graph_def, name="")
        with tf.compat.v1.Session(graph=graph) as session:
            return session.run("sampler:0", {"z:0": z})


def test_onnx_and_frozen_graph_match_the_tf_sampler(exported):
    _assert_exports_match_the_tf_sampler(*exported)


def test_a_run_with_4x4_kernels_exports_the_same_images(lever_run, tmp_path):
    workdir, settings, _ = lever_run
    result = main_in_process(["--dataset", "anime", "--export", "--export_dir", str(tmp_path)],
                             workdir)
    assert result.returncode == 0, result.stderr
    _assert_exports_match_the_tf_sampler(tmp_path / settings.run_name, settings)


def _assert_exports_match_the_tf_sampler(folder, settings):
    """The ONNX model and frozen graph exported in `folder` draw the trained TF sampler's
    images of run `settings`."""
    import onnx
    import onnxruntime

    from dcgan.session import TrainedGenerator

    onnx_model = onnx.load(str(folder / "generator.onnx"))
    assert not {"If", "Loop"} & {node.op_type for node in onnx_model.graph.node}
    with TrainedGenerator(settings) as generator:
        z = generator.sample_z(9, rng_seed=4)
        expected = generator.generate(z)
    # The pictures differ with z by far more than the tolerance, so matching them means
    # something. Not an absolute spread of the pixels: the tiny run's sampler draws faint
    # pictures (fp32 training, pixel std ~0.009, pictures 0.013-0.015 apart at most).
    tolerance = 1e-4
    between_pictures = np.abs(expected - expected[:1]).max()
    assert between_pictures > 20 * tolerance, between_pictures
    onnx_images = onnxruntime.InferenceSession(str(folder / "generator.onnx")).run(
        ["sampler:0"], {"z:0": z})[0]
    assert np.abs(onnx_images - expected).max() < tolerance

    assert np.abs(_frozen_graph_images(folder / "generator.pb", z) - expected).max() < 1e-5


def test_export_without_a_run_is_one_line(tmp_path, monkeypatch):
    # In this process (helpers.refusal); main.py's exit status 2 and `error: ` prefix for a mode
    # with no run to read are tests/test_cli.py's MAIN_PY_ROWS.
    monkeypatch.chdir(tmp_path)
    assert refusal(["--dataset", "anime", "--export"]).startswith("no trained checkpoint")


def test_seeds_are_stable_and_in_range():
    z = latent.seeds_z([0, 1, 2**32 - 1], 100)
    assert z.shape == (3, 100) and z.dtype == np.float32
    assert z.min() >= -1 and z.max() < 1 and not np.array_equal(z[0], z[1])
    assert np.array_equal(z[1], latent.seed_z(1, 100))
    normal = latent.seed_z(7, 20000, "normal01")
    assert abs(normal.mean()) < 0.03 and abs(normal.std() - 1) < 0.03
    with pytest.raises(ValueError):
        latent.seed_z(2**32, 4)


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
@pytest.mark.parametrize("z_dist", latent.NAMES)
def test_javascript_seeds_equal_python_seeds(z_dist):
    seeds = [0, 1, 12345, 2**31, 2**32 - 1]
    script = (f"console.log(JSON.stringify({seeds}.map((s) => Array.from("
              f"zForSeed(s, 33, '{z_dist}')))));")
    from_js = np.asarray(node_module("seeds.js", ["zForSeed"], script), dtype=np.float32)
    assert np.array_equal(from_js, latent.seeds_z(seeds, 33, z_dist))


def test_package_data_ships_the_page():
    from dcgan.web import page as webpage

    for name in webpage.PAGE_FILES:
        assert (Path(webpage.TEMPLATE) / name).is_file()


def test_export_of_an_older_checkpoint_holds_its_weights(trained_run, tmp_path):

    from dcgan.export import export
    from dcgan.session import TrainedGenerator

    _, settings = trained_run
    older = f"{settings.run_checkpoint_dir}/DCGAN.model-16"  # --checkpoint 16
    paths = export(settings, str(tmp_path), checkpoint=older)
    folder = tmp_path / settings.run_name
    assert json.loads((folder / "model.json").read_text())["step"] == 16
    with TrainedGenerator(settings, checkpoint=older) as generator:
        z = generator.sample_z(4, rng_seed=5)
        expected = generator.generate(z)
    with TrainedGenerator(settings) as newest:
        assert newest.step == 32 and np.abs(newest.generate(z) - expected).max() > 1e-3
    assert np.abs(_frozen_graph_images(paths[0], z) - expected).max() < 1e-5


@pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not installed")
def test_runtime_install_without_a_registry_fails_fast_in_one_line(tmp_path, monkeypatch):
    import time

    from dcgan.errors import UsageError
    from dcgan.web import page as webpage

    # An empty npm cache and a registry nobody answers on: an offline machine.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("npm_config_cache", str(tmp_path / "npm"))
    monkeypatch.setenv("npm_config_registry", "http://127.0.0.1:1/")
    start = time.monotonic()
    with pytest.raises(UsageError) as raised:
        webpage.install_runtime()
    assert time.monotonic() - start < webpage.REGISTRY_TIMEOUT_S + 10
    message = str(raised.value)
    assert "\n" not in message and ".log" not in message
    assert "cannot reach its registry" in message and "127.0.0.1:1" in message
    assert "npm install onnxruntime-web@" in message and "DCGAN_ORT_WEB" in message


def _tree(folder):
    """{path relative to `folder`: bytes} of every file under it (links: where they point)."""
    folder = Path(folder)
    return {str(p.relative_to(folder)): (f"-> {p.readlink()}" if p.is_symlink() else
                                         p.read_bytes())
            for p in sorted(folder.rglob("*")) if p.is_symlink() or p.is_file()}


def stand_in_runtime(folder):
    """A folder of onnxruntime-web's file names with stand-in contents (the page's files are
    only copied here, not run), so a page builds without npm or a network."""
    from dcgan.web import page as webpage

    folder = Path(folder)
    folder.mkdir()
    for name in webpage.ORT_FILES:
        (folder / name).write_bytes(b"\0asm stand-in " + name.encode())
    return folder


def test_links_planted_in_an_export_are_never_written_through(trained_run, tmp_path,
                                                                monkeypatch):
    from dcgan.export import export

    _, settings = trained_run
    outside = tmp_path / "outside"
    outside.mkdir()
    for name in ("system.conf", "page.html", "model.json"):
        (outside / name).write_text(f"precious {name}\n")
    (outside / "folder").mkdir()
    (outside / "folder" / "keep.txt").write_text("precious\n")
    before = _tree(outside)
    folder = tmp_path / "export" / settings.run_name
    (folder / "web").mkdir(parents=True)
    links = {"generator.pb": outside / "system.conf", "model.json": outside / "model.json",
             "saved_model": outside / "folder", "web/index.html": outside / "page.html",
             "web/model.json": outside / "model.json"}
    for name, points_to in links.items():
        os.symlink(points_to, folder / name)
    monkeypatch.setenv("DCGAN_ORT_WEB", str(stand_in_runtime(tmp_path / "ort")))

    paths = export(settings, str(tmp_path / "export"), web=True)
    assert _tree(outside) == before
    assert paths[-1] == str(folder / "web")
    assert not any((folder / name).is_symlink() for name in links)
    page = _tree(folder / "web")
    assert page["model.json"] == (folder / "model.json").read_bytes()
    assert page["generator.onnx"] == (folder / "generator.onnx").read_bytes()
    assert page["index.html"] == (REPO / "dcgan" / "web" / "index.html").read_bytes()
    assert [p.name for p in (tmp_path / "export").iterdir()] == [settings.run_name]


@contextlib.contextmanager
def file_size_limit(limit):
    """While the block runs, no file this process writes can grow past `limit` bytes
    (RLIMIT_FSIZE: a write beyond it fails with EFBIG, as `helpers.with_file_size_limit` makes
    it fail for a command; Python ignores the SIGXFSZ that comes with it)."""
    assert signal.getsignal(signal.SIGXFSZ) == signal.SIG_IGN
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


def test_a_failed_re_export_leaves_the_previous_one_whole(trained_run, exported, tmp_path,
                                                          monkeypatch):
    """In this process (the limit set and lifted around the export): the files left are the
    subject; main.py's exit status 1 and one line for a failed write are test_reliability's."""
    import onnxruntime

    from dcgan.web import page as webpage

    workdir, _ = trained_run
    folder, settings = exported
    previous = tmp_path / "export" / settings.run_name
    shutil.copytree(folder, previous)
    webpage.build_page(previous, stand_in_runtime(tmp_path / "ort"))
    before = _tree(previous)
    # A file-size limit every model file fits under, and a runtime whose wasm file does not:
    # the re-export fails part-way, at the last files of its page.
    limit = 2 * max(len(data) for data in before.values())
    runtime = stand_in_runtime(tmp_path / "big_ort")
    wasm = "ort-wasm-simd-threaded.wasm"
    (runtime / wasm).write_bytes(bytes(limit + 1))
    monkeypatch.setenv("DCGAN_ORT_WEB", str(runtime))
    with file_size_limit(limit):
        result = main_in_process(["--dataset", "anime", "--export", "web", "--export_dir",
                                  str(previous.parent)], workdir)
    assert result.returncode == 1, result.stderr
    # One line, after the bar's lines up to the stage that failed.
    *before_it, line = result.stderr.strip().splitlines()
    assert before_it == progress_lines(result.stderr, "export"), result.stderr
    assert before_it[-1].endswith("web page]") and "Traceback" not in result.stderr
    assert line == (f"error: cannot write the export: File too large: {previous}/web/{wasm}: "
                    "the file is larger than this system allows: free space or lift the limit; "
                    f"the previous export in {previous} is unchanged"), line
    assert _tree(previous) == before
    assert [p.name for p in previous.parent.iterdir()] == [settings.run_name]  # no leftovers
    session = onnxruntime.InferenceSession(str(previous / "generator.onnx"))
    z = latent.seeds_z([1, 2], settings.model.z_dim)
    assert session.run(["sampler:0"], {"z:0": z})[0].shape == (2, 16, 16, 3)


def test_the_page_finder_skips_exports_being_built_or_replaced(tmp_path):
    from dcgan.web import page as webpage

    names = ("anime_8_16_16", ".anime_8_16_16.new-123", ".anime_8_16_16.old-123")
    for age, name in enumerate(names):  # the hidden ones are newer
        model = tmp_path / name / "web" / "model.json"
        model.parent.mkdir(parents=True)
        model.write_text(json.dumps({"dataset": "anime"}))
        os.utime(model, (1e9 + age, 1e9 + age))
    assert webpage.newest_page(str(tmp_path)) == str(tmp_path / "anime_8_16_16" / "web")
