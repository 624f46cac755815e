"""Downloader and cascade-download tests against a local HTTP server on 127.0.0.1."""

from __future__ import annotations

import contextlib
import hashlib
import json
import subprocess
import sys
import threading
import time
import urllib.parse
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
from helpers import REPO, SHARED, need_shared, photo_bytes, run_prep

from dcgan.prep import cascade, download, fetch

# The pictures served are package photos (conftest); MNIST and the cascade come from ../shared.
MNIST = SHARED / "data" / "mnist"
CASCADE = SHARED / "data" / "cascade" / "lbpcascade_animeface.xml"


def _picture(name):
    """The bytes of /img/N.jpg: package photo N."""
    return photo_bytes(int(name.removesuffix(".jpg")))


JUNK_LISTINGS = {
    "html": b"<html>log in first</html>",
    "not_utf8": b'[{"file_url": "/img/1.jpg", "id": "\xff"}]',
    "deep": b"[" * 100_000 + b"]" * 100_000,
    "number": b"5",
    "wrapped_number": b'{"posts": 5}',
    "odd_posts": json.dumps([1, "x", None, {"file_url": 7}, {"file_url": ["/img/1.jpg"]},
                             {"file_url": "/img/2.jpg", "file_ext": ["jpg"]},
                             {"file_url": "http://[::1/x.jpg"},
                             {"file_url": "/img/3.jpg", "file_ext": "jpg", "id": {"a": 1},
                              "md5": 5}]).encode(),
}
FAST = fetch.Options(timeout=0.5, deadline=3, retries=1, backoff=0.05, max_bytes=200_000)


class Handler(BaseHTTPRequestHandler):
    """Routes: /img/N.jpg real pictures, /posts.json listing, /mnist/*, /cascade.xml and
    misbehaving ones: /missing (404), /slow, /page.html, /huge, /drip, /flaky (503 once)."""

    flaky_seen: ClassVar[set] = set()
    stop = threading.Event()

    def log_message(self, *args):  # keep pytest output clean
        pass

    def _send(self, body: bytes, kind: str, status: int = 200, length: int | None = None):
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        # The client may give up first (timeout, size cap): expected here.
        with contextlib.suppress(OSError):
            self.wfile.write(body)

    def _trickle(self, data: bytes, pause: float):
        for index in range(len(data)):
            if self.stop.wait(pause):
                return
            try:
                self.wfile.write(data[index:index + 1])
                self.wfile.flush()
            except OSError:  # the client gave up: what it should do
                return

    def do_GET(self):
        parts = urllib.parse.urlsplit(self.path)
        path, query = urllib.parse.unquote(parts.path), urllib.parse.parse_qs(parts.query)
        for prefix, route in PREFIX_ROUTES:
            if path.startswith(prefix):
                return route(self, path[len(prefix):], query)
        return ROUTES.get(path, Handler._missing)(self)

    def _missing(self):
        self._send(b"not found", "text/plain", status=404)

    def _image(self, name, query):
        self._send(_picture(name.rsplit("/", 1)[-1]), "image/jpeg")

    def _mnist(self, name, query):
        if not (MNIST / name).is_file():
            return self._missing()
        return self._send((MNIST / name).read_bytes(), "application/gzip")

    def _junk(self, name, query):  # listings that are not what they should be
        self._send(JUNK_LISTINGS[name] if query["page"] == ["1"] else b"[]", "application/json")

    def _posts(self, name, query):
        page = int(query["page"][0])
        assert query["tags"] == ["1girl solo"]
        posts = [] if page > 2 else [
            {"id": 100 * page + i, "file_ext": "jpg", "file_url": f"/img/{100 * page + i}.jpg",
             "md5": hashlib.md5(_picture(f"{100 * page + i}.jpg")).hexdigest()}
            for i in range(3)
        ] + [{"id": 99, "file_ext": "mp4", "file_url": "/img/x.mp4"}, {"id": 98}]
        self._send(json.dumps(posts).encode(), "application/json")

    def _slow(self):
        self.stop.wait(2.0)
        self._send(_picture("0.jpg"), "image/jpeg")

    def _drip(self):  # no length, more bytes than the cap
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.end_headers()
        try:
            for _ in range(40):
                self.wfile.write(b"\0" * 10_000)
        except OSError:  # the client hangs up once it passes its cap
            pass

    def _trickle_body(self):  # a byte at a time, for ever: only a deadline ends it
        self._trickle(b"HTTP/1.0 200 OK\r\nContent-Type: image/jpeg\r\n\r\n", 0)
        self._trickle(b"\xff" * 1000, 0.1)

    def _flaky(self):  # 503 the first time, the picture after that
        if "/flaky.jpg" not in self.flaky_seen:
            self.flaky_seen.add("/flaky.jpg")
            return self._send(b"busy", "text/plain", status=503)
        return self._send(_picture("1.jpg"), "image/jpeg")


# Routes by path prefix (the rest of the path and the query go to the route) and exact path.
PREFIX_ROUTES = (("/img/", Handler._image), ("/mnist/", Handler._mnist),
                 ("/junk/", Handler._junk), ("/posts.json", Handler._posts))
ROUTES = {
    "/cascade.xml": lambda h: h._send(CASCADE.read_bytes(), "text/xml"),
    "/slow.jpg": Handler._slow,
    "/page.html": lambda h: h._send(b"<html>not a picture</html>", "text/html"),
    "/fake.jpg": lambda h: h._send(b"\xff\xd8 not really a jpeg" * 10, "image/jpeg"),
    "/huge.jpg": lambda h: h._send(b"", "image/jpeg", length=10 << 30),
    "/drip.jpg": Handler._drip,
    "/trickle.jpg": Handler._trickle_body,
    # never gets past the headers
    "/trickle_headers.jpg": lambda h: h._trickle(b"HTTP/1.0 200 OK\r\nX-Padding: " + b"x" * 1000,
                                                 0.1),
    # a URL without an extension, as many image services give
    "/picture": lambda h: h._send(photo_bytes(7), "image/jpeg"),
    # reached only when the non-ASCII path is percent-encoded
    "/名前/11.jpg": lambda h: h._send(photo_bytes(11), "image/jpeg"),
    "/flaky.jpg": Handler._flaky,
}


@pytest.fixture(scope="module")
def server():
    """A threaded HTTP server on 127.0.0.1 for this module; it is shut down at the end."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1},
                              daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    Handler.stop.set()
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def box(tmp_path):
    """A target folder inside an otherwise empty sandbox; checks nothing lands beside it."""
    out = tmp_path / "sandbox" / "raw"
    out.mkdir(parents=True)
    yield out
    outside = [p for p in (tmp_path / "sandbox").rglob("*") if out not in (p, *p.parents)]
    assert outside == [], f"files written outside the target folder: {outside}"
    assert not list(out.glob("*.part")), "temporary files left behind"


def test_sanitize_name_keeps_names_inside(tmp_path):
    for evil in ["../../evil.jpg", "..\\..\\evil.jpg", "/etc/passwd", "..", ".", "", "%2e%2e%2fx"]:
        target = fetch.safe_join(tmp_path, evil)
        assert target.parent == tmp_path.resolve()
        assert not target.name.startswith(".")


def test_url_list_every_case(server, box, tmp_path):
    names = [f"{server}/img/{n}.jpg" for n in (11, 3)] + [
        f"{server}/missing.jpg",
        f"{server}/slow.jpg",
        f"{server}/page.html",
        f"{server}/fake.jpg",
        f"{server}/huge.jpg",
        f"{server}/drip.jpg",
        f"{server}/flaky.jpg",
        f"{server}/img/..%2F..%2F4.jpg",
        f"{server}/img/5.jpg\t../../../escaped.jpg",
        f"{server}/img/6.jpg\t11.jpg",  # same name as the first line: must not overwrite it
    ]
    url_list = tmp_path / "urls.txt"
    url_list.write_text("# test list\n\n" + "\n".join(names) + "\n")
    started = time.monotonic()
    counts = download.fetch_pictures(download.read_url_list(url_list), box, FAST)
    assert time.monotonic() - started < 15
    assert counts["downloaded"] == 6, counts  # 11, 3, flaky, 4, escaped, 6 as hash-11
    assert counts["http"] == 1 and counts["network"] == 1, counts
    assert counts["not an image"] == 2 and counts["too large"] == 2, counts
    got = sorted(p.name for p in box.iterdir())
    assert "4.jpg" in got and "escaped.jpg" in got and "flaky.jpg" in got
    elevens = sorted(box.glob("*-11.jpg"))
    assert len(elevens) == 2 and elevens[0].read_bytes() != elevens[1].read_bytes()
    assert (box / "4.jpg").read_bytes() == _picture("4.jpg")

    again = download.fetch_pictures(download.read_url_list(url_list), box, FAST)
    assert again["already present"] == 6 and again["downloaded"] == 0


def test_booru_listing_with_pages_and_md5(server, box):
    opts = fetch.Options(timeout=2, retries=0, limiter=fetch.RateLimiter(0.05))
    items, skipped = download.booru_items(f"{server}/posts.json", "1girl solo", range(1, 5), 20,
                                          opts)
    assert skipped == {"posts that are not pictures": 2, "posts without a file": 2}
    assert [name for _, name, _ in items] == [f"127.0.0.1_{n}.jpg"
                                             for n in (100, 101, 102, 200, 201, 202)]
    counts = download.fetch_pictures(items, box, opts)
    assert counts == {"downloaded": 6}
    bad = [(items[0][0], "wrong.jpg", "0" * 32)]
    assert download.fetch_pictures(bad, box, opts) == {"checksum mismatch": 1}


def test_rate_limit_spaces_requests():
    limiter = fetch.RateLimiter(0.1)
    started = time.monotonic()
    for _ in range(4):
        limiter.wait()
    assert time.monotonic() - started >= 0.29


def test_mnist_checksums(server, tmp_path):
    need_shared(MNIST)
    opts = fetch.Options(timeout=2, retries=0, max_bytes=20 << 20)
    counts = download.fetch_mnist(tmp_path / "mnist", f"{server}/mnist/", opts)
    # ../shared holds three of the four files; the fourth is a 404 here.
    assert counts == {"downloaded": 3, "http": 1}, counts
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz",
                 "train-labels-idx1-ubyte.gz"):
        assert fetch.file_digest(tmp_path / "mnist" / name, "md5") == download.MNIST_FILES[name]


def test_cascade_download_verifies_sha256(server, tmp_path):
    need_shared(CASCADE)
    opts = fetch.Options(timeout=2, retries=0)
    path = cascade.ensure_cascade(None, tmp_path, f"{server}/cascade.xml", opts)
    assert path == cascade.default_path(tmp_path)
    assert fetch.file_digest(path) == cascade.CASCADE_SHA256
    assert not cascade.load_cascade(path).empty()
    path.write_bytes(b"tampered")
    with pytest.raises(cascade.CascadeUnavailable, match="sha256"):
        cascade.ensure_cascade(None, tmp_path, f"{server}/page.html", opts)
    assert path.read_bytes() == b"tampered"  # a failed download replaces nothing


def test_cascade_offline_says_so_in_one_line(tmp_path):
    closed = "http://127.0.0.1:9/lbpcascade_animeface.xml"  # discard port: refused
    proc = run_prep("cascade", "--data_dir", tmp_path, "--url", closed, timeout=30)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "no network" in lines[0] and "--cascade PATH" in lines[0]


def test_cli_bad_argument_exits_2_with_one_line(tmp_path):
    proc = run_prep("download", "urls", tmp_path / "none.txt", timeout=30)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "does not exist" in proc.stderr


def test_malformed_lines_slow_servers_and_bare_names_are_skipped_or_fixed(server, box, tmp_path):
    lines = [f"{server}/img/9.jpg".encode(),
             b"http://[::1/broken.jpg",  # an unclosed IPv6 host
             f"{server.replace('127.0.0.1:', '127.0.0.1:x')}/port.jpg".encode(),  # bad port
             b"http://example.com/\xff\xfe.jpg",  # not UTF-8
             f"{server}/a b.jpg".encode(),  # a space
             b"ftp://example.com/x.jpg",
             b"http://127.0.0.1:9/refused.jpg",  # a host that cannot be reached ...
             b"http://127.0.0.1:9/refused_too.jpg",  # ... is not waited on twice
             f"{server}/trickle.jpg".encode(),
             f"{server}/trickle_headers.jpg".encode(),
             f"{server}/picture".encode(),
             f"{server}/名前/11.jpg".encode(),
             f"{server}/img/12.jpg".encode()]
    url_list = tmp_path / "urls.txt"
    url_list.write_bytes(b"\n".join(lines) + b"\n")
    command = [sys.executable, "-m", "dcgan.prep.download", "urls", str(url_list), "--out",
               str(box), "--delay", "0", "--timeout", "5", "--deadline", "1.5", "--retries", "1",
               "--backoff", "0.05"]
    started = time.monotonic()
    proc = subprocess.run(command, check=False, cwd=REPO, capture_output=True, text=True,
                          timeout=60)
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    summary = proc.stdout.strip().splitlines()[-1]
    assert "4 downloaded" in summary and "5 bad URL" in summary and "2 too slow" in summary, summary
    assert "1 network" in summary and "1 not tried (host unreachable)" in summary, summary
    assert elapsed < 20, elapsed  # two deadlines of 1.5 s, not a trickle's 100 s
    got = sorted(p.name for p in box.iterdir())
    assert got == ["11.jpg", "12.jpg", "9.jpg", "picture.jpg"], got
    assert (box / "picture.jpg").read_bytes() == photo_bytes(7)
    again = subprocess.run(command, check=False, cwd=REPO, capture_output=True, text=True,
                           timeout=60)
    assert "4 already present" in again.stdout, again.stdout


def test_malformed_booru_listings_are_counted_not_fatal(server, box):
    opts = fetch.Options(timeout=2, retries=0)
    skipped = Counter()
    for name in JUNK_LISTINGS:
        items, why = download.booru_items(f"{server}/junk/{name}", "", range(1, 3), 10, opts)
        assert name != "odd_posts" or [n for _, n, _ in items] == ["127.0.0.1_0.jpg"], items
        skipped += why
    assert skipped == {"listing pages that are not JSON lists": 5, "malformed posts": 7}, skipped


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-8"])
def test_url_lists_saved_by_windows_editors_are_read(tmp_path, encoding):
    url_list = tmp_path / "urls.txt"
    text = "# faces\r\nhttp://example.com/猫.jpg\r\nhttp://example.com/b.png\tb side.png\r\n"
    url_list.write_bytes(text.encode(encoding))
    items = download.read_url_list(url_list)
    assert [(url, name) for url, name, _ in items] == [("http://example.com/猫.jpg", "猫.jpg"),
                                                       ("http://example.com/b.png", "b side.png")]
    assert fetch.normalize_url(items[0][0]) == "http://example.com/%E7%8C%AB.jpg"
