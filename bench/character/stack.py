"""What the character benchmark runs: milo-llm, a real Home Assistant with Milo, and facts.

The parts are the demo's own (demo/milo_demo), so the benchmark's Milo is configured exactly
as `script/demo` configures it, through HA's onboarding and config-flow APIs: the demo's
weather entity, the recorded Portrush surf forecast from the local stand-in, HA's Assist
API for devices. Speech is left out (text goes straight to the agent through an Assist
pipeline), and so are the satellite and the camera: the rubric judges words.
Between HA and milo-llm sits the recorder, which keeps what the model was asked.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
import json
from pathlib import Path
import shutil
from typing import Any

from milo_demo.errors import poll, stage
from milo_demo.ha_api import HaApiError
from milo_demo.hass_config import WEATHER_ENTITY
from milo_demo.homeassistant import HassProcess
from milo_demo.open_meteo import OpenMeteoStandIn
from milo_demo.processes import Supervisor, free_port
from milo_demo.services import milo_services, start_service

from .recorder import ModelRecorder

SERVICE_START_S = 180.0
SETUP_S = 60.0
PIPELINE = "Milo character benchmark"
_NOT_FACTS = {"friendly_name", "attribution", "supported_features", "datetime"}
LLM_SERVICE = "milo-llm"


@dataclass
class Facts:
    """What Home Assistant knows, as text: the numbers an answer may use, by kind."""

    weather: str = ""
    surf: str = ""

    def of(self, kind: str) -> str:
        """The facts of one kind ("weather", "surf"), or none for ""."""
        return {"weather": self.weather, "surf": self.surf}.get(kind, "")


@dataclass
class CharacterStack:
    """milo-llm behind the recorder, and hass with Milo's agent and a text-only pipeline."""

    repo: Path
    run_dir: Path
    supervisor: Supervisor = field(init=False)
    hass: HassProcess = field(init=False)
    recorder: ModelRecorder = field(init=False)
    open_meteo: OpenMeteoStandIn = field(init=False)
    llm_http: str = field(init=False)  # milo-llm's own base URL
    agent_entity: str = ""
    pipeline_id: str = ""
    facts: Facts = field(default_factory=Facts)

    def __post_init__(self) -> None:
        self.supervisor = Supervisor(self.run_dir / "logs")
        self.hass = HassProcess(self.supervisor, self.repo, self.run_dir / "config", free_port())
        self.open_meteo = OpenMeteoStandIn(free_port())
        self._llm_ports = (free_port(), free_port())  # Wyoming, HTTP
        self.llm_http = f"http://127.0.0.1:{self._llm_ports[1]}"
        self.recorder = ModelRecorder(self.llm_http, free_port())

    @property
    def llm_log(self) -> Path:
        """milo-llm's log."""
        return self.supervisor.logs_dir / f"{LLM_SERVICE}.log"

    async def start(self) -> None:
        """Start and configure everything; on failure, stop what was started."""
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        logs = self.supervisor.logs_dir
        if logs.exists():
            await asyncio.to_thread(shutil.rmtree, logs)
        (llm,) = [
            service
            for service in milo_services(self.repo, 0, 0, *self._llm_ports)
            if service.name == LLM_SERVICE
        ]
        await self.recorder.start()
        await self.open_meteo.start()
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(start_service(self.supervisor, llm, SERVICE_START_S))
                group.create_task(self.hass.start())
        except BaseExceptionGroup as failed:
            raise failed.exceptions[0] from None
        created, self.agent_entity = await self.hass.add_milo(self.recorder.base_url, None)
        entry_id = created["result"]["entry_id"]
        await self.hass.set_surf_source(entry_id, self.open_meteo.base_url)
        # Saving the options reloads the entry, unless that lands while the reload that
        # add_milo's agent options started is still setting up (the update listener is not
        # back yet): then the surf stays on the public API. Reload once more, for certain.
        assert self.hass.rest is not None
        await self.hass.rest.post(f"/api/config/config_entries/entry/{entry_id}/reload")
        self.pipeline_id = await self._create_pipeline()
        self.facts = await self._read_facts()

    async def _create_pipeline(self) -> str:
        """A text-only Assist pipeline with Milo, HA's own intents first as in the demo."""
        assert self.hass.ws is not None
        pipeline = await self.hass.ws.call(
            "assist_pipeline/pipeline/create",
            name=PIPELINE,
            language="en",
            conversation_engine=self.agent_entity,
            conversation_language="en",
            stt_engine=None,
            stt_language=None,
            tts_engine=None,
            tts_language=None,
            tts_voice=None,
            wake_word_entity=None,
            wake_word_id=None,
            prefer_local_intents=True,
        )
        return str(pipeline["id"])

    async def _read_facts(self) -> Facts:
        """The weather entity's state and forecasts, and the surf report for both days."""
        assert self.hass.ws is not None
        ws = self.hass.ws
        weather_entity = WEATHER_ENTITY
        state = await self.hass.state(weather_entity)
        forecasts: dict[str, list[dict[str, Any]]] = {}
        for kind in ("daily", "hourly"):
            try:
                answer = await ws.call(
                    "call_service",
                    domain="weather",
                    service="get_forecasts",
                    service_data={"type": kind},
                    target={"entity_id": weather_entity},
                    return_response=True,
                )
            except HaApiError:
                continue  # the entity has no forecast of this kind
            forecasts[kind] = answer["response"][weather_entity]["forecast"]
        # The options flow reloads Milo's entry in the background: until the reloaded entry
        # reads the stand-in, the report fails.
        async with stage("read the recorded surf forecast", SETUP_S, self.hass.log):
            surf = await poll(self._surf_reports, 0.5)
        # What an answer could say: the figures and the spoken summaries, not the
        # bookkeeping (dates, bearings' friendly names, attribution) of the raw responses.
        attributes = {k: v for k, v in state["attributes"].items() if k not in _NOT_FACTS}
        forecast = {
            kind: [{k: v for k, v in item.items() if k not in _NOT_FACTS} for item in items]
            for kind, items in forecasts.items()
        }
        return Facts(
            weather=json.dumps({"now": attributes, **forecast}),
            surf=" ".join(str(report["summary"]) for report in surf),
        )

    async def _surf_reports(self) -> list[Any] | None:
        """milo.surf_report for today and tomorrow, or None while it fails."""
        assert self.hass.ws is not None
        reports = []
        for day in ("today", "tomorrow"):
            try:
                report = await self.hass.ws.call(
                    "call_service",
                    domain="milo",
                    service="surf_report",
                    service_data={"day": day},
                    return_response=True,
                )
            except HaApiError:
                return None
            reports.append(report["response"])
        return reports

    async def stop(self) -> list[str]:
        """Stop everything; returns what is still running (should be nothing)."""
        await self.open_meteo.stop()
        await self.recorder.stop()
        await self.hass.close()
        await self.supervisor.stop_all()
        return self.supervisor.leftovers()
