"""`python main.py --serve` as a server: only the page's own files, only for 127.0.0.1, and no
client can hold it. Every test talks to a real server over real sockets on 127.0.0.1 only,
with a bounded number of connections and time limits on each."""

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from helpers import MAIN, main_in_process

from dcgan.web import page
from dcgan.web.serve import MAX_CONNECTIONS, REQUEST_DEADLINE, make_server


def make_page(export_dir):
    """A page folder as `--export web` lays it out: the real page files, stand-ins for the
    runtime and model (what they hold does not matter to the server), and a secret beside it."""
    folder = Path(export_dir) / "anime_64_48_48" / page.WEB_FOLDER
    folder.mkdir(parents=True)
    for name in page.PAGE_FILES:
        (folder / name).write_bytes((page.TEMPLATE / name).read_bytes())
    for name in (*page.ORT_FILES, "generator.onnx"):
        (folder / name).write_bytes(b"\0asm" + name.encode())
    (folder / "model.json").write_text(json.dumps({"dataset": "anime"}))
    (folder / "notes.txt").write_text("not part of the page")
    (folder / "sub").mkdir()
    (folder / "sub" / "inner.js").write_text("// not part of the page")
    (Path(export_dir) / "secret.txt").write_text("private")
    return folder


def http(port, target, host=None, timeout=10):
    """(status, headers dict, body) of one raw GET, sent exactly as given."""
    host = f"127.0.0.1:{port}" if host is None else host
    head = f"GET {target} HTTP/1.1\r\n" + (f"Host: {host}\r\n" if host else "")
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(head.encode("latin-1") + b"Connection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    header, _, body = data.partition(b"\r\n\r\n")
    lines = header.decode("latin-1").split("\r\n")
    fields = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), fields, body


def _ctrl_c_as_in_a_terminal():
    """In the child: SIGINT's default action, as a command typed at a terminal has it. A suite
    started in the background (`pytest &` in a script) runs with SIGINT ignored, children
    inherit that, and Python then installs no KeyboardInterrupt handler: Ctrl-C would do
    nothing, as the shell meant for background jobs."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@contextlib.contextmanager
def serving(export_dir):
    """`python main.py --serve --port 0` on a made page: (port, page folder, the process)."""
    folder = make_page(export_dir)
    os.symlink(Path(export_dir) / "secret.txt", folder / "link.js")
    process = subprocess.Popen([sys.executable, str(MAIN), "--serve", "--port", "0",
                                "--export_dir", str(export_dir)], cwd=export_dir,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=_ctrl_c_as_in_a_terminal)
    try:
        line = process.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert match, line + process.stderr.read()
        yield int(match.group(1)), folder, process
    finally:
        process.terminate()
        process.wait(timeout=10)


def until_closed(sock):
    """All a socket receives until the server closes it (its timeout bounds each wait)."""
    data = b""
    while chunk := sock.recv(1024):
        data += chunk
    return data


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """One served page for the tests that only send requests."""
    with serving(tmp_path_factory.mktemp("export")) as server:
        yield server


def test_the_page_files_are_served_with_their_types_and_isolation(served):
    port, folder, _ = served
    status, headers, body = http(port, "/")
    assert status == 200 and body == (folder / "index.html").read_bytes()
    assert headers["Content-Type"].startswith("text/html")
    assert headers["Cross-Origin-Embedder-Policy"] == "require-corp"
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
    for name, kind in (("app.js", "text/javascript"), ("ort-wasm-simd-threaded.wasm",
                                                       "application/wasm"),
                       ("model.json", "application/json")):
        status, headers, body = http(port, f"/{name}?v=2")
        assert (status, headers["Content-Type"]) == (200, kind), name
        assert body == (folder / name).read_bytes()
    assert http(port, "/index.html", host="localhost")[0] == 200
    assert http(port, "/index.html", host=f"LOCALHOST:{port}")[0] == 200


@pytest.mark.parametrize("target", [
    "/index.html%00.js", "/%00", "/../secret.txt", "/%2e%2e/secret.txt", "/..%2fsecret.txt",
    "/notes.txt", "/sub/", "/sub/inner.js", "/sub", "/link.js", "//etc/passwd",
    "/index.html/", "/" + "a" * 5000])
def test_nothing_but_the_page_files_is_served(served, target):
    port, _, _ = served
    status, _, body = http(port, target)
    assert status == 404, (target, status)
    assert b"private" not in body and b"not part of the page" not in body


@pytest.mark.parametrize("host", ["evil.example", "evil.example:{port}", "127.0.0.1:1",
                                  "localhost.evil.example:{port}", "", "127.0.0.1:{port}x"])
def test_requests_for_other_hosts_are_refused(served, host):
    port, _, _ = served
    status, _, body = http(port, "/index.html", host=host.format(port=port))
    assert status in (400, 403) and b"<script" not in body, host


def test_the_server_prints_no_traceback(tmp_path):
    with serving(tmp_path) as (port, _, process):
        for target in ("/%00", "/sub/", "/link.js", "/\x7f"):
            http(port, target)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"GET /ort-wasm-simd-threaded.wasm HTTP/1.0\r\nHost: localhost\r\n\r\n")
        # (hung up before reading the reply)
        assert http(port, "/index.html")[0] == 200
        process.terminate()
        _, stderr = process.communicate(timeout=10)
    assert "Traceback" not in stderr, stderr


@contextlib.contextmanager
def small_server(tmp_path, max_connections=4, request_deadline=1.0):
    """make_server in a thread with `max_connections` and 1 s deadlines for request (unless
    given) and reply; yields (port, server)."""
    server = make_server(make_page(tmp_path / "export"), 0, max_connections=max_connections,
                         request_deadline=request_deadline, reply_deadline=1.0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        assert not thread.is_alive()


def wait_until(condition, seconds):
    """Whether `condition()` became true within `seconds` (polled)."""
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    return condition()


def stall(port, count):
    """`count` connections that each send half a request and then nothing."""
    held = []
    for _ in range(count):
        held.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        held[-1].sendall(b"GET /index.html HTTP/1.1\r\nHost: 127")
    return held


def closed_without_reply(sock):
    """True when the server closes `sock` without sending anything (within its timeout)."""
    try:
        return until_closed(sock) == b""
    except ConnectionResetError:
        return True


def test_hundreds_of_stalled_connections_leave_real_requests_answered(tmp_path):
    threads_before = threading.active_count()
    with small_server(tmp_path, MAX_CONNECTIONS, request_deadline=3.0) as (port, server):
        held = stall(port, 300)
        try:
            assert wait_until(lambda: server.connections == 300, 3), server.connections
            for _ in range(5):
                started = time.monotonic()
                assert http(port, "/index.html", timeout=2)[0] == 200
                assert time.monotonic() - started < 2
            assert server.connections == 300  # all still stalled, holding no thread
            assert threading.active_count() <= threads_before + 1  # the server's own
            started = time.monotonic()
            assert all(closed_without_reply(sock) for sock in held)  # cut at the deadline
            assert time.monotonic() - started < 5
            assert wait_until(lambda: server.connections == 0, 1), server.connections
        finally:
            for sock in held:
                sock.close()
        assert http(port, "/index.html", timeout=2)[0] == 200


def test_when_every_connection_is_open_the_longest_waiting_makes_room(tmp_path):
    with small_server(tmp_path, 4, request_deadline=30.0) as (port, server):
        held = stall(port, 10)
        try:
            for sock in held:
                sock.settimeout(2)
            # Each connection past the fourth closed the oldest still sending its request.
            assert all(closed_without_reply(sock) for sock in held[:6])
            assert http(port, "/index.html", timeout=2)[0] == 200  # in the place of the 7th
            assert closed_without_reply(held[6])
            for sock in held[7:]:  # the newest three are still waiting, long before 30 s
                sock.settimeout(0.2)
                with pytest.raises(TimeoutError):
                    sock.recv(1)
            assert server.connections == 3
        finally:
            for sock in held:
                sock.close()


def test_a_client_that_drips_its_headers_is_cut_off_at_the_deadline(tmp_path):
    with small_server(tmp_path) as (port, _):
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock, \
                contextlib.suppress(OSError):
            for byte in b"GET /index.html HTTP/1.1\r\nX-Slow: " + b"x" * 100:
                sock.sendall(bytes([byte]))
                time.sleep(0.05)  # each byte well within any per-read timeout
        assert time.monotonic() - started < 3  # cut off at 1 s, not after the 100 bytes' 6 s


def test_a_client_that_never_reads_its_reply_is_cut_off_at_the_deadline(tmp_path):
    with small_server(tmp_path, 1) as (port, server):
        model = tmp_path / "export" / "anime_64_48_48" / page.WEB_FOLDER / "generator.onnx"
        model.write_bytes(os.urandom(16 << 20))  # far more than the socket buffers hold
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.sendall(b"GET /generator.onnx HTTP/1.0\r\nHost: localhost\r\n\r\n")
            started = time.monotonic()
            assert wait_until(lambda: len(server.replying) == 1, 2)  # sending, blocked on us
            # Its one connection is taking a reply, so there is no room: 503 at once.
            assert http(port, "/index.html", timeout=2)[0] == 503
            assert wait_until(lambda: server.connections == 0, 4)
            assert time.monotonic() - started < 3  # cut off at 1 s
        assert http(port, "/index.html", timeout=2)[0] == 200


def test_ctrl_c_stops_the_server_at_once_with_clients_stalled(tmp_path):
    with serving(tmp_path) as (port, _, process):
        held = stall(port, 20)
        try:
            assert http(port, "/index.html")[0] == 200
            process.send_signal(signal.SIGINT)
            # Sooner than the stalled clients' REQUEST_DEADLINE (10 s) would let it: "at once".
            _, stderr = process.communicate(timeout=REQUEST_DEADLINE / 2)
        finally:
            for sock in held:
                sock.close()
    assert process.returncode == 0 and "Traceback" not in stderr, stderr


def damaged_exports(export_dir):
    """Three newer exports beside a good one whose model.json is damaged: not JSON, not
    UTF-8, JSON but not an object. Returns their page folders."""
    folders = []
    for name, text in (("broken_64_48_48", b'{"dataset": "anime", "z_d'),
                       ("latin1_64_48_48", b'{"dataset": "anim\xe9"}'),
                       ("list_64_48_48", b'["anime"]')):
        folder = Path(export_dir) / name / page.WEB_FOLDER
        folder.mkdir(parents=True)
        (folder / "model.json").write_bytes(text)
        (folder / "index.html").write_text("<p>damaged export</p>")
        later = time.time() + 60  # newer than the good page
        os.utime(folder / "model.json", (later, later))
        folders.append(folder)
    return folders


@pytest.mark.parametrize("dataset", [None, "anime"])
def test_a_damaged_model_json_is_skipped_with_a_warning(tmp_path, caplog, dataset):
    good = make_page(tmp_path)
    damaged = damaged_exports(tmp_path)
    assert page.newest_page(str(tmp_path), dataset) == str(good)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 3, warnings
    for folder in damaged:
        assert sum(str(folder) in line and "damaged" in line for line in warnings) == 1


def test_serve_serves_the_good_page_beside_a_damaged_export(tmp_path):
    damaged = damaged_exports(tmp_path)
    with serving(tmp_path) as (port, folder, process):
        status, _, body = http(port, "/")
        assert (status, body) == (200, (folder / "index.html").read_bytes())
        process.terminate()
        _, stderr = process.communicate(timeout=10)
    assert "Traceback" not in stderr, stderr
    warnings = [line for line in stderr.splitlines() if "skipping" in line]
    assert len(warnings) == len(damaged), stderr


def test_a_mistyped_serve_name_gets_the_closest_page_suggested(tmp_path):
    make_page(tmp_path / "export")
    typo = main_in_process(["--serve", "--name", "anime_64_48_84"], tmp_path)
    assert typo.returncode == 2, typo.stderr
    assert "did you mean --name anime_64_48_48? Or make it with `python main.py --name " \
        "anime_64_48_84 --export web`" in typo.stderr, typo.stderr
    unlike = main_in_process(["--serve", "--name", "mnist"], tmp_path)
    assert unlike.returncode == 2 and "did you mean" not in unlike.stderr, unlike.stderr
    assert "no web page in export/mnist/web/" in unlike.stderr, unlike.stderr
