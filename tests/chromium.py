"""Headless Chromium driven over the Chrome DevTools protocol, for tests that look at pages as a
person would: open a URL, wait until the page's own scripts have rendered something, read the DOM,
take a screenshot, and list every request the page made.

Chromium runs with every host name but 127.0.0.1 mapped to "not found", so a page that needs the
internet fails here as it would on a machine without it. Debian's `chromium` package provides the
browser; `find_or_install_chromium()` installs it with apt-get when it is missing and this process
may (scripts/test.sh installs it up front).
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from websockets.sync.client import ClientConnection, connect

NO_NETWORK_RULES = "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"
BROWSER_NAMES = ("chromium", "chromium-browser")


def find_chromium() -> str | None:
    """The path of the Chromium executable, or None."""
    for name in BROWSER_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def find_or_install_chromium() -> tuple[str | None, str]:
    """(path, "") when Chromium is there or could be installed; (None, why not) otherwise."""
    path = find_chromium()
    if path:
        return path, ""
    if shutil.which("apt-get") is None:
        return None, "chromium is not installed and there is no apt-get to install it"
    if os.geteuid() != 0:
        return None, "chromium is not installed and installing it needs root (apt-get install chromium)"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium"]
    done = subprocess.run(install, env=env, capture_output=True, timeout=900, check=False)
    if done.returncode != 0:  # the package lists may be missing or stale: refresh once
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, timeout=900, check=False)
        done = subprocess.run(install, env=env, capture_output=True, timeout=900, check=False)
    path = find_chromium()
    if path:
        return path, ""
    tail = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["(no output)"]
    return None, f"chromium is not installed and apt-get install chromium failed: {tail[0]}"


@dataclass
class PageLoad:
    """What one navigation did: every request URL the page made, and the failures."""

    requests: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)


class Page:
    """One browser tab, driven through its DevTools WebSocket."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, timeout: float = 60.0, **params: Any) -> dict[str, Any]:
        """Send one command and return its result; events that arrive meanwhile are kept."""
        message_id = next(self.ids)
        self.ws.send(json.dumps({"id": message_id, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"DevTools command {method} got no answer in {timeout}s")
            message = json.loads(self.ws.recv(timeout=remaining))
            if message.get("id") == message_id:
                if "error" in message:
                    raise RuntimeError(f"DevTools {method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result
            if "method" in message:
                self.events.append(message)

    def evaluate(self, expression: str) -> Any:
        """The JSON value of a JavaScript expression in the page."""
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def open(self, url: str, until: str, timeout: float = 90.0) -> PageLoad:
        """Navigate to `url` and wait until the JavaScript expression `until` is true (the page's
        own scripts have rendered); fails with what the page shows if it never becomes true."""
        self.events.clear()
        self.call("Page.navigate", url=url)
        deadline = time.monotonic() + timeout
        while not self._true_yet(until):
            if time.monotonic() > deadline:
                text = self.evaluate("document.body ? document.body.innerText.slice(0, 2000) : ''")
                raise AssertionError(f"{url}: `{until}` still false after {timeout}s; it shows:\n{text}")
            time.sleep(0.25)
        # Let requests started by the render (icons, the favicon) be reported too.
        self.call("Runtime.evaluate", expression="new Promise(r => setTimeout(r, 500))", awaitPromise=True)
        return self.load_report()

    def _true_yet(self, condition: str) -> bool:
        # While the navigation is under way the old document (or none) answers: an expression
        # that throws there (document.body is null) is simply not true yet.
        try:
            return bool(self.evaluate(f"Boolean({condition})"))
        except RuntimeError:
            return False

    def load_report(self) -> PageLoad:
        report = PageLoad()
        for event in self.events:
            params = event.get("params", {})
            if event["method"] == "Network.requestWillBeSent":
                report.requests.append(params["request"]["url"])
            elif event["method"] == "Network.loadingFailed" and not params.get("canceled"):
                report.failed.append(f"{params.get('requestId')}: {params.get('errorText')}")
            elif event["method"] == "Runtime.exceptionThrown":
                details = params.get("exceptionDetails", {})
                report.exceptions.append(str(details.get("exception", {}).get("description") or details))
        return report

    def screenshot(self, path: Path) -> Path:
        """Save a PNG of the whole page to `path`."""
        metrics = self.call("Page.getLayoutMetrics")
        size = metrics.get("cssContentSize") or metrics["contentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], 6000), "scale": 1}
        data = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True, clip=clip)[
            "data"
        ]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path


@contextlib.contextmanager
def browser(executable: str, width: int = 1280, height: int = 1000) -> Iterator[Page]:
    """A headless Chromium with no network but 127.0.0.1, and a blank tab to drive."""
    with tempfile.TemporaryDirectory(prefix="covetpy-chromium-") as profile:
        args = [
            executable,
            "--headless=new",
            "--no-sandbox",  # the tests may run as root, where Chromium's sandbox refuses to start
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--host-resolver-rules={NO_NETWORK_RULES}",
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
            "about:blank",
        ]
        log_path = Path(profile) / "chromium.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
            )
        try:
            port = _devtools_port(Path(profile), proc, log_path)
            targets = requests.get(f"http://127.0.0.1:{port}/json/list", timeout=15).json()
            page_url = next(t["webSocketDebuggerUrl"] for t in targets if t.get("type") == "page")
            with connect(page_url, max_size=None, open_timeout=15) as ws:
                page = Page(ws)
                page.call("Page.enable")
                page.call("Runtime.enable")
                page.call("Network.enable")
                page.call("Network.setCacheDisabled", cacheDisabled=True)
                yield page
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def _devtools_port(
    profile: Path, proc: subprocess.Popen[bytes], log_path: Path, timeout: float = 60.0
) -> int:
    """The port Chromium chose, from the DevToolsActivePort file it writes once it listens."""
    marker = profile / "DevToolsActivePort"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"chromium exited with {proc.returncode}:\n{log_path.read_text(errors='replace')[-3000:]}"
            )
        with contextlib.suppress(FileNotFoundError, ValueError, IndexError):
            return int(marker.read_text().splitlines()[0])
        time.sleep(0.1)
    raise RuntimeError(f"chromium did not open its DevTools port in {timeout}s")
