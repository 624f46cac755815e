"""Serve an exported web page on this machine only (`python main.py --serve`).

Local only, but still a server, so it serves the page and nothing else: the export's own files
by their exact names (`page.SERVED_FILES`), as regular files opened without following links, no
folder listings; only requests addressed to 127.0.0.1 or localhost (a page elsewhere that points
its own host name at 127.0.0.1, "DNS rebinding", is refused); every client gets
REQUEST_DEADLINE seconds to send its request, REPLY_DEADLINE to take the reply and IO_TIMEOUT
for any one read or write, and at most MAX_CONNECTIONS are served at once (more are told 503
at once, holding no thread). Files go out with the MIME types and the cross-origin isolation
headers the wasm runtime needs for threads. It binds 127.0.0.1, never every interface.
"""

import contextlib
import errno
import logging
import os
import socket
import stat
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from dcgan.errors import UsageError
from dcgan.web.page import SERVED_FILES

HOST = "127.0.0.1"
HOST_NAMES = ("127.0.0.1", "localhost")
MAX_CONNECTIONS = 32  # a browser opens about six at once
REQUEST_DEADLINE = 10.0  # seconds to send the request line and headers, however slowly
REPLY_DEADLINE = 120.0  # seconds to take the reply (the largest file is ~12 MB), however slowly
IO_TIMEOUT = 30.0  # seconds any one read or write may wait
CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript",
                 ".mjs": "text/javascript", ".wasm": "application/wasm",
                 ".json": "application/json", ".onnx": "application/octet-stream"}
BUSY = (b"HTTP/1.0 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\n"
        b"Connection: close\r\n\r\n")
log = logging.getLogger("dcgan")


class PageHandler(BaseHTTPRequestHandler):
    """GET and HEAD of the page's own files, with COOP/COEP headers; anything else is refused."""

    timeout = IO_TIMEOUT  # StreamRequestHandler applies it to the connection

    def setup(self):
        """Start the request deadline: when it passes, the connection is shut down."""
        super().setup()
        self.late = False
        self._deadline = self._start_deadline(self.server.request_deadline)

    def _start_deadline(self, seconds):
        timer = threading.Timer(seconds, self._cut)
        timer.daemon = True
        timer.start()
        return timer

    def _cut(self):
        self.late = True
        with contextlib.suppress(OSError):  # shutdown wakes the blocked read; close would not
            self.connection.shutdown(socket.SHUT_RDWR)

    def parse_request(self):
        """Read the headers, then swap the request deadline for the reply's (a client that
        reads its reply a byte a minute would otherwise hold its thread); a request cut short
        by the deadline is dropped."""
        complete = super().parse_request()
        self._deadline.cancel()
        if self.late:
            self.close_connection = True
            return False
        self._deadline = self._start_deadline(self.server.reply_deadline)
        return complete

    def finish(self):
        """Stop the deadline (a connection that sent nothing never reached parse_request)."""
        self._deadline.cancel()
        super().finish()

    def end_headers(self):
        """Add the isolation headers (SharedArrayBuffer, so wasm threads) to every reply."""
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Cache-Control", "no-cache")  # a re-export shows on reload
        super().end_headers()

    def handle(self):
        """Serve one connection. A browser that drops it mid-reply (a reload, a closed tab) is
        routine: a debug line (--verbose), not a traceback."""
        try:
            super().handle()
        except (BrokenPipeError, ConnectionResetError) as error:
            log.debug("%s dropped the connection (%s)", self.address_string(), error)

    def do_GET(self):
        """Send one of the page's files."""
        self._reply(body=True)

    def do_HEAD(self):
        """The headers of one of the page's files."""
        self._reply(body=False)

    def _reply(self, body):
        if not host_allowed(self.headers.get("Host"), self.server.server_address[1]):
            self.send_error(403, "wrong Host: this server answers to 127.0.0.1 and localhost")
            return
        name = requested_file(self.path)
        opened = name and open_page_file(self.server.folder, name)
        if not opened:
            self.send_error(404)
            return
        with opened as handle:
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPES.get(os.path.splitext(name)[1],
                                                               "application/octet-stream"))
            self.send_header("Content-Length", str(os.fstat(handle.fileno()).st_size))
            self.end_headers()
            if body:
                while block := handle.read(1 << 16):
                    self.wfile.write(block)

    def log_message(self, format, *args):
        """Request lines go to the debug log, not the terminal."""
        log.debug("%s %s", self.address_string(), format % args)


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
    is not exactly one of SERVED_FILES (sub-paths, '..', NUL bytes, folders)."""
    name = urllib.parse.unquote(urllib.parse.urlsplit(path).path).lstrip("/") or "index.html"
    return name if name in SERVED_FILES else None


def open_page_file(folder, name):
    """`name` in `folder` opened for reading if it is a regular file and not a link, else None."""
    try:
        fd = os.open(os.path.join(folder, name), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:  # absent, a link (ELOOP), unreadable
        return None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    return os.fdopen(fd, "rb")


class PageServer(ThreadingHTTPServer):
    """A thread per connection, at most `max_connections` of them; errors are logged quietly."""

    daemon_threads = True  # Ctrl-C does not wait for a slow client
    request_queue_size = 64  # a burst is accepted (and served or refused) at once, not in waves

    def __init__(self, address, folder, max_connections, deadlines):
        self.folder = str(folder)
        self.request_deadline, self.reply_deadline = deadlines
        self.slots = threading.BoundedSemaphore(max_connections)
        super().__init__(address, PageHandler)

    def process_request(self, request, client_address):
        """Serve the connection in a thread of its own when a slot is free, else say 503."""
        if not self.slots.acquire(blocking=False):
            refuse(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.release()
            raise

    def process_request_thread(self, request, client_address):
        """Serve one connection, then free its slot."""
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()

    def handle_error(self, request, client_address):
        """A client that hangs up mid-reply is its business: one debug line, no traceback."""
        log.debug("request from %s failed: %s", client_address[0], sys.exc_info()[1])


def refuse(connection):
    """Answer 503 and close without a thread. What the client sent is read first (without
    waiting): closing on unread bytes would reset the connection and lose the answer."""
    with contextlib.suppress(OSError):
        connection.sendall(BUSY)
        connection.shutdown(socket.SHUT_WR)
        while connection.recv(65536, socket.MSG_DONTWAIT):
            pass
    connection.close()


def make_server(folder, port=8000, max_connections=MAX_CONNECTIONS,
                request_deadline=REQUEST_DEADLINE, reply_deadline=REPLY_DEADLINE):
    """A server for the page in `folder` on 127.0.0.1:`port` (0: any free port), not started."""
    try:
        return PageServer((HOST, port), folder, max_connections,
                          (request_deadline, reply_deadline))
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            raise UsageError(f"port {port} is in use: pick another with --port") from None
        if error.errno in (errno.EACCES, errno.EPERM):
            raise UsageError(f"port {port} needs privileges this user lacks (ports below 1024 "
                             "usually do): pick another with --port, e.g. --port 8000") from None
        raise UsageError(f"cannot listen on {HOST}:{port} ({error.strerror or error}): pick "
                         "another port with --port") from None


def serve(folder, port=8000):
    """Serve `folder` until Ctrl-C, printing its address."""
    server = make_server(folder, port)
    host, port = server.server_address[:2]
    print(f"serving {folder} at http://{host}:{port}/ (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
