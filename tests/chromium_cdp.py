"""A small driver for headless Chromium over the Chrome DevTools Protocol (CDP).

Why this and not Selenium or Playwright: the browser test has to see *every* console error --
uncaught exceptions, ``console.error`` calls and resources that failed to load. CDP reports all
three as events. Selenium would need a chromedriver matching Debian's chromium exactly and only
offers a partial log; Playwright's Python package brings its own Node driver and expects its own
browser build, which machines without internet cannot download. Talking CDP directly needs only
Debian's ``chromium`` and ``websocket-client`` (pinned in requirements.txt; Jupyter uses it too).

The browser is started with ``--remote-debugging-port=0`` and writes the port it picked to
``DevToolsActivePort`` in its profile folder, so two test runs never fight over a port.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import websocket

INSTALL_HINT = "run `apt-get install chromium` (Debian/Ubuntu, as root) and run the tests again"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
         "--hide-scrollbars", "--mute-audio", "--window-size=1280,900"]


def find_chromium() -> str | None:
    """The path of Debian's chromium (or another Chromium/Chrome on PATH), or None."""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


@dataclass
class PageReport:
    """What loading one page produced."""

    url: str
    errors: list[str] = field(default_factory=list)  # console errors, exceptions, failed loads
    checks: dict = field(default_factory=dict)       # the value the page's check script returned


class Chromium:
    """One headless Chromium with one tab, driven over CDP. Use as a context manager."""

    def __init__(self, executable: str, profile_dir: Path, timeout: float = 60.0):
        self.timeout = timeout
        self.profile_dir = profile_dir
        self.log_path = profile_dir.parent / f"{profile_dir.name}-chromium.log"
        self._log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            [executable, *FLAGS, f"--user-data-dir={profile_dir}", "--remote-debugging-port=0", "about:blank"],
            stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self._next_id = 0
        self._events: list[dict] = []
        self.socket = None
        try:
            port = self._wait_for_port()
            self.socket = websocket.create_connection(self._page_socket_url(port), timeout=timeout,
                                                      suppress_origin=True)
            for domain in ("Page", "Runtime", "Log"):
                self.call(f"{domain}.enable")
        except BaseException:
            self.close()
            raise

    # -- plumbing -----------------------------------------------------------------------------

    def _wait_for_port(self) -> int:
        marker = self.profile_dir / "DevToolsActivePort"
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Chromium exited at start (status {self.process.returncode}); "
                                   f"its log:\n{self.log_path.read_text()[-3000:]}")
            if marker.is_file():
                lines = marker.read_text().splitlines()
                if lines and lines[0].strip().isdigit():
                    return int(lines[0])
            time.sleep(0.05)
        raise RuntimeError(f"Chromium did not open its DevTools port within {self.timeout:.0f} s")

    def _page_socket_url(self, port: int) -> str:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=self.timeout) as answer:
                pages = [t for t in json.load(answer) if t.get("type") == "page"]
            if pages:
                return pages[0]["webSocketDebuggerUrl"]
            time.sleep(0.05)
        raise RuntimeError("Chromium opened no tab")

    def call(self, method: str, **params) -> dict:
        """Send one CDP command and return its result; events that arrive meanwhile are kept."""
        self._next_id += 1
        message_id = self._next_id
        self.socket.send(json.dumps({"id": message_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == message_id:
                if "error" in message:
                    raise RuntimeError(f"{method} failed: {message['error']}")
                return message.get("result", {})
            if "method" in message:
                self._events.append(message)

    def _wait_for_event(self, method: str) -> dict:
        deadline = time.monotonic() + self.timeout
        while True:
            for index, event in enumerate(self._events):
                if event["method"] == method:
                    return self._events.pop(index)
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {method} within {self.timeout:.0f} s")
            message = json.loads(self.socket.recv())
            if "method" in message:
                self._events.append(message)

    @staticmethod
    def _describe(event: dict) -> str | None:
        """A readable line for an event that the DevTools console would show as an error."""
        method, params = event["method"], event.get("params", {})
        if method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text", "")
            return f"uncaught exception: {text} ({details.get('url', '')}:{details.get('lineNumber', '?')})"
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            text = " ".join(str(arg.get("value", arg.get("description", ""))) for arg in params.get("args", []))
            return f"console.{params['type']}: {text}"
        if method == "Log.entryAdded" and params["entry"].get("level") == "error":
            entry = params["entry"]
            return f"{entry.get('source', 'log')}: {entry.get('text', '')} {entry.get('url', '')}".strip()
        return None

    # -- what the tests use -------------------------------------------------------------------

    def visit(self, url: str, check_script: str, settle: float = 0.3) -> PageReport:
        """Load ``url``, wait for its load event, run ``check_script`` (an async JS function body
        whose return value is JSON) and report it with every console error the page produced."""
        self._events.clear()
        navigated = self.call("Page.navigate", url=url)
        if navigated.get("errorText"):
            return PageReport(url, [f"navigation failed: {navigated['errorText']}"])
        self._wait_for_event("Page.loadEventFired")
        result = self.call("Runtime.evaluate", expression=f"(async () => {{ {check_script} }})()",
                           awaitPromise=True, returnByValue=True, timeout=int(self.timeout * 1000))
        report = PageReport(url)
        if "exceptionDetails" in result:
            report.errors.append(f"the check script failed: {result['exceptionDetails']}")
        else:
            report.checks = result["result"].get("value") or {}
        # let late events (fonts, lazy scripts) arrive, then read every error the page produced
        self.socket.settimeout(settle)
        try:
            while True:
                message = json.loads(self.socket.recv())
                if "method" in message:
                    self._events.append(message)
        except websocket.WebSocketTimeoutException:
            pass
        finally:
            self.socket.settimeout(self.timeout)
        report.errors += [line for line in map(self._describe, self._events) if line]
        self._events.clear()
        return report

    def evaluate(self, expression: str):
        """Run a JavaScript expression in the current tab and return its (JSON) value."""
        result = self.call("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression!r} failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def drag(self, start: tuple[float, float], end: tuple[float, float], steps: int = 8) -> None:
        """Press the left mouse button at ``start``, move to ``end`` in ``steps`` moves and release it
        there, as a hand on a mouse would (viewport coordinates in CSS pixels)."""
        (x0, y0), (x1, y1) = start, end
        self.call("Input.dispatchMouseEvent", type="mouseMoved", x=x0, y=y0)
        self.call("Input.dispatchMouseEvent", type="mousePressed", x=x0, y=y0, button="left", buttons=1, clickCount=1)
        for step in range(1, steps + 1):
            x, y = x0 + (x1 - x0) * step / steps, y0 + (y1 - y0) * step / steps
            self.call("Input.dispatchMouseEvent", type="mouseMoved", x=x, y=y, button="left", buttons=1)
        self.call("Input.dispatchMouseEvent", type="mouseReleased", x=x1, y=y1, button="left", buttons=0, clickCount=1)

    def console_errors(self) -> list[str]:
        """The console errors (exceptions, console.error, failed loads) among the events received
        since the last visit or the last call of this method; those events are dropped."""
        errors = [line for line in map(self._describe, self._events) if line]
        self._events.clear()
        return errors

    def screenshot(self, path: Path, full_page: bool = False) -> Path:
        """Save a PNG of the current tab (the viewport, or the whole page)."""
        params = {"format": "png"}
        if full_page:
            params["captureBeyondViewport"] = True
        data = self.call("Page.captureScreenshot", **params)["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        try:
            if self.socket is not None:
                self.socket.close()
        finally:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self._log.close()

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
