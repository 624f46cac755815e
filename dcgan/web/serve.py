"""Serve an exported web page on this machine only (`python main.py --serve`).

Local only, but still a server, so it serves the page and nothing else: the export's own files
by their exact names (`page.SERVED_FILES`), as regular files opened without following links, no
folder listings; only requests addressed to 127.0.0.1 or localhost (a page elsewhere that points
its own host name at 127.0.0.1, "DNS rebinding", is refused). Files go out with the MIME types
and the cross-origin isolation headers the wasm runtime needs for threads. It binds 127.0.0.1,
never every interface.

No client can hold it. One asyncio event loop serves every connection, so a connection that
stalls costs a few kilobytes and a file descriptor, not a thread: hundreds of them leave real
requests answered at once. Every client gets REQUEST_DEADLINE seconds to send its request,
REPLY_DEADLINE to take the reply and IO_TIMEOUT for any one write to be taken. At most
MAX_CONNECTIONS are open at once (fewer where the process may open fewer files); when they are
all open, a new one closes the one that has waited longest for its request, and only when every
one is taking a reply is the new one told 503 at once.
"""

import asyncio
import contextlib
import dataclasses
import email.utils
import errno
import logging
import os
import resource
import socket
import stat
import threading
import urllib.parse
from http import HTTPStatus

from dcgan.errors import UsageError
from dcgan.web.page import SERVED_FILES

HOST = "127.0.0.1"
HOST_NAMES = ("127.0.0.1", "localhost")
MAX_CONNECTIONS = 4096  # open at once; a browser opens about six
FILES_PER_CONNECTION = 2  # its socket and, while it takes a reply, the file being sent
FILES_RESERVED = 64  # for everything else the process holds open
BACKLOG = 1024  # connections the kernel queues until the loop accepts them
REQUEST_DEADLINE = 10.0  # seconds to send the request line and headers, however slowly
REPLY_DEADLINE = 120.0  # seconds to take the reply (the largest file is ~12 MB), however slowly
IO_TIMEOUT = 30.0  # seconds any one block of the reply may wait to be taken
REFUSE_LINGER = 0.2  # seconds a refused client's request is read for before closing
HEAD_LIMIT = 1 << 16  # bytes of request line and headers (a browser sends about one KiB)
BLOCK = 1 << 16  # bytes of a file read and sent at a time
CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript",
                 ".mjs": "text/javascript", ".wasm": "application/wasm",
                 ".json": "application/json", ".onnx": "application/octet-stream"}
# On every reply: cross-origin isolation (SharedArrayBuffer, so wasm threads), no type sniffing,
# and revalidation so that a re-export shows on reload.
EVERY_REPLY = (("Cross-Origin-Opener-Policy", "same-origin"),
               ("Cross-Origin-Embedder-Policy", "require-corp"),
               ("X-Content-Type-Options", "nosniff"), ("Cache-Control", "no-cache"),
               ("Connection", "close"))
log = logging.getLogger("dcgan")


class BadRequest(Exception):
    """A request answered with an error status instead of a file."""

    def __init__(self, status, reason=""):
        super().__init__(reason)
        self.status, self.reason = HTTPStatus(status), reason


@dataclasses.dataclass(frozen=True)
class Request:
    """What a client asked: its request line, method, target and Host header."""

    line: str
    method: str
    target: str
    host: str | None


def reply_head(status, fields=()):
    """The bytes of an HTTP/1.0 reply's status line and headers (one request per connection)."""
    lines = [f"HTTP/1.0 {status.value} {status.phrase}",
             f"Date: {email.utils.formatdate(usegmt=True)}", *(f"{name}: {value}" for name, value
                                                               in (*fields, *EVERY_REPLY))]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def error_reply(refusal, with_body=True):
    """The whole reply for a BadRequest: a line of plain text saying what was wrong."""
    body = f"{refusal.status.value} {refusal.status.phrase}: {refusal.reason}\n".encode()
    head = reply_head(refusal.status, (("Content-Type", "text/plain; charset=utf-8"),
                                       ("Content-Length", str(len(body)))))
    return head + body if with_body else head


async def read_head(reader):
    """The lines of a request's head up to the blank line that ends it (as text, without line
    ends; blank lines before it are skipped). Raises BadRequest when the head outgrows
    HEAD_LIMIT, EOFError when the client hangs up before it ends."""
    lines, size = [], 0
    while True:
        try:
            line = await reader.readline()
        except ValueError:  # one line longer than the reader's limit, HEAD_LIMIT
            raise too_large(lines) from None
        size += len(line)
        if size > HEAD_LIMIT:
            raise too_large(lines)
        if not line.endswith(b"\n"):
            raise EOFError("hung up before the end of its request")
        text = line.decode("latin-1").rstrip("\r\n")
        if not text and lines:
            return lines
        if text:
            lines.append(text)


def too_large(lines):
    """The BadRequest of a head over HEAD_LIMIT, by where it overflowed (`lines` read before)."""
    status = (HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE if lines else
              HTTPStatus.REQUEST_URI_TOO_LONG)
    return BadRequest(status, f"the request's head is over {HEAD_LIMIT} bytes")


def parse_request(lines):
    """The Request of a head's lines; raises BadRequest for a malformed one, a method other than
    GET or HEAD, a version other than HTTP/1.x, or more than one Host header."""
    words = lines[0].split(" ")
    if len(words) != 3 or not words[2].startswith("HTTP/"):
        raise BadRequest(HTTPStatus.BAD_REQUEST, "malformed request line")
    method, target, version = words
    if version not in ("HTTP/1.0", "HTTP/1.1"):
        raise BadRequest(HTTPStatus.HTTP_VERSION_NOT_SUPPORTED, "HTTP/1.0 and 1.1 only")
    if method not in ("GET", "HEAD"):
        raise BadRequest(HTTPStatus.NOT_IMPLEMENTED, "GET and HEAD only")
    hosts = [value for name, value in header_fields(lines[1:]) if name == "host"]
    if len(hosts) > 1:
        raise BadRequest(HTTPStatus.BAD_REQUEST, "more than one Host header")
    return Request(lines[0], method, target, hosts[0] if hosts else None)


def header_fields(lines):
    """(lower-case name, value) of each header line; raises BadRequest for a malformed one
    (no colon, a space in the name, or a folded continuation line)."""
    fields = []
    for line in lines:
        name, colon, value = line.partition(":")
        if not colon or name.split() != [name]:
            raise BadRequest(HTTPStatus.BAD_REQUEST, "malformed header line")
        fields.append((name.lower(), value.strip()))
    return fields


def host_allowed(host, port):
    """True when a request's Host header names this server: 127.0.0.1 or localhost, with no
    port or with the server's own."""
    if not host:
        return False
    name, colon, given = host.strip().lower().rpartition(":")
    if not colon or not given.isdigit():
        name, given = host.strip().lower(), str(port)
    return name in HOST_NAMES and int(given) == port


def requested_file(path):
    """The page file a request path asks for ('/' is index.html), or None for anything that
    is not exactly one of SERVED_FILES (sub-paths, '..', NUL bytes, folders). Leading slashes
    are one ('//etc/passwd' is a path, not a host name)."""
    path = "/" + path.lstrip("/")
    name = urllib.parse.unquote(urllib.parse.urlsplit(path).path).lstrip("/") or "index.html"
    return name if name in SERVED_FILES else None


def open_page_file(folder, name):
    """`name` in `folder` opened for reading if it is a regular file and not a link, else None."""
    try:  # O_NONBLOCK: opening a named pipe put in its place does not wait for a writer
        fd = os.open(os.path.join(folder, name), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:  # absent, a link (ELOOP), unreadable
        return None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    return os.fdopen(fd, "rb")


async def send(writer, data):
    """Hand `data` to the client, waiting at most IO_TIMEOUT for it to be taken."""
    writer.write(data)
    await asyncio.wait_for(writer.drain(), IO_TIMEOUT)


def peer(writer):
    """The client's address, for the debug log."""
    return (writer.get_extra_info("peername") or ("?",))[0]


class PageServer:
    """The page in `folder` served on a bound socket by one asyncio event loop.

    Used like socketserver's servers: serve_forever() in one thread, shutdown() from another
    (or Ctrl-C in the main thread), then server_close().
    """

    def __init__(self, sock, folder, max_connections, deadlines):
        self.socket = sock
        self.server_address = sock.getsockname()
        self.folder = str(folder)
        self.max_connections = max_connections
        self.request_deadline, self.reply_deadline = deadlines
        # The open connections by their StreamWriter, oldest first: those still sending their
        # request (which make room for new ones when all are open), those taking a reply.
        self.waiting, self.replying = {}, {}
        self._loop = asyncio.new_event_loop()
        self._loop.set_exception_handler(_quiet)
        self._stop = asyncio.Event()
        self._started, self._finished = threading.Event(), threading.Event()

    @property
    def connections(self):
        """How many connections are open."""
        return len(self.waiting) + len(self.replying)

    def serve_forever(self):
        """Serve until shutdown() or Ctrl-C (whose KeyboardInterrupt comes out of here)."""
        self._started.set()
        try:
            self._loop.run_until_complete(self._listen())
        finally:
            try:
                _close_loop(self._loop)
            finally:
                self._finished.set()  # shutdown() never waits on a loop that failed

    def shutdown(self):
        """Stop serve_forever (from another thread) and wait until it has returned; called
        before it starts, it makes it return at once."""
        with contextlib.suppress(RuntimeError):  # the loop is closed: it has returned
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._started.is_set():
            self._finished.wait()

    def server_close(self):
        """Close the listening socket (serve_forever has returned or never ran)."""
        self.socket.close()
        if not self._loop.is_closed():
            self._loop.close()

    async def _listen(self):
        server = await asyncio.start_server(self._connection, sock=self.socket,
                                            limit=HEAD_LIMIT, backlog=BACKLOG)
        try:
            await self._stop.wait()
        finally:
            server.close()  # the connections still open are cancelled by _close_loop

    async def _connection(self, reader, writer):
        """Serve one connection (start_server's callback): one request, then it is closed."""
        if self.connections >= self.max_connections and not self._make_room():
            await refuse(reader, writer)
            return
        self.waiting[writer] = None
        # drain() then waits until all is handed to the kernel, so nothing is left to flush
        # on a client that stopped reading when the connection is closed.
        writer.transport.set_write_buffer_limits(high=0)
        try:
            await self._exchange(reader, writer)
        except (OSError, EOFError, asyncio.TimeoutError) as error:
            log.debug("%s dropped the connection or was too slow (%s)", peer(writer),
                      str(error) or type(error).__name__)
        finally:
            self.waiting.pop(writer, None)
            self.replying.pop(writer, None)
            writer.transport.abort()  # the reply was drained or is abandoned

    def _make_room(self):
        """Close the connection that has waited longest for its request; False if none is
        waiting for one (all are taking replies)."""
        if not self.waiting:
            return False
        oldest = next(iter(self.waiting))
        del self.waiting[oldest]
        log.debug("%s closed to make room: it sent no request", peer(oldest))
        oldest.transport.abort()  # its _connection ends on the closed stream
        return True

    async def _exchange(self, reader, writer):
        """Read one request within the request deadline, then answer it within the reply's."""
        try:
            request = parse_request(await asyncio.wait_for(read_head(reader),
                                                           self.request_deadline))
        except BadRequest as refusal:
            request = refusal
        self.waiting.pop(writer, None)  # (unless it was closed to make room meanwhile)
        self.replying[writer] = None
        await asyncio.wait_for(self._answer(writer, request), self.reply_deadline)

    async def _answer(self, writer, request):
        """Send the file `request` asks for, or the error it gets (`request` is the BadRequest
        when it was malformed); logs the request line and the status."""
        try:
            if isinstance(request, BadRequest):
                raise request
            status = await self._send_file(writer, request)
        except BadRequest as refusal:
            status = refusal.status
            await send(writer, error_reply(refusal, getattr(request, "method", "") != "HEAD"))
        log.debug('%s "%s" %s', peer(writer), getattr(request, "line", "?"), status.value)

    async def _send_file(self, writer, request):
        """Send the page file `request` asks for; raises BadRequest when there is none or the
        request is addressed to another host."""
        if not host_allowed(request.host, self.server_address[1]):
            raise BadRequest(HTTPStatus.FORBIDDEN,
                             "wrong Host: this server answers to 127.0.0.1 and localhost")
        name = requested_file(request.target)
        opened = name and open_page_file(self.folder, name)
        if not opened:
            raise BadRequest(HTTPStatus.NOT_FOUND, "not a file of the page")
        with opened as handle:
            kind = CONTENT_TYPES.get(os.path.splitext(name)[1], "application/octet-stream")
            size = os.fstat(handle.fileno()).st_size
            await send(writer, reply_head(HTTPStatus.OK, (("Content-Type", kind),
                                                          ("Content-Length", str(size)))))
            # A local regular file: a block comes from the page cache at once, so reading it
            # in the event loop holds the other connections back by microseconds.
            while request.method == "GET" and (block := handle.read(BLOCK)):
                await send(writer, block)
        return HTTPStatus.OK


async def refuse(reader, writer):
    """Answer 503 at once and close. What the client sent is read first (briefly): closing on
    unread bytes would reset the connection and lose the answer."""
    writer.write(reply_head(HTTPStatus.SERVICE_UNAVAILABLE,
                            (("Retry-After", "1"), ("Content-Length", "0"))))
    with contextlib.suppress(OSError, asyncio.TimeoutError):
        writer.write_eof()
        await asyncio.wait_for(reader.read(HEAD_LIMIT), REFUSE_LINGER)
    writer.close()


def _quiet(loop, context):
    """The loop's errors (a client gone mid-write, a failed accept) are one debug line, never a
    traceback on the console."""
    log.debug("server: %s", context.get("exception") or context.get("message"))


def _close_loop(loop):
    """Cancel what still runs on `loop` (the open connections, which close), then close it."""
    tasks = asyncio.all_tasks(loop)
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
    loop.run_until_complete(asyncio.sleep(0))  # the aborted sockets close on the next turn
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()


def connection_cap(wanted):
    """`wanted`, or fewer where the process may not open enough files for that many."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return wanted
    return max(1, min(wanted, (soft - FILES_RESERVED) // FILES_PER_CONNECTION))


def allow_open_files(connections):
    """Raise this process's soft limit on open files, within the hard one, to what
    `connections` need (1024 is a common default, enough for only ~480)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = connections * FILES_PER_CONNECTION + FILES_RESERVED
    if soft != resource.RLIM_INFINITY and soft < needed:
        raised = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))


def make_server(folder, port, max_connections=MAX_CONNECTIONS,
                request_deadline=REQUEST_DEADLINE, reply_deadline=REPLY_DEADLINE):
    """A server for the page in `folder` on 127.0.0.1:`port` (0: any free port), not started."""
    try:
        sock = socket.create_server((HOST, port), backlog=BACKLOG)
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            raise UsageError(f"port {port} is in use: pick another with --port") from None
        if error.errno in (errno.EACCES, errno.EPERM):
            raise UsageError(f"port {port} needs privileges this user lacks (ports below 1024 "
                             "usually do): pick another with --port, e.g. --port 8000") from None
        raise UsageError(f"cannot listen on {HOST}:{port} ({error.strerror or error}): pick "
                         "another port with --port") from None
    return PageServer(sock, folder, connection_cap(max_connections),
                      (request_deadline, reply_deadline))


def serve(folder, port):
    """Serve `folder` until Ctrl-C, printing its address."""
    allow_open_files(MAX_CONNECTIONS)
    server = make_server(folder, port)
    host, port = server.server_address[:2]
    print(f"serving {folder} at http://{host}:{port}/ (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
