"""A pass-through in front of milo-llm that keeps every chat request it forwards.

The rubric needs what the model was told for each answer: the system prompts, the tool
descriptions and the agent's notes (a recital repeats them) and the tool results (numbers
from there are not invented). Milo's agent and the baseline both talk to milo-llm through
this recorder, so the loopback hop it adds (well under a millisecond) is the same for both.

It also sets the run's sampling seed on requests that carry none (Milo's agent sends none),
so each benchmark run samples the model with its own seed, reproducibly, for both sides.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
from aiohttp import web

# Hop-by-hop and length headers are the recorder's own business on each side.
_DROPPED = {"host", "content-length", "transfer-encoding", "connection", "content-encoding"}


class ModelRecorder:
    """Forwards /v1/* to the upstream server as it streams, recording chat requests."""

    def __init__(self, upstream: str, port: int) -> None:
        self.upstream = upstream.rstrip("/")
        self.port = port
        self.seed: int | None = None  # added to chat requests that have no seed
        self._requests: list[dict[str, Any]] = []
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL to give clients."""
        return f"http://127.0.0.1:{self.port}/v1"

    async def start(self) -> None:
        """Listen on loopback."""
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/v1/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        """Stop listening and close the upstream connection."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    def take(self) -> list[dict[str, Any]]:
        """The chat requests since the last call (the request bodies, parsed)."""
        taken, self._requests = self._requests, []
        return taken

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        body = await request.read()
        if request.path.endswith("/chat/completions") and body:
            try:
                chat = json.loads(body)
            except ValueError:
                chat = None  # the server will say what is wrong with it
            if isinstance(chat, dict):
                if self.seed is not None and chat.get("seed") is None:
                    chat["seed"] = self.seed
                    body = json.dumps(chat).encode()
                self._requests.append(chat)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _DROPPED}
        async with self._session.request(
            request.method,
            f"{self.upstream}{request.path_qs}",
            data=body or None,
            headers=headers,
        ) as upstream:
            response = web.StreamResponse(
                status=upstream.status,
                headers={k: v for k, v in upstream.headers.items() if k.lower() not in _DROPPED},
            )
            await response.prepare(request)
            try:
                async for chunk in upstream.content.iter_any():
                    await response.write(chunk)
                await response.write_eof()
            except ConnectionResetError:
                # The client stopped reading (Milo's agent has its remark): leaving closes
                # the upstream stream too, so the server stops writing, as without us.
                pass
            return response
