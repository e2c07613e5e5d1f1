"""Check an HTML page in a real headless Chromium over the DevTools protocol (pipe transport).

`check_page(html_path)` loads the file in a fresh browser profile and returns what a person
would see go wrong: console errors, uncaught exceptions, failed loads (Log domain), images that
did not load (naturalWidth == 0), and a screenshot to check that something rendered. The pipe
transport (`--remote-debugging-pipe`: NUL-terminated JSON on fds 3 and 4) needs no websocket
client and no network port.
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars", "--window-size=1280,900"]


def chromium_path() -> str | None:
    if os.path.exists(CHROMIUM):
        return CHROMIUM
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class PageCheck:
    ready_state: str = ""
    title: str = ""
    body_text_len: int = 0
    images: list[dict[str, Any]] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)
    log_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    screenshot_png: bytes = b""
    body_text: str = ""  # the visible text (innerText) of the page
    tables: int = 0

    @property
    def broken_images(self) -> list[dict[str, Any]]:
        return [i for i in self.images if not i["complete"] or i["naturalWidth"] <= 0]

    @property
    def errors(self) -> list[str]:
        return self.console_errors + self.exceptions + self.log_errors


class _Pipe:
    def __init__(self, exe: str, profile: str):
        to_r, to_w = os.pipe()
        from_r, from_w = os.pipe()

        def child_fds() -> None:  # runs in the child before exec: fds 3 (in) and 4 (out)
            a, b = os.dup(to_r), os.dup(from_w)  # copies above 4, so neither dup2 clobbers
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [exe, *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-pipe",
             "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=child_fds, pass_fds=(3, 4), close_fds=True)
        os.close(to_r)
        os.close(from_w)
        self.w = to_w
        self.r = from_r
        self.buf = b""
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, params: dict[str, Any] | None = None,
             session: str | None = None) -> int:
        self.next_id += 1
        msg: dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.w, json.dumps(msg).encode() + b"\0")
        return self.next_id

    def _read(self, deadline: float) -> dict[str, Any] | None:
        while b"\0" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([self.r], [], [], left)
            if not ready:
                return None
            chunk = os.read(self.r, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self.buf += chunk
        raw, _, self.buf = self.buf.partition(b"\0")
        return json.loads(raw)

    def call(self, method: str, params: dict[str, Any] | None = None,
             session: str | None = None, timeout: float = 20.0) -> dict[str, Any]:
        mid = self.send(method, params, session)
        deadline = time.monotonic() + timeout
        while True:
            msg = self._read(deadline)
            if msg is None:
                raise TimeoutError(f"no reply to {method}")
            if msg.get("id") == mid:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)

    def wait_event(self, method: str, timeout: float) -> dict[str, Any] | None:
        for e in self.events:
            if e["method"] == method:
                return e
        deadline = time.monotonic() + timeout
        while True:
            msg = self._read(deadline)
            if msg is None:
                return None
            if "method" in msg:
                self.events.append(msg)
                if msg["method"] == method:
                    return msg

    def drain(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while self._read(deadline) is not None:
            pass

    def close(self) -> None:
        try:
            self.send("Browser.close")
            self.proc.wait(timeout=10)
        except Exception:
            self.proc.kill()
            self.proc.wait(timeout=10)
        finally:
            os.close(self.w)
            os.close(self.r)


_CHECK_JS = """JSON.stringify({
  ready: document.readyState, title: document.title,
  text: document.body ? document.body.innerText.length : 0,
  body: document.body ? document.body.innerText : "",
  tables: document.querySelectorAll("table").length,
  images: Array.from(document.images).map(i => ({src: i.src.slice(0, 40),
    complete: i.complete, naturalWidth: i.naturalWidth, naturalHeight: i.naturalHeight}))
})"""


def check_page(path: str | Path, exe: str | None = None, settle_s: float = 0.5) -> PageCheck:
    """Load `path` (file URL) in headless Chromium and report errors, images, a screenshot."""
    exe = exe or chromium_path()
    if exe is None:
        raise FileNotFoundError("chromium not installed")
    url = Path(path).resolve().as_uri()
    with tempfile.TemporaryDirectory(prefix="infersim-chromium-") as profile:
        b = _Pipe(exe, profile)
        try:
            target = b.call("Target.createTarget", {"url": "about:blank"})["targetId"]
            sess = b.call("Target.attachToTarget", {"targetId": target, "flatten": True})[
                "sessionId"]
            for dom in ("Page.enable", "Runtime.enable", "Log.enable", "Network.enable"):
                b.call(dom, session=sess)
            b.call("Page.navigate", {"url": url}, session=sess)
            if b.wait_event("Page.loadEventFired", 30.0) is None:
                raise TimeoutError(f"{url} did not finish loading")
            b.drain(settle_s)
            res = b.call("Runtime.evaluate", {"expression": _CHECK_JS, "returnByValue": True},
                         session=sess)
            info = json.loads(res["result"]["value"])
            shot = b.call("Page.captureScreenshot", {"format": "png"}, session=sess)
            out = PageCheck(info["ready"], info["title"], info["text"], info["images"],
                            screenshot_png=base64.b64decode(shot["data"]),
                            body_text=info.get("body", ""), tables=info.get("tables", 0))
            for e in b.events:
                m, p = e["method"], e.get("params", {})
                if m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                    out.console_errors.append(" ".join(str(a.get("value", a.get("description", "")))
                                                       for a in p.get("args", [])))
                elif m == "Runtime.exceptionThrown":
                    d = p.get("exceptionDetails", {})
                    out.exceptions.append(d.get("text", "") + " " + str(
                        d.get("exception", {}).get("description", "")))
                elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                    ent = p["entry"]
                    out.log_errors.append(f"{ent.get('source')}: {ent.get('text')} {ent.get('url', '')}")
                elif m == "Network.requestWillBeSent":
                    out.requests.append(p.get("request", {}).get("url", "")[:80])
            return out
        finally:
            b.close()
