"""A real headless Chromium (Debian's `chromium`), driven over its DevTools protocol.

Just what the card's test needs: open a page logged in to Home Assistant, evaluate
JavaScript in it (through the dashboard's shadow roots) and take screenshots.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
import contextlib
import itertools
import json
from pathlib import Path
import shutil
import time
from typing import Any

import aiohttp

START_S = 30.0
# Finds the first element matching a selector anywhere below the document, shadow roots
# included (Home Assistant's dashboard nests a dozen of them).
DEEP_QUERY = """
function deepQuery(root, selector) {
  const found = root.querySelector(selector);
  if (found) return found;
  for (const node of root.querySelectorAll("*")) {
    if (node.shadowRoot) {
      const inner = deepQuery(node.shadowRoot, selector);
      if (inner) return inner;
    }
  }
  return null;
}
"""


class BrowserError(Exception):
    """Chromium is missing, did not start, or a page call failed."""


class Page:
    """One tab: navigate, evaluate, screenshot."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws
        self._ids = itertools.count(1)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        """One DevTools command; its result (events that arrive meanwhile are skipped)."""
        call_id = next(self._ids)
        await self._ws.send_json({"id": call_id, "method": method, "params": params})
        async for message in self._ws:
            data = json.loads(message.data)
            if data.get("id") != call_id:
                continue
            if "error" in data:
                raise BrowserError(f"{method}: {data['error']}")
            return dict(data["result"])
        raise BrowserError(f"{method}: the browser closed the connection")

    async def goto(self, url: str) -> None:
        """Navigate and wait for the document to load."""
        await self.call("Page.navigate", url=url)
        await self.wait_for("document.readyState === 'complete'", 30.0)

    async def evaluate(self, expression: str) -> Any:
        """The JSON value of an expression (promises are awaited); deepQuery is defined."""
        result = await self.call(
            "Runtime.evaluate",
            expression=f"{DEEP_QUERY}\n{expression}",
            returnByValue=True,
            awaitPromise=True,
        )
        if "exceptionDetails" in result:
            raise BrowserError(f"script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_for(self, expression: str, limit_s: float) -> Any:
        """Poll an expression until it is truthy; its value."""
        deadline = time.monotonic() + limit_s
        while True:
            value = await self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise BrowserError(f"not true after {limit_s:.0f} s: {expression}")
            await asyncio.sleep(0.25)

    async def screenshot(self, path: Path, selector: str) -> None:
        """A PNG of one element (found through shadow roots)."""
        box = await self.evaluate(
            f"(() => {{ const r = deepQuery(document, {json.dumps(selector)})"
            ".getBoundingClientRect(); return {x: r.x, y: r.y, width: r.width, "
            "height: r.height}; })()"
        )
        shot = await self.call("Page.captureScreenshot", format="png", clip={**box, "scale": 1})
        await asyncio.to_thread(path.write_bytes, base64.b64decode(shot["data"]))


@contextlib.asynccontextmanager
async def chromium(profile: Path, width: int = 1000, height: int = 900) -> AsyncIterator[Page]:
    """Start headless Chromium with a fresh profile; the page it opened."""
    binary = shutil.which("chromium")
    if binary is None:
        raise BrowserError("chromium is missing: run script/setup (Debian package chromium)")
    await asyncio.to_thread(profile.mkdir, parents=True, exist_ok=True)
    # A profile used before still names its last port.
    await asyncio.to_thread((profile / "DevToolsActivePort").unlink, missing_ok=True)
    process = await asyncio.create_subprocess_exec(
        binary,
        "--headless",
        "--no-sandbox",  # tests run as root in CI containers
        "--disable-gpu",
        "--no-first-run",
        "--remote-debugging-port=0",
        f"--user-data-dir={profile}",
        f"--window-size={width},{height}",
        "about:blank",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        async with aiohttp.ClientSession() as session:
            port = await _debugging_port(profile, process)
            async with session.get(f"http://127.0.0.1:{port}/json/list") as response:
                targets = await response.json()
            target = next(t for t in targets if t["type"] == "page")
            async with session.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                page = Page(ws)
                # Without the Page domain enabled the dashboard's extra modules never loaded.
                await page.call("Page.enable")
                yield page
    finally:
        if process.returncode is None:
            process.terminate()
            await process.wait()


async def _debugging_port(profile: Path, process: asyncio.subprocess.Process) -> int:
    """Chromium writes the port it picked into the profile once it listens."""
    marker = profile / "DevToolsActivePort"
    deadline = time.monotonic() + START_S
    while not marker.exists() or not marker.read_text().strip():
        if process.returncode is not None:
            raise BrowserError(f"chromium exited with {process.returncode}")
        if time.monotonic() > deadline:
            raise BrowserError(f"chromium opened no DevTools port in {START_S:.0f} s")
        await asyncio.sleep(0.1)
    return int(marker.read_text().split()[0])
