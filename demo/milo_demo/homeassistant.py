"""Home Assistant as the demo uses it: a real `hass` process, onboarded and configured
entirely through its own APIs (onboarding, config flows, registries, Assist pipelines)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
import logging
from pathlib import Path
from typing import Any

import aiohttp

from .errors import StageError, poll, stage
from .flows import keep_current, run_flow
from .ha_api import HaApiError, HaRest, HaWebSocket, onboard
from .hass_config import WEATHER_ENTITY, write_config
from .processes import Supervisor

_LOGGER = logging.getLogger(__name__)

HASS_START_S = 240.0
SETUP_S = 120.0
PIPELINE_NAME = "Milo"
PEER_PIPELINE = "Peers"  # wyoming-faster-whisper + wyoming-piper, for the benchmark


@dataclass(frozen=True)
class Login:
    """The demo's HA owner account (printed for --keep-running)."""

    name: str = "Milo Demo"
    username: str = "milo"
    password: str = "milo-demo"


class HassProcess:
    """One hass process, its API clients and what the demo configured in it."""

    def __init__(
        self,
        supervisor: Supervisor,
        repo: Path,
        config_dir: Path,
        port: int,
        ha_venv: str = ".venv-ha",
    ) -> None:
        self.supervisor = supervisor
        self.hass_bin = repo / ha_venv / "bin" / "hass"
        self.repo = repo
        self.config_dir = config_dir
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        self.login = Login()
        self._session: aiohttp.ClientSession | None = None
        self.rest: HaRest | None = None
        self.ws: HaWebSocket | None = None

    @property
    def log(self) -> Path:
        """The hass process's console log (HA also writes home-assistant.log in config)."""
        return self.supervisor.logs_dir / "hass.log"

    async def start(self) -> None:
        """Fresh config, start hass, onboard it, connect the websocket."""
        write_config(self.config_dir, self.repo, self.port)
        if not self.hass_bin.exists():
            missing = f"{self.hass_bin} is missing: run script/setup"
            raise StageError("start Home Assistant", missing)
        await self.supervisor.start(
            "hass", [str(self.hass_bin), "-c", str(self.config_dir), "--skip-pip"], cwd=self.repo
        )
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        self.rest = HaRest(self._session, self.base_url)
        async with stage("start Home Assistant", HASS_START_S, self.log):
            await self._wait_api()
        async with stage("onboarding", SETUP_S, self.log):
            token = await onboard(
                self.rest,
                name=self.login.name,
                username=self.login.username,
                password=self.login.password,
            )
            self.ws = HaWebSocket(self._session, self.base_url, token)
            await self.ws.connect()
            # A long-lived token: the benchmark can outlast an access token's 30 minutes.
            long_lived = await self.ws.call(
                "auth/long_lived_access_token", client_name="milo-demo", lifespan=1
            )
            self.rest.token = long_lived
            await self._wait_running()
            # HA 2026 moves `http:` from YAML into storage as a *pending* config and goes
            # back to the defaults (0.0.0.0:8123) five minutes later unless a user confirms
            # it works. It does: we are talking to it on loopback. Confirm, as the UI would.
            await self.ws.call("http/config/promote")

    async def _wait_api(self) -> None:
        assert self.rest is not None
        while True:
            self.supervisor.check_alive("hass", "start Home Assistant")
            try:
                await self.rest.get("/api/onboarding")
            except (aiohttp.ClientError, HaApiError):
                await asyncio.sleep(1.0)
                continue
            return

    async def _wait_running(self) -> None:
        assert self.rest is not None
        rest = self.rest

        async def running() -> bool:
            return bool((await rest.get("/api/config"))["state"] == "RUNNING")

        await poll(running, 0.5)

    async def close(self) -> None:
        """Close the API clients (the supervisor stops the process)."""
        if self.ws is not None:
            await self.ws.close()
        if self._session is not None:
            await self._session.close()

    # --- registries ---------------------------------------------------------------------

    async def entities_of(self, entry_id: str, domain: str | None = None) -> list[dict[str, Any]]:
        """Entity registry entries of a config entry (optionally of one domain)."""
        assert self.ws is not None
        entries = await self.ws.call("config/entity_registry/list")
        return [
            e
            for e in entries
            if e["config_entry_id"] == entry_id
            and (domain is None or e["entity_id"].startswith(f"{domain}."))
        ]

    async def wait_entity(
        self, step: str, entry_id: str, domain: str, limit_s: float = SETUP_S
    ) -> dict[str, Any]:
        """The first entity of a domain that a config entry creates (waits for it)."""
        async with stage(step, limit_s, self.log):
            found = await poll(lambda: self.entities_of(entry_id, domain), 0.5)
        return found[0]

    async def state(self, entity_id: str) -> dict[str, Any]:
        """The current state object of an entity."""
        assert self.rest is not None
        return dict(await self.rest.get(f"/api/states/{entity_id}"))

    async def call_service(self, domain: str, service: str, **data: Any) -> None:
        """Call an action (service) through the websocket API."""
        assert self.ws is not None
        await self.ws.call("call_service", domain=domain, service=service, service_data=data)

    # --- integrations ------------------------------------------------------------------

    async def add_wyoming(self, name: str, port: int) -> dict[str, Any]:
        """Add a Wyoming service through HA's Wyoming config flow."""
        assert self.rest is not None
        return await run_flow(
            self.rest,
            f"add Wyoming integration for {name}",
            "wyoming",
            {"user": {"host": "127.0.0.1", "port": port}},
            log_hint=self.log,
        )

    async def add_esphome(
        self, port: int, encryption_key: str | None, device_log: Path
    ) -> dict[str, Any]:
        """Adopt the satellite through HA's ESPHome config flow.

        When HA cannot talk to the device the device's log says why, so errors point there.
        """
        assert self.rest is not None
        answers: dict[str, Any] = {"user": {"host": "127.0.0.1", "port": port}}
        if encryption_key:
            answers["encryption_key"] = {"noise_psk": encryption_key}
        return await run_flow(
            self.rest, "add ESPHome integration", "esphome", answers, log_hint=device_log
        )

    async def add_milo(
        self, llm_url: str, satellite_device_id: str | None
    ) -> tuple[dict[str, Any], str]:
        """Add the Milo integration and point its conversation agent at the demo's
        weather entity and satellite; returns the entry and the agent's entity id."""
        assert self.rest is not None
        assert self.ws is not None
        step = "add Milo integration"
        created = await run_flow(
            self.rest,
            step,
            "milo",
            {"user": {"url": llm_url}, "model": keep_current()},
            log_hint=self.log,
        )
        entry_id = created["result"]["entry_id"]
        subentries = await self.ws.call("config_entries/subentries/list", entry_id=entry_id)
        agents = [s for s in subentries if s["subentry_type"] == "conversation"]
        if not agents:
            raise StageError(step, "the Milo entry has no conversation subentry", self.log)
        options: dict[str, Any] = {
            "weather_entity": WEATHER_ENTITY,
            "llm_hass_api": ["assist"],
        }
        if satellite_device_id:
            options["satellite_device"] = satellite_device_id
        await run_flow(
            self.rest,
            "configure Milo's conversation agent",
            [entry_id, "conversation"],
            {"set_options": keep_current(**options)},
            kind="subentry",
            init={"subentry_id": agents[0]["subentry_id"]},
            success_aborts=("reconfigure_successful",),
            log_hint=self.log,
        )
        agent = await self.wait_entity("Milo conversation agent", entry_id, "conversation")
        return created, agent["entity_id"]

    async def set_surf_source(self, entry_id: str, base_url: str) -> None:
        """Point Milo's surf forecast at another Open-Meteo (the entry's options flow)."""
        assert self.rest is not None
        await run_flow(
            self.rest,
            "point Milo's surf forecast at the recorded-forecast stand-in",
            entry_id,
            {"init": {"marine_url": f"{base_url}/marine", "forecast_url": f"{base_url}/forecast"}},
            kind="options",
            log_hint=self.log,
        )

    async def create_pipeline(self, name: str, conversation: str, stt: str, tts: str) -> str:
        """Create an Assist pipeline; the first one made becomes the preferred one."""
        assert self.ws is not None
        step = f"create Assist pipeline {name}"
        try:
            stt_language = await self._engine_language("stt", stt)
            tts_language = await self._engine_language("tts", tts)
            pipeline = await self.ws.call(
                "assist_pipeline/pipeline/create",
                name=name,
                language="en",
                conversation_engine=conversation,
                conversation_language="en",
                stt_engine=stt,
                stt_language=stt_language,
                tts_engine=tts,
                tts_language=tts_language,
                tts_voice=None,
                wake_word_entity=None,
                wake_word_id=None,
                # Device commands go to HA's own intents first; Milo answers the rest.
                prefer_local_intents=True,
            )
            if name == PIPELINE_NAME:
                await self.ws.call(
                    "assist_pipeline/pipeline/set_preferred", pipeline_id=pipeline["id"]
                )
        except HaApiError as err:
            raise StageError(step, str(err), self.log) from err
        return str(pipeline["id"])

    async def _engine_language(self, kind: str, engine_id: str) -> str:
        """The engine's best match for English (e.g. "en_US" for a piper voice)."""
        assert self.ws is not None
        engines = (await self.ws.call(f"{kind}/engine/list", language="en"))["providers"]
        for engine in engines:
            if engine["engine_id"] == engine_id and engine["supported_languages"]:
                return str(engine["supported_languages"][0])
        raise StageError("create Assist pipeline", f"{engine_id} does not offer English", self.log)
