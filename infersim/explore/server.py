"""The explorer's local web server: the standard library's threading HTTP server on 127.0.0.1.

Static files ship in this package (`static/`) and plotly.js comes from the installed `plotly`
package, so the page works offline and requests never leave the machine. The server refuses
a `Host` header other than 127.0.0.1/localhost (a page on another site cannot reach it
through DNS rebinding) and request bodies over 2 MB.
"""

from __future__ import annotations

import json
import math
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from infersim.explore import app
from infersim.foundation.errors import InfersimError, InputError

_MAX_BODY = 2_000_000
_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".css": "text/css; charset=utf-8"}


def plotly_js() -> bytes:
    """plotly.min.js from the installed `plotly` package (the `explore` extra)."""
    try:
        import plotly
    except ImportError:
        raise InputError("infersim explore needs plotly: pip install 'infersim[explore]'") from None
    return (Path(plotly.__file__).parent / "package_data" / "plotly.min.js").read_bytes()


def _clean(v: Any) -> Any:
    """JSON-safe: NaN and infinities become null (browsers reject them in JSON)."""
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, dict):
        return {str(k): _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    if hasattr(v, "item") and callable(v.item):  # numpy scalars
        return _clean(v.item())
    return v


class _Handler(BaseHTTPRequestHandler):
    server_version = "infersim-explore"
    store: str | None = None
    plotly: bytes = b""

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the CLI prints the URL
        return

    def _host_ok(self) -> bool:
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0].strip("[]")
        return host in ("127.0.0.1", "localhost", "::1")

    def _send(self, status: int, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Security-Policy",
                         "default-src 'self'; img-src 'self' data: blob:; "
                         "style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-eval'")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, obj: Any) -> None:
        self._send(status, json.dumps(_clean(obj), allow_nan=False).encode(),
                   "application/json")

    def _text(self, status: int, text: str, ctype: str = "text/plain; charset=utf-8") -> None:
        self._send(status, text.encode(), ctype)

    def _answer(self, fn: Any) -> None:
        try:
            self._json(200, fn())
        except (BrokenPipeError, ConnectionResetError):
            return  # the page went away mid-answer
        except InfersimError as e:
            self._json(400, {"error": str(e)})
        except Exception as e:  # a bug: say so, keep serving
            traceback.print_exc()
            self._json(500, {"error": f"internal error: {type(e).__name__}: {e}"})

    def _body(self) -> Any:
        n = int(self.headers.get("Content-Length") or 0)
        if n > _MAX_BODY:
            raise InputError(f"request body over {_MAX_BODY} bytes")
        try:
            return json.loads(self.rfile.read(n) or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise InputError(f"request body is not JSON ({e})") from None

    def do_GET(self) -> None:
        if not self._host_ok():
            self._text(403, "forbidden host")
            return
        url = urlparse(self.path)
        q = {k: v[-1] for k, v in parse_qs(url.query).items()}
        path = url.path
        if path in ("/", "/index.html"):
            self._static("index.html")
        elif path == "/static/plotly.min.js":
            self._send(200, self.plotly, _TYPES[".js"])
        elif path.startswith("/static/"):
            self._static(path.removeprefix("/static/"))
        elif path == "/api/catalog":
            self._answer(app.catalog)
        elif path == "/api/spec":
            hw = q.get("hw", "h100-sxm")

            def spec() -> dict[str, Any]:
                fields = app.spec_fields(hw)
                return {"fields": fields, "knobs": app.suggested_knobs(hw, fields),
                        "runtimes": app.runtimes_for(hw)}

            self._answer(spec)
        elif path == "/api/runtime":
            hw, runtime = q.get("hw", "h100-sxm"), q.get("runtime", "")
            self._answer(lambda: app.runtime_knobs(hw, runtime))
        elif path == "/api/pareto":
            store = self.store
            self._answer(lambda: app.pareto(store, q.get("x"), q.get("y")) if store else
                         {"columns": [], "rows": [], "front": [],
                          "note": "start with --store DIR"})
        elif path == "/favicon.ico":
            self._send(204, b"", "image/x-icon")
        else:
            self._text(404, "not found")

    def do_POST(self) -> None:
        if not self._host_ok():
            self._text(403, "forbidden host")
            return
        path = urlparse(self.path).path
        routes = {"/api/evaluate": lambda b: app.evaluate(b),
                  "/api/timeline": lambda b: app.timeline(b),
                  "/api/serving": lambda b: app.serving_curve(b),
                  "/api/compare": lambda b: app.compare(b.get("a") or {}, b.get("b") or {}),
                  "/api/design": lambda b: {"yaml": app.design_yaml(b),
                                            "command": app.command_line(b)}}
        fn = routes.get(path)
        if fn is None:
            self._text(404, "not found")
            return
        self._answer(lambda: fn(self._body()))

    def _static(self, name: str) -> None:
        if "/" in name or name.startswith("."):
            self._text(404, "not found")
            return
        f = resources.files("infersim.explore").joinpath("static", name)
        if not f.is_file():
            self._text(404, "not found")
            return
        self._send(200, f.read_bytes(), _TYPES.get(Path(name).suffix, "application/octet-stream"))


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        exc = sys.exc_info()[1]
        if isinstance(exc, (BrokenPipeError, ConnectionResetError)):
            return  # the page went away mid-answer
        super().handle_error(request, client_address)


def make_server(port: int = 0, store: str | None = None) -> ThreadingHTTPServer:
    """A server on 127.0.0.1:`port` (0: any free port); call `serve_forever()` on it."""
    handler = type("Handler", (_Handler,), {"store": store, "plotly": plotly_js()})
    try:
        srv = _Server(("127.0.0.1", port), handler)
    except OSError as e:
        raise InputError(f"--port {port}: cannot listen on 127.0.0.1 ({e.strerror}); "
                         "choose another port or --port 0") from None
    return srv


def start_in_thread(port: int = 0, store: str | None = None) -> tuple[ThreadingHTTPServer, str]:
    """Start a server in a daemon thread (tests, notebooks); returns (server, URL)."""
    srv = make_server(port, store)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, f"http://127.0.0.1:{srv.server_address[1]}/"


__all__ = ["make_server", "plotly_js", "start_in_thread"]
