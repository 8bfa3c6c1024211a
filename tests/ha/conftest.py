"""Fixtures for the Milo integration tests.

The peers are real HTTP servers on 127.0.0.1: a scripted OpenAI-compatible chat server
(exact replies, including tool calls and broken ones) that also serves recorded Open-Meteo
responses from tests/ha/fixtures.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
import json
from pathlib import Path
from typing import Any

from aiohttp import web
from homeassistant.components.intent import async_register_timer_handler
from homeassistant.config_entries import ConfigSubentryData
from homeassistant.const import CONF_API_KEY, CONF_MODEL, CONF_URL
from homeassistant.core import HomeAssistant
from homeassistant.helpers import (
    area_registry as ar,
    device_registry as dr,
    entity_registry as er,
)
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.milo import surf
from custom_components.milo.config_flow import DEFAULT_AGENT_OPTIONS
from custom_components.milo.const import DEFAULT_SPOTS, DOMAIN

FIXTURES = Path(__file__).parent / "fixtures"
MODEL = "milo-test"
# 08:30 in Portrush on the first day of the recorded forecast.
NOW = "2026-06-01T07:30:00+00:00"


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Load custom_components/milo from this repository in every test."""


def load_fixture(name: str) -> Any:
    """A recorded JSON fixture."""
    return json.loads((FIXTURES / name).read_text())


@dataclass
class Reply:
    """One scripted chat completion: text, tool calls, or raw SSE lines."""

    text: str = ""
    tool_calls: list[tuple[str, str | dict[str, Any]]] = field(default_factory=list)
    raw: list[str] | None = None
    status: int = 200
    # Seconds before the first word, as a model reading a long prompt on a CPU (loop
    # time: a test with frozen time moves it on with `freezer.tick`).
    delay: float = 0


@dataclass
class FakeCloud:
    """State of the local server: what it answers and what it was asked."""

    url: str = ""
    models: list[str] | None = field(default_factory=lambda: [MODEL])
    # Reported in each model card as `context_length`, like milo-llm; None reports none.
    context_length: int | None = None
    # Reported as `owned_by` ("milo": the server says it is milo-llm); None reports none.
    owned_by: str | None = None
    api_key: str | None = None
    script: list[Reply] = field(default_factory=list)
    default: Reply | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)
    models_status: int = 200
    weather_fails: bool = False
    marine: Any = field(default_factory=lambda: load_fixture("open_meteo_marine.json"))
    forecast: Any = field(default_factory=lambda: load_fixture("open_meteo_forecast.json"))
    open_meteo_calls: int = 0
    # Replies that began their delay, and those whose client went away during it.
    delayed: int = 0
    abandoned: int = 0

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL."""
        return f"{self.url}/v1"

    def reply(self, text: str = "", **kwargs: Any) -> None:
        """Queue one reply."""
        self.script.append(Reply(text=text, **kwargs))

    def chat_requests(self) -> list[dict[str, Any]]:
        """Bodies of the chat completion requests so far."""
        return [r for r in self.requests if "messages" in r]


def _sse(obj: Any) -> bytes:
    return f"data: {json.dumps(obj)}\n\n".encode()


def _chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "model": MODEL,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


async def _stream(cloud: FakeCloud, request: web.Request, reply: Reply) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await resp.prepare(request)
    if reply.raw is not None:
        for line in reply.raw:
            await resp.write(line.encode())
        await resp.write_eof()
        return resp
    await resp.write(_sse(_chunk({"role": "assistant", "content": ""})))
    cloud.delayed += 1
    try:
        await asyncio.sleep(reply.delay)
    except asyncio.CancelledError:  # the client went away (handler_cancellation)
        cloud.abandoned += 1
        raise
    # Word by word, the way a real server streams, so the chat log sees deltas.
    for index, word in enumerate(reply.text.split(" ") if reply.text else []):
        await resp.write(_sse(_chunk({"content": f" {word}" if index else word})))
    for index, (name, args) in enumerate(reply.tool_calls):
        text = args if isinstance(args, str) else json.dumps(args)
        half = len(text) // 2
        first = {"index": index, "id": f"call_{index}", "type": "function"}
        await resp.write(
            _sse(
                _chunk(
                    {"tool_calls": [first | {"function": {"name": name, "arguments": text[:half]}}]}
                )
            )
        )
        await resp.write(
            _sse(_chunk({"tool_calls": [{"index": index, "function": {"arguments": text[half:]}}]}))
        )
    finish = "tool_calls" if reply.tool_calls else "stop"
    await resp.write(_sse(_chunk({}, finish)))
    await resp.write(b"data: [DONE]\n\n")
    await resp.write_eof()
    return resp


def _app(cloud: FakeCloud) -> web.Application:
    def authorized(request: web.Request) -> bool:
        return cloud.api_key is None or (
            request.headers.get("Authorization") == f"Bearer {cloud.api_key}"
        )

    async def models(request: web.Request) -> web.Response:
        if not authorized(request):
            return web.json_response({"error": "bad key"}, status=401)
        if cloud.models_status != 200:
            return web.Response(status=cloud.models_status, text="nope")
        if cloud.models is None:
            return web.json_response({"object": "list"})
        extra: dict[str, Any] = (
            {"context_length": cloud.context_length} if cloud.context_length else {}
        )
        if cloud.owned_by:
            extra["owned_by"] = cloud.owned_by
        return web.json_response(
            {
                "object": "list",
                "data": [{"id": m, "object": "model", **extra} for m in cloud.models],
            }
        )

    async def chat(request: web.Request) -> web.StreamResponse:
        if not authorized(request):
            return web.json_response({"error": "bad key"}, status=401)
        body = await request.json()
        cloud.requests.append(body)
        reply = cloud.script.pop(0) if cloud.script else cloud.default
        if reply is None:
            return web.json_response({"error": "script exhausted"}, status=500)
        if reply.status != 200:
            return web.Response(status=reply.status, text="scripted failure")
        return await _stream(cloud, request, reply)

    async def marine(request: web.Request) -> web.Response:
        cloud.open_meteo_calls += 1
        if cloud.weather_fails:
            return web.json_response(load_fixture("open_meteo_error.json"), status=400)
        return web.json_response(cloud.marine)

    async def forecast(request: web.Request) -> web.Response:
        if cloud.weather_fails:
            return web.json_response(load_fixture("open_meteo_error.json"), status=400)
        return web.json_response(cloud.forecast)

    app = web.Application()
    app.router.add_get("/v1/models", models)
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_get("/marine", marine)
    app.router.add_get("/forecast", forecast)
    # The same answers where a self-hosted Open-Meteo serves them (the entry's options).
    app.router.add_get("/v1/marine", marine)
    app.router.add_get("/v1/forecast", forecast)
    return app


@pytest.fixture
async def cloud(monkeypatch: pytest.MonkeyPatch, socket_enabled: None) -> AsyncIterator[FakeCloud]:
    """A real local HTTP server standing in for the chat server and Open-Meteo."""
    state = FakeCloud()
    # Cancel a handler whose client went away, as milo-llm stops such a generation.
    runner = web.AppRunner(_app(state), access_log=None, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    state.url = f"http://127.0.0.1:{port}"
    monkeypatch.setattr(surf, "MARINE_API_URL", f"{state.url}/marine")
    monkeypatch.setattr(surf, "FORECAST_API_URL", f"{state.url}/forecast")
    yield state
    await runner.cleanup()


@pytest.fixture
async def portrush(hass: HomeAssistant, freezer: Any) -> None:
    """Home Assistant in Portrush, at 08:30 on the first recorded forecast day."""
    await hass.config.async_set_time_zone("Europe/London")
    hass.config.latitude, hass.config.longitude = 55.2, -6.65
    freezer.move_to(NOW)
    assert await async_setup_component(hass, "homeassistant", {})


def agent_subentry(**options: Any) -> ConfigSubentryData:
    """A conversation agent subentry with the defaults, overridden by `options`."""
    return ConfigSubentryData(
        subentry_type="conversation",
        title="Milo",
        data={**DEFAULT_AGENT_OPTIONS, **options},
        unique_id=None,
    )


def spot_subentries() -> list[ConfigSubentryData]:
    """The default Portrush spots."""
    return [
        ConfigSubentryData(
            subentry_type="surf_spot",
            title=spot["name"],
            data={k: v for k, v in spot.items() if k != "name"},
            unique_id=None,
        )
        for spot in DEFAULT_SPOTS
    ]


@pytest.fixture
def make_entry(hass: HomeAssistant, cloud: FakeCloud) -> Callable[..., MockConfigEntry]:
    """Build (not set up) a Milo entry pointing at the local server."""

    def make(
        subentries: list[ConfigSubentryData] | None = None, api_key: str | None = None
    ) -> MockConfigEntry:
        data = {CONF_URL: cloud.base_url, CONF_MODEL: MODEL}
        if api_key:
            data[CONF_API_KEY] = api_key
        entry = MockConfigEntry(
            domain=DOMAIN,
            title="Milo",
            data=data,
            subentries_data=subentries
            if subentries is not None
            else [agent_subentry(), *spot_subentries()],
        )
        entry.add_to_hass(hass)
        return entry

    return make


@pytest.fixture
async def setup_entry(
    hass: HomeAssistant, portrush: None, make_entry: Callable[..., MockConfigEntry]
) -> Callable[..., Any]:
    """Set up a Milo entry; returns it."""

    async def setup(**kwargs: Any) -> MockConfigEntry:
        entry = make_entry(**kwargs)
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        return entry

    return setup


ROOMS = ("Kitchen", "Hall", "Bedroom", "Office", "Living room", "Bathroom", "Garage")


@pytest.fixture
async def smart_home(hass: HomeAssistant) -> str:
    """Two lights in each of seven rooms, a shopping list, and a voice satellite with timers.

    That is most of HA's Assist tools and a long device overview; returns the satellite.
    """
    for component in ("homeassistant", "intent", "todo"):
        assert await async_setup_component(hass, component, {})
    areas = ar.async_get(hass)
    registry = er.async_get(hass)
    for room in ROOMS:
        area = areas.async_create(room)
        for kind in ("ceiling light", "lamp"):
            name = f"{room} {kind}"
            entry = registry.async_get_or_create(
                "light",
                "test",
                name,
                suggested_object_id=name.replace(" ", "_").lower(),
                original_name=name,
            )
            registry.async_update_entity(entry.entity_id, area_id=area.id)
            hass.states.async_set(entry.entity_id, "off", {"friendly_name": name})
    hass.states.async_set("todo.shopping_list", "0", {"friendly_name": "Shopping list"})
    satellite_entry = MockConfigEntry(domain="esphome")
    satellite_entry.add_to_hass(hass)
    device = dr.async_get(hass).async_get_or_create(
        config_entry_id=satellite_entry.entry_id, identifiers={("esphome", "sat")}, name="Sat"
    )
    async_register_timer_handler(hass, device.id, lambda *_args: None)
    return device.id
