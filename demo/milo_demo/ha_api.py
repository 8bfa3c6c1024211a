"""Talk to a running Home Assistant the way its frontend does: REST and the websocket API.

Onboarding, config flows, registries and the Assist pipeline are all driven through HA's
public APIs, so the demo exercises exactly what a person clicking through the UI would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
import contextlib
import itertools
import logging
from typing import Any

import aiohttp

from .errors import StageError

_LOGGER = logging.getLogger(__name__)

WS_HEARTBEAT = 30.0


class HaApiError(Exception):
    """HA answered a request with an error."""


class HaRest:
    """REST calls with a bearer token (or none, for the onboarding steps that allow it)."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        self.session = session
        self.base_url = base_url.rstrip("/")
        self.token: str | None = None

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    async def request(self, method: str, path: str, json: Any = None, data: Any = None) -> Any:
        """One request; non-2xx raises HaApiError with HA's message."""
        async with self.session.request(
            method, self.base_url + path, json=json, data=data, headers=self._headers()
        ) as resp:
            body = await resp.text()
            if resp.status >= 300:
                raise HaApiError(f"{method} {path} -> HTTP {resp.status}: {body[:500]}")
            if not body:
                return None
            return await resp.json(content_type=None)

    async def get(self, path: str) -> Any:
        """GET a JSON resource."""
        return await self.request("GET", path)

    async def post(self, path: str, json: Any = None, data: Any = None) -> Any:
        """POST JSON (or a form) and return the JSON answer."""
        return await self.request("POST", path, json=json, data=data)


class HaWebSocket:
    """HA's websocket API: numbered commands and their results."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str, token: str) -> None:
        self._session = session
        self._url = base_url.rstrip("/").replace("http", "ws", 1) + "/api/websocket"
        self._token = token
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        """Open the socket and authenticate."""
        self._ws = await self._session.ws_connect(self._url, heartbeat=WS_HEARTBEAT)
        hello = await self._ws.receive_json()
        if hello.get("type") != "auth_required":
            raise HaApiError(f"unexpected websocket greeting: {hello}")
        await self._ws.send_json({"type": "auth", "access_token": self._token})
        answer = await self._ws.receive_json()
        if answer.get("type") != "auth_ok":
            raise HaApiError(f"websocket authentication failed: {answer}")
        self._reader = asyncio.create_task(self._read_loop())

    async def close(self) -> None:
        """Close the socket and stop reading."""
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader

    async def _read_loop(self) -> None:
        assert self._ws is not None
        async for msg in self._ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            payload = msg.json()
            for item in payload if isinstance(payload, list) else [payload]:
                self._dispatch(item)
        error = HaApiError("websocket closed by Home Assistant")
        for future in self._pending.values():
            if not future.done():
                future.set_exception(error)

    def _dispatch(self, item: Mapping[str, Any]) -> None:
        msg_id = item.get("id")
        future = self._pending.pop(msg_id, None) if isinstance(msg_id, int) else None
        if future is None or future.done():
            return
        if item.get("success", False):
            future.set_result(item.get("result"))
        else:
            future.set_exception(HaApiError(f"{item.get('error')}"))

    async def _send(self, command: dict[str, Any]) -> asyncio.Future[Any]:
        if self._ws is None:
            raise HaApiError("websocket not connected")
        msg_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[msg_id] = future
        try:
            await self._ws.send_json({"id": msg_id, **command})
        except (aiohttp.ClientError, ConnectionError) as err:
            self._pending.pop(msg_id, None)
            raise HaApiError(f"websocket closed: {err}") from err
        return future

    async def call(self, msg_type: str, **data: Any) -> Any:
        """Send one command and return its result; an error result raises HaApiError."""
        try:
            return await (await self._send({"type": msg_type, **data}))
        except HaApiError as err:
            raise HaApiError(f"{msg_type}: {err}") from None


async def onboard(
    rest: HaRest, *, name: str, username: str, password: str, language: str = "en"
) -> str:
    """Complete HA's onboarding through its onboarding API; returns an access token.

    The same four steps the frontend walks through: owner user, core config, analytics,
    and the integration step that hands the browser its login.
    """
    client_id = rest.base_url + "/"
    steps = {step["step"]: step["done"] for step in await rest.get("/api/onboarding")}
    if steps.get("user"):
        raise StageError(
            "onboarding", "this config folder is already onboarded; the demo needs a fresh one"
        )
    created = await rest.post(
        "/api/onboarding/users",
        json={
            "client_id": client_id,
            "name": name,
            "username": username,
            "password": password,
            "language": language,
        },
    )
    tokens = await rest.post(
        "/auth/token",
        data={
            "grant_type": "authorization_code",
            "code": created["auth_code"],
            "client_id": client_id,
        },
    )
    rest.token = tokens["access_token"]
    await rest.post("/api/onboarding/core_config")
    await rest.post("/api/onboarding/analytics")
    await rest.post(
        "/api/onboarding/integration",
        json={"client_id": client_id, "redirect_uri": client_id + "?auth_callback=1"},
    )
    remaining = [s["step"] for s in await rest.get("/api/onboarding") if not s["done"]]
    if remaining:
        raise StageError("onboarding", f"steps still open after onboarding: {remaining}")
    return str(tokens["access_token"])
