"""`gerhard site --serve`: the built site over HTTP on the loopback interface only (the standard library's
http.server), for a browser that prefers http:// to file://.

The server's folder is the registry's work tree when the site is inside it, so the page's relative links to
outputs/<run_id>/ dossiers and reports/ resolve as on a static host; git's own folder is never served.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"


class Handler(http.server.SimpleHTTPRequestHandler):
    def send_head(self) -> Any:
        parts = self.path.split("?", 1)[0].split("#", 1)[0].split("/")
        if ".git" in parts:
            self.send_error(404, "not served")
            return None
        return super().send_head()

    def log_message(self, format: str, *args: Any) -> None:  # one quiet line a request is noise here
        pass


def served_folder(repo: Path, out: Path) -> tuple[Path, str]:
    """(the folder to serve, the site's path in it): the work tree when the site is inside it."""
    out, repo = out.resolve(), repo.resolve()
    if out == repo or repo in out.parents:
        return repo, out.relative_to(repo).as_posix() + "/"
    return out, ""


def make_server(repo: Path, out: Path, port: int) -> tuple[http.server.ThreadingHTTPServer, str]:
    folder, path = served_folder(repo, out)
    handler = functools.partial(Handler, directory=os.fspath(folder))
    server = http.server.ThreadingHTTPServer((HOST, port), handler)
    url = f"http://{HOST}:{server.server_address[1]}/{path}index.html".replace("/./", "/")
    return server, url


def serve(repo: Path, out: Path, port: int, announce: Callable[[str], None] = print) -> None:
    """Serve until Ctrl-C."""
    server, url = make_server(repo, out, port)
    announce(f"serving {out} at {url} (loopback only; Ctrl-C stops it)")
    with server, contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
