"""What the console shows: TensorFlow loads quietly, --help by mode, --flagfile, the prep
commands' names, and no traceback when a browser drops a connection to --serve."""

import socket
import struct
import threading
import time
import urllib.request

import pytest
from helpers import run_main, run_prep

from dcgan import cli
from dcgan.web.serve import make_server

# TensorFlow's load-time lines (dcgan/runtime.py). TF_ENABLE_ONEDNN_OPTS=1 makes the oneDNN one
# appear on any x86 processor, as it does by default on those with AVX-512.
LOAD_LINES = ("absl::InitializeLog()", "oneDNN custom operations are on")


def test_tensorflow_loads_quietly_unless_verbose(own_trained_run):
    workdir, _ = own_trained_run  # a copy: --visualize writes its grids into the run's samples
    args = ["--visualize", "--num_samples", "2"]
    quiet = run_main(args, workdir, env={"TF_ENABLE_ONEDNN_OPTS": "1"})
    assert quiet.returncode == 0, quiet.stderr
    assert not [line for line in quiet.stderr.splitlines() if any(m in line for m in LOAD_LINES)]
    verbose = run_main([*args, "--verbose"], workdir, env={"TF_ENABLE_ONEDNN_OPTS": "1"})
    assert verbose.returncode == 0, verbose.stderr
    assert all(marker in verbose.stderr for marker in LOAD_LINES), verbose.stderr


def test_help_lists_every_flag_once_under_its_mode(tmp_path):
    grouped = [name for _, names in cli.HELP_GROUPS for name in names]
    ours = {flag.name for flag in cli.FLAGS.flags_by_module_dict()["dcgan.cli"]}
    assert sorted(grouped) == sorted(ours)  # none left out, none twice
    result = run_main(["--help"], tmp_path, timeout=120)
    assert result.returncode == 0 and not result.stderr, result.stderr
    text = result.stdout
    assert text.startswith("usage: python main.py --train | --visualize")
    assert text.index("Modes (choose one):") < text.index("Which run") < text.index("--train:")
    assert "--flagfile=FILE" in text and "\n  --name " in text


def test_a_flagfile_holds_a_runs_flags(tmp_path):
    (tmp_path / "run.flags").write_text("--train\n--dataset=anime\n--batch_size=0\n")
    result = run_main(["--flagfile=run.flags"], tmp_path, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip() == "error: --batch_size must be a positive number, not 0"


@pytest.mark.parametrize("tool", ["faces", "clean", "download", "cascade"])
def test_prep_commands_help_names_the_installed_command(tool):
    result = run_prep(tool, "--help", timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: dcgan-{tool} "), result.stdout
    assert "python -m" not in result.stdout


def _handler_threads():
    return [t for t in threading.enumerate() if "process_request" in t.name and t.is_alive()]


def test_a_dropped_connection_is_no_traceback(tmp_path, capfd):
    (tmp_path / "index.html").write_text("<p>page</p>")
    (tmp_path / "big.bin").write_bytes(bytes(64 * 2 ** 20))  # far more than socket buffers
    server = make_server(tmp_path, 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        client = socket.create_connection((host, port))
        client.sendall(b"GET /big.bin HTTP/1.1\r\nHost: localhost\r\n\r\n")
        client.recv(1024)  # the reply has begun
        # Close with a reset, as a browser does when a tab closes mid-download.
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.close()
        deadline = time.time() + 30
        while _handler_threads() and time.time() < deadline:
            time.sleep(0.1)
        assert not _handler_threads()
        page = urllib.request.urlopen(f"http://{host}:{port}/index.html", timeout=10).read()
        assert page == b"<p>page</p>"  # and the server goes on serving
    finally:
        server.shutdown()
        server.server_close()
    err = capfd.readouterr().err
    assert "Traceback" not in err and "BrokenPipe" not in err and "ConnectionReset" not in err
