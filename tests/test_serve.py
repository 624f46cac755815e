"""`python main.py --serve` as a server: only the page's own files, only for 127.0.0.1, and no
client can hold it. Every test talks to a real server over real sockets on 127.0.0.1 only,
with a bounded number of connections and time limits on each."""

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from helpers import MAIN

from dcgan.web import page
from dcgan.web.serve import make_server


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


@contextlib.contextmanager
def serving(export_dir):
    """`python main.py --serve --port 0` on a made page: (port, page folder, the process)."""
    folder = make_page(export_dir)
    os.symlink(Path(export_dir) / "secret.txt", folder / "link.js")
    process = subprocess.Popen([sys.executable, str(MAIN), "--serve", "--port", "0",
                                "--export_dir", str(export_dir)], cwd=export_dir,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
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
def small_server(tmp_path):
    """make_server in a thread with 4 slots and 1 s deadlines for request and reply; yields
    its port."""
    server = make_server(make_page(tmp_path / "export"), 0, max_connections=4,
                         request_deadline=1.0, reply_deadline=1.0)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                     daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_slow_and_piled_up_clients_hold_no_thread_for_long(tmp_path):
    with small_server(tmp_path) as port:
        piled_up_clients(port)


def piled_up_clients(port):
    """40 half-sent requests against 4 slots: bounded threads, an answer for everyone."""
    threads_before = threading.active_count()
    held = []
    try:
        for _ in range(40):  # half-sent requests, never finished
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(b"GET /index.html HTTP/1.1\r\nHost: 127.0.0.1")
            held.append(sock)
        time.sleep(0.3)
        # Four connection threads and their deadline timers at most, not forty.
        assert threading.active_count() - threads_before <= 2 * 4
        status = http(port, "/index.html", timeout=5)[0]
        assert status in (200, 503)  # an answer at once, never a hang
        started = time.monotonic()
        replies = [until_closed(sock) for sock in held]
        assert time.monotonic() - started < 5
        # Slow clients in a slot are cut off at the deadline; the rest were told 503 at once.
        assert all(r.startswith(b"HTTP/1.0 503") for r in replies if r), replies
        assert replies.count(b"") <= 4, replies
    finally:
        for sock in held:
            sock.close()
        time.sleep(0.2)
    assert http(port, "/index.html", timeout=5)[0] == 200
    deadline = time.monotonic() + 3
    while threading.active_count() > threads_before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert threading.active_count() <= threads_before


def test_a_client_that_drips_its_headers_is_cut_off_at_the_deadline(tmp_path):
    with small_server(tmp_path) as port:
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock, \
                contextlib.suppress(OSError):
            for byte in b"GET /index.html HTTP/1.1\r\nX-Slow: " + b"x" * 100:
                sock.sendall(bytes([byte]))
                time.sleep(0.05)  # each byte well within any per-read timeout
        assert time.monotonic() - started < 3  # cut off at 1 s, not after the 100 bytes' 6 s


def test_a_privileged_port_is_one_line(tmp_path):
    if os.geteuid() == 0 and not shutil.which("setpriv"):
        pytest.skip("running as root without util-linux setpriv: root may open port 80")
    make_page(tmp_path)
    prefix = ["setpriv", "--bounding-set", "-net_bind_service"] if os.geteuid() == 0 else []
    result = subprocess.run([*prefix, sys.executable, str(MAIN), "--serve", "--port", "80",
                             "--export_dir", str(tmp_path)], cwd=tmp_path, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: port 80 ") and "--port" in last, result.stderr


def test_a_client_that_never_reads_its_reply_is_cut_off_at_the_deadline(tmp_path):
    with small_server(tmp_path) as port:
        model = tmp_path / "export" / "anime_64_48_48" / page.WEB_FOLDER / "generator.onnx"
        model.write_bytes(os.urandom(16 << 20))  # far more than the socket buffers hold
        threads_before = threading.active_count()
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.sendall(b"GET /generator.onnx HTTP/1.0\r\nHost: localhost\r\n\r\n")
            time.sleep(0.3)
            assert threading.active_count() > threads_before  # sending, blocked on us
            deadline = time.monotonic() + 4
            while threading.active_count() > threads_before and time.monotonic() < deadline:
                time.sleep(0.05)
            assert threading.active_count() <= threads_before  # cut off at 1 s, thread gone
