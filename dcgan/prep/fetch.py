"""Safe HTTP downloads shared by the cascade step and the dataset downloader.

Every download goes to a temporary name beside its target and is renamed only once it is
complete, within the size cap and matches its checksum, so an interrupted run never leaves a
half-written file that a later run would mistake for a finished one. Target names are
sanitized and checked to lie inside the target folder.
"""

from __future__ import annotations

import argparse
import email.utils
import hashlib
import os
import re
import socket
import ssl
import tempfile
import time
import unicodedata
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

USER_AGENT = "dcgan-data-prep/0.1 (+https://github.com/; polite research downloader)"
CHUNK = 1 << 16
MAX_NAME = 120


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


class NetworkError(FetchError):
    """Timeouts, refused connections, DNS failures: the network, not the file."""

    kind = "network"
    retryable = True

    def __init__(self, message: str, offline: bool = False):
        super().__init__(message)
        # Name resolution or an unreachable network means no later try will do better.
        self.offline = offline


class CliParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line: what is wrong and where to look.

    It still exits with status 2, as argparse does, but without the usage block that buries
    the message.
    """

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def sanitize_name(name: str, default: str = "file") -> str:
    """Return `name` reduced to a safe single file name (no folders, no leading dots).

    Only the last path component survives, characters outside a conservative set become `_`,
    and the result is never empty, `.` or `..`.
    """
    name = unicodedata.normalize("NFKC", urllib.parse.unquote(str(name)))
    name = re.split(r"[\\/]", name)[-1]
    name = re.sub(r"[^\w.\-+]", "_", name, flags=re.ASCII)
    name = name.strip("._ ") or default
    if len(name) > MAX_NAME:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: MAX_NAME - len(ext) - 1] + dot + ext) if dot and len(ext) <= 8 else name[
            :MAX_NAME
        ]
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
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = urllib.request.build_opener(_HTTPOnlyRedirects)


@dataclass
class Options:
    """How politely and how defensively to download."""

    timeout: float = 30.0  # per blocking socket operation
    deadline: float = 600.0  # whole-file limit, against servers that drip bytes
    max_bytes: int = 50 << 20
    retries: int = 3
    backoff: float = 2.0  # first wait; doubles each retry
    max_backoff: float = 60.0
    limiter: RateLimiter | None = None


def _check_url(url: str) -> None:
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise FetchError(f"only http(s) URLs are fetched, got {url!r}")


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


def _open(url: str, opts: Options):
    if opts.limiter:
        opts.limiter.wait()
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept": "*/*"})
    try:
        return _OPENER.open(request, timeout=opts.timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        raise HTTPStatusError(exc.code, url, _retry_after(exc.headers)) from None
    except (urllib.error.URLError, OSError, ssl.SSLError) as exc:
        raise _network_error(exc, url) from None


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
    """Fetch a small document (e.g. a JSON listing) into memory, with retries and the size cap."""
    _check_url(url)

    def attempt() -> bytes:
        with _open(url, opts) as response:
            return _read_capped(response, url, opts, sink=None)

    return with_retries(attempt, opts)


def _read_capped(response, url: str, opts: Options, sink) -> bytes:
    length = response.headers.get("Content-Length")
    if length and length.isdigit() and int(length) > opts.max_bytes:
        raise TooLarge(f"{url} is {int(length)} bytes, over the cap of {opts.max_bytes}")
    started = time.monotonic()
    parts, total = [], 0
    while True:
        try:
            block = response.read(CHUNK)
        except (OSError, ssl.SSLError) as exc:
            raise _network_error(exc, url) from None
        if not block:
            break
        total += len(block)
        if total > opts.max_bytes:
            raise TooLarge(f"{url} sent more than the cap of {opts.max_bytes} bytes")
        if time.monotonic() - started > opts.deadline:
            raise NetworkError(f"{url} took longer than {opts.deadline:g} s")
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
    """Download `url` to the file `target` atomically and return its path.

    The bytes go to a temporary file in the target's folder, are checked against the size
    cap, the optional digests, the optional Content-Type prefix (e.g. ``"image/"``) and the
    optional `check(path)` callable (raise `BadContent` to reject), and only then renamed to
    `target`. On any failure nothing is left behind.
    """
    opts = opts or Options()
    _check_url(url)
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)

    def attempt() -> Path:
        with _open(url, opts) as response:
            kind = response.headers.get_content_type()
            if content_type and not kind.startswith(content_type):
                raise BadContent(f"{url} is {kind}, not {content_type}*")
            digests = {k: hashlib.new(k) for k, v in (("sha256", sha256), ("md5", md5)) if v}
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name[:40]}.", suffix=".part",
                                       dir=target.parent)
            try:
                with os.fdopen(fd, "wb") as out:
                    def sink(block: bytes) -> None:
                        out.write(block)
                        for digest in digests.values():
                            digest.update(block)

                    _read_capped(response, url, opts, sink)
                for name, expected in (("sha256", sha256), ("md5", md5)):
                    if expected and digests[name].hexdigest() != expected.lower():
                        raise ChecksumMismatch(
                            f"{url}: {name} {digests[name].hexdigest()} != expected {expected}"
                        )
                if check is not None:
                    check(Path(tmp))
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        return target

    return with_retries(attempt, opts)
