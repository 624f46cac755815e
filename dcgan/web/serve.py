"""Serve an exported web page on this machine only (`python main.py --serve`).

A plain static server, plus what the page needs: JavaScript modules and wasm under their own
MIME types, and the cross-origin isolation headers without which the wasm runtime gets a single
thread. It binds 127.0.0.1, never every interface.
"""

import errno
import functools
import logging
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

from dcgan.errors import UsageError

HOST = "127.0.0.1"
log = logging.getLogger("dcgan")


class PageHandler(SimpleHTTPRequestHandler):
    """Static files with correct MIME types and COOP/COEP headers."""

    extensions_map = {  # noqa: RUF012 (the base class declares it a plain dict)
        **SimpleHTTPRequestHandler.extensions_map,
        ".js": "text/javascript",
        ".mjs": "text/javascript",
        ".wasm": "application/wasm",
        ".json": "application/json",
        ".onnx": "application/octet-stream",
    }

    def end_headers(self):
        """Add the isolation headers (SharedArrayBuffer, so wasm threads) to every reply."""
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        self.send_header("Cache-Control", "no-cache")  # a re-export shows on reload
        super().end_headers()

    def handle(self):
        """Serve one connection. A browser that drops it mid-reply (a reload, a closed tab) is
        routine: a debug line (--verbose), not a traceback."""
        try:
            super().handle()
        except (BrokenPipeError, ConnectionResetError) as error:
            log.debug("%s dropped the connection (%s)", self.address_string(), error)

    def log_message(self, format, *args):
        """Request lines go to the debug log, not the terminal."""
        log.debug("%s %s", self.address_string(), format % args)


def make_server(folder, port=8000):
    """A server for `folder` on 127.0.0.1:`port` (0: any free port), not yet started."""
    handler = functools.partial(PageHandler, directory=str(folder))
    try:
        return ThreadingHTTPServer((HOST, port), handler)
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            raise UsageError(f"port {port} is in use: pick another with --port") from error
        raise


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
