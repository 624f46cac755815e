"""Safe HTTP downloads shared by the cascade step and the dataset downloader.

Every download goes to a temporary name beside its target and is renamed only once it is
complete, within the size cap and matches its checksum (durable.replacing: fsync'ed, never
through a link), so an interrupted run never leaves a half-written file that a later run would
mistake for a finished one. Target names are sanitized and checked to lie inside the target
folder.
"""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import http.client
import os
import re
import secrets
import socket
import ssl
import threading
import time
import unicodedata
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from dcgan import durable

USER_AGENT = "dcgan-data-prep/0.1 (+https://github.com/; polite research downloader)"
CHUNK = 1 << 16
MAX_NAME = 120  # bytes of UTF-8; file systems allow 255


class FetchError(Exception):
    """A download that failed for a reason worth reporting; `kind` is a short category."""

    kind = "error"
    retryable = False


class HTTPStatusError(FetchError):
    """The server answered with an error status."""

    kind = "http"

    def __init__(self, status: int, url: str, retry_after: float | None = None):
        super().__init__(f"HTTP {status} for {url}")
        self.status = status
        self.retry_after = retry_after
        # 408/429 and server errors are worth another try; other client errors are final.
        self.retryable = status in (408, 425, 429) or status >= 500


class TooLarge(FetchError):
    """The file is larger than the size cap."""

    kind = "too large"


class ChecksumMismatch(FetchError):
    """The downloaded bytes do not match the expected digest."""

    kind = "checksum mismatch"


class BadContent(FetchError):
    """The server sent something other than what was asked for (e.g. HTML instead of a picture)."""

    kind = "not an image"


class BadURL(FetchError):
    """A line or listing entry that is not an http(s) URL we can request."""

    kind = "bad URL"


class TooSlow(FetchError):
    """The whole request took longer than its deadline (a server dripping bytes). Not retried:
    it would drip again."""

    kind = "too slow"


class NetworkError(FetchError):
    """Timeouts, refused connections, DNS failures: the network, not the file."""

    kind = "network"
    retryable = True

    def __init__(self, message: str, offline: bool = False):
        super().__init__(message)
        # Name resolution or an unreachable network means no later try will do better.
        self.offline = offline


def sanitize_name(name: str, default: str = "file", max_bytes: int = MAX_NAME) -> str:
    """Return `name` reduced to a safe single file name (no folders, no leading dots).

    Only the last path component survives; letters and digits of any script stay (a Japanese
    name stays readable), every other character but ``.-+_`` becomes `_` (separators, spaces,
    controls, bidirectional marks, the surrogate escapes of bytes that were not UTF-8); the
    result is never empty, `.` or `..`, and at most `max_bytes` long in UTF-8 (file systems
    count bytes), keeping a short extension.
    """
    name = unicodedata.normalize("NFKC", urllib.parse.unquote(str(name)))
    name = re.split(r"[\\/]", name)[-1]
    name = re.sub(r"[^\w.\-+]", "_", name)
    name = name.strip("._ ") or default
    if len(name.encode()) > max_bytes:
        stem, dot, ext = name.rpartition(".")
        if not (dot and len(ext) <= 8):
            stem, dot, ext = name, "", ""
        budget = max_bytes - len((dot + ext).encode())
        name = stem.encode()[:budget].decode("utf-8", "ignore") + dot + ext
    return name


def safe_join(folder: str | os.PathLike, name: str) -> Path:
    """Join a sanitized `name` to `folder` and prove the result stays inside `folder`."""
    root = Path(folder).resolve()
    target = (root / sanitize_name(name)).resolve()
    if target.parent != root:
        raise ValueError(f"refusing to write outside {root}: {name!r}")
    return target


def file_digest(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in chunks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class RateLimiter:
    """Keep at least `interval` seconds between consecutive requests."""

    def __init__(self, interval: float):
        self.interval = max(0.0, float(interval))
        self._last = -float("inf")

    def wait(self) -> None:
        """Sleep until the next request is allowed, then mark it as made."""
        delay = self._last + self.interval - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        self._last = time.monotonic()


class _HTTPOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects only to http(s), so a server cannot bounce us to file:// or ftp://."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if urllib.parse.urlsplit(newurl).scheme not in ("http", "https"):
            raise HTTPStatusError(code, newurl)
        try:
            newurl = normalize_url(newurl)
        except BadURL:
            raise HTTPStatusError(code, newurl) from None
        return super().redirect_request(req, fp, code, msg, headers, newurl)


@dataclass
class Options:
    """How politely and how defensively to download."""

    timeout: float = 30.0  # per blocking socket operation
    deadline: float = 600.0  # for the whole file, every try included, against servers that drip
    max_bytes: int = 50 << 20
    retries: int = 3
    backoff: float = 2.0  # first wait; doubles each retry
    max_backoff: float = 60.0
    limiter: RateLimiter | None = None


# Characters left as they are when a URL is made ASCII: the URL syntax itself and escapes.
_URL_SAFE = "/%:@!$&'()*+,;=-._~?#[]"


def normalize_url(url: str) -> str:
    """`url` as the ASCII http(s) URL to request: non-ASCII path and query characters are
    percent-encoded (UTF-8) and a non-ASCII host name IDNA-encoded, as a browser does.

    Raises BadURL for anything else: another scheme, no host, a bad port, spaces or control
    characters, text that was not UTF-8 (surrogate escapes from the list it came from).
    """
    try:
        url.encode("utf-8")
        parts = urllib.parse.urlsplit(url)
        port = parts.port  # raises ValueError for a port that is not a number in range
        host = parts.hostname or ""
        ascii_host = host.encode("idna").decode("ascii") if host and not host.isascii() else host
    except (UnicodeError, ValueError):
        raise BadURL(f"not a valid URL: {url!r}") from None
    if parts.scheme not in ("http", "https") or not ascii_host:
        raise BadURL(f"only http(s) URLs with a host are fetched, got {url!r}")
    if any(ch.isspace() or ord(ch) < 32 or ch in "\x7f\ufffd" for ch in url):
        raise BadURL(f"a URL holds no spaces, control or undecodable characters: {url!r}")
    netloc = parts.netloc
    if ascii_host != host:
        netloc = netloc.rpartition("@")[0] + "@" if "@" in netloc else ""
        netloc += ascii_host + (f":{port}" if port is not None else "")
    path, query = (urllib.parse.quote(text, safe=_URL_SAFE) for text in (parts.path, parts.query))
    return urllib.parse.urlunsplit((parts.scheme, netloc, path or "/", query, ""))


class _Deadline:
    """Shuts every socket of one request down once `seconds` have passed, so no read can outlive
    the deadline: a per-read timeout never fires against a server that sends a byte a second.
    A shut-down socket reads as the end of the response, so readers check `expired`."""

    def __init__(self, seconds: float):
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def watch(self, sock: socket.socket) -> socket.socket:
        """Register a socket of this request; returns it."""
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                _shut(sock)
        return sock

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shut(sock)

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self._timer.cancel()


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed
        sock.shutdown(socket.SHUT_RDWR)  # wakes a recv blocked in another thread; close() won't


def _watched(connection_class, deadline: _Deadline):
    """A connection factory for urllib whose sockets `deadline` watches."""

    def make(*args, **kwargs):
        connection = connection_class(*args, **kwargs)
        create = connection._create_connection  # http.client's hook for opening the socket
        connection._create_connection = lambda *a, **k: deadline.watch(create(*a, **k))
        return connection

    return make


def _opener(deadline: _Deadline):
    """A urllib opener whose connections `deadline` watches and whose redirects stay http(s)."""

    class HTTP(urllib.request.HTTPHandler):
        def http_open(self, req):
            return self.do_open(_watched(http.client.HTTPConnection, deadline), req)

    class HTTPS(urllib.request.HTTPSHandler):
        def https_open(self, req):
            return self.do_open(_watched(http.client.HTTPSConnection, deadline), req,
                                context=self._context)

    return urllib.request.build_opener(HTTP, HTTPS, _HTTPOnlyRedirects)


def _network_error(exc: BaseException, url: str) -> NetworkError:
    reason = getattr(exc, "reason", exc)
    offline = isinstance(reason, (socket.gaierror, ConnectionRefusedError)) or (
        isinstance(reason, OSError) and reason.errno in (101, 113)  # network/host unreachable
    )
    return NetworkError(f"{type(reason).__name__}: {reason} ({url})", offline=offline)


def _retry_after(headers) -> float | None:
    value = headers.get("Retry-After") if headers else None
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value)
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


def _open(url: str, opts: Options, deadline: _Deadline):
    _raise_if_late(deadline, url, opts)  # a retry after the deadline is not tried
    if opts.limiter:
        opts.limiter.wait()
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept": "*/*"})
    try:
        response = _opener(deadline).open(request, timeout=opts.timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        raise HTTPStatusError(exc.code, url, _retry_after(exc.headers)) from None
    except (urllib.error.URLError, OSError, ssl.SSLError, http.client.HTTPException) as exc:
        _raise_if_late(deadline, url, opts)
        raise _network_error(exc, url) from None
    if deadline.expired:  # headers cut short by the deadline parse as if complete
        response.close()
        _raise_if_late(deadline, url, opts)
    return response


def _raise_if_late(deadline: _Deadline, url: str, opts: Options) -> None:
    if deadline.expired:
        raise TooSlow(f"{url} took longer than the deadline of {opts.deadline:g} s")


def with_retries(func, opts: Options):
    """Call `func()` and retry retryable `FetchError`s with exponential backoff."""
    for attempt in range(opts.retries + 1):
        try:
            return func()
        except FetchError as exc:
            offline = getattr(exc, "offline", False)
            if not exc.retryable or offline or attempt == opts.retries:
                raise
            wait = min(opts.max_backoff, opts.backoff * 2**attempt)
            wait = max(wait, min(opts.max_backoff, getattr(exc, "retry_after", None) or 0.0))
            time.sleep(wait)
    raise AssertionError("unreachable")


def get_bytes(url: str, opts: Options) -> bytes:
    """Fetch a small document (e.g. a JSON listing) into memory, with retries, the size cap
    and the deadline."""
    url = normalize_url(url)

    def attempt(deadline: _Deadline) -> bytes:
        with _open(url, opts, deadline) as response:
            return _read_capped(response, url, opts, None, deadline)

    return _within_deadline(attempt, opts)


def _within_deadline(attempt, opts: Options):
    """`attempt(deadline)` with retries, all of them within one opts.deadline: the deadline is
    the file's, not each try's."""
    with _Deadline(opts.deadline) as deadline:
        return with_retries(lambda: attempt(deadline), opts)


def _read_capped(response, url: str, opts: Options, sink, deadline: _Deadline) -> bytes:
    length = response.headers.get("Content-Length")
    if length and length.isdigit() and int(length) > opts.max_bytes:
        raise TooLarge(f"{url} is {int(length)} bytes, over the cap of {opts.max_bytes}")
    parts, total = [], 0
    while True:
        try:
            block = response.read(CHUNK)
        except (OSError, ssl.SSLError, http.client.HTTPException) as exc:
            _raise_if_late(deadline, url, opts)
            raise _network_error(exc, url) from None
        _raise_if_late(deadline, url, opts)  # a shut-down socket reads as a (false) end
        if not block:
            break
        total += len(block)
        if total > opts.max_bytes:
            raise TooLarge(f"{url} sent more than the cap of {opts.max_bytes} bytes")
        if sink is None:
            parts.append(block)
        else:
            sink(block)
    return b"".join(parts)


def download(
    url: str,
    target: str | os.PathLike,
    opts: Options | None = None,
    *,
    sha256: str | None = None,
    md5: str | None = None,
    content_type: str | None = None,
    check=None,
) -> Path:
    """Download `url` to the file `target` atomically and return the path it was saved as.

    The bytes go to a temporary file in the target's folder, are checked against the size
    cap, the deadline, the optional digests, the optional Content-Type prefix (e.g.
    ``"image/"``) and the optional `check(path)` callable (raise `BadContent` to reject; it may
    return a suffix such as ``".jpg"`` to add to the target's name), and only then renamed into
    place. On any failure nothing is left behind.
    """
    opts = opts or Options()
    url = normalize_url(url)
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    expected = {name: value.lower() for name, value in (("sha256", sha256), ("md5", md5)) if value}

    def attempt(deadline: _Deadline) -> Path:
        with _open(url, opts, deadline) as response:
            kind = response.headers.get_content_type()
            if content_type and not kind.startswith(content_type):
                raise BadContent(f"{url} is {kind}, not {content_type}*")
            return _save(response, url, target, opts, deadline, expected, check)

    return _within_deadline(attempt, opts)


def _save(response, url, target: Path, opts: Options, deadline: _Deadline, expected: dict,
          check) -> Path:
    """Write the response to a temporary file beside `target` (hidden, so a killed download is
    never listed as a picture), check it and rename it into place; returns the final path."""
    digests = {name: hashlib.new(name) for name in expected}
    hidden = target.parent / f".{target.name[:40]}.{secrets.token_hex(4)}.part"
    with durable.replacing(target, hidden) as new:
        def sink(block: bytes) -> None:
            new.file.write(block)
            for digest in digests.values():
                digest.update(block)

        _read_capped(response, url, opts, sink, deadline)
        for name, digest in digests.items():
            if digest.hexdigest() != expected[name]:
                raise ChecksumMismatch(f"{url}: {name} {digest.hexdigest()} != expected "
                                       f"{expected[name]}")
        new.file.flush()
        suffix = check(Path(new.temporary)) if check is not None else None
        if suffix:
            new.path = str(target.with_name(target.name + suffix))
    return Path(new.path)
