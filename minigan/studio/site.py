"""The studio as files, and a server for them on this computer.

:func:`build_site` writes a static site: the page (``index.html``, ``studio.css``, ``studio.js``),
the generator that runs in a Web Worker (``worker.js``, ``generator.js``) and the model exported
for it (``model.json``, ``model.bin``; see :mod:`minigan.studio.web`). Nothing in it is fetched
from elsewhere (no CDN, no web fonts), so the folder works from any static host, or from
:func:`serve`, the standard library's HTTP server bound to 127.0.0.1.
"""

from __future__ import annotations

import errno
import functools
import http.server
import shutil
import threading
from pathlib import Path

from ..errors import MiniganError
from .web import export_web_model

__all__ = ["STATIC", "SITE_FILES", "build_site", "serve", "StudioServer"]

STATIC = Path(__file__).parent / "static"
SITE_FILES = ("index.html", "studio.css", "studio.js", "worker.js", "generator.js")


def build_site(folder, G, vectors=(), info: dict | None = None, precision: str = "float16") -> dict:
    """Write the studio for generator ``G`` (eval mode) and its slider ``vectors`` into ``folder``;
    returns the exported model's JSON."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name in SITE_FILES:
        shutil.copyfile(STATIC / name, folder / name)
    return export_web_model(G, folder, vectors, info, precision)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the site's folder; no request log (the terminal shows the studio's address only),
    and no caching, so a rebuilt model is what the next reload gets."""

    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                      ".js": "text/javascript", ".json": "application/json", ".bin": "application/octet-stream"}

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass

    def end_headers(self):
        self.send_header("Cache-Control", "no-store")
        super().end_headers()


class StudioServer:
    """``with StudioServer(folder, port) as server: server.url`` serves ``folder`` on 127.0.0.1
    from a background thread (``port=0``: any free port)."""

    def __init__(self, folder, port: int = 8765, host: str = "127.0.0.1"):
        handler = functools.partial(_QuietHandler, directory=str(folder))
        try:
            self.httpd = http.server.ThreadingHTTPServer((host, port), handler)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise MiniganError(f"port {port} is in use (another studio?): choose another with --port, "
                                   "or --port 0 for any free one", argument="port") from None
            raise MiniganError(f"cannot serve on {host}:{port}: {exc.strerror}", argument="port") from None
        self.httpd.daemon_threads = True
        self.url = f"http://{host}:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "StudioServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def serve(folder, port: int = 8765, open_browser: bool = True, until=None) -> None:
    """Serve ``folder`` until Ctrl-C (or until the ``until`` event is set); open a browser tab."""
    with StudioServer(folder, port) as server:
        print(f"Idol Studio at {server.url}  (Ctrl-C stops it)", flush=True)
        if open_browser:
            import webbrowser  # noqa: PLC0415 (finding a browser reads the environment; tests never want one)
            webbrowser.open(server.url)
        stop = until or threading.Event()
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            print("studio stopped")
