"""The whole demo stack, started and configured in order, and stopped without leftovers.

Used by `script/demo`, tests/e2e and bench/pipeline, so the three exercise the same setup.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
import logging
from pathlib import Path
import shutil
from typing import Any

from .errors import StageError, poll, stage
from .ha_api import HaApiError
from .homeassistant import PEER_PIPELINE, PIPELINE_NAME, HassProcess
from .open_meteo import OpenMeteoStandIn
from .processes import Supervisor, free_port
from .satellite import NAME as SATELLITE_NAME, SimulatedSatellite
from .scenario import BUDDY
from .services import Service, milo_services, peer_services, start_service

_LOGGER = logging.getLogger(__name__)

SERVICE_START_S = 180.0
SATELLITE_START_S = 120.0
ADOPT_S = 120.0
ENROL_S = 60.0


@dataclass
class Ports:
    """Contract defaults (docs/contracts.md); taken ones are replaced by free ports."""

    hass: int = 8123
    stt: int = 10300
    tts: int = 10200
    llm: int = 10500
    llm_http: int = 10501
    satellite: int = 6053
    peer_stt: int = 10301
    peer_tts: int = 10201
    open_meteo: int = 8091  # the recorded-forecast stand-in (not in the contracts)

    @classmethod
    def pick(cls, *, defaults: bool) -> Ports:
        """Defaults where free (the demo), or all ephemeral (tests and the benchmark)."""
        ports = cls()
        for name, port in vars(ports).items():
            setattr(ports, name, free_port(port if defaults else None))
        return ports


@dataclass
class StackOptions:
    """What to run and where to keep the run's files."""

    repo: Path
    run_dir: Path
    # Also run wyoming-faster-whisper and wyoming-piper behind a second pipeline (benchmark).
    peers: bool = False
    default_ports: bool = True
    encryption: bool = True  # a Noise key, as ESPHome's `api: encryption: key:`
    # "recorded": surf from the local Open-Meteo stand-in, labelled as recorded;
    # "offline": Open-Meteo's public APIs, which this machine cannot reach.
    surf: str = "recorded"
    # The venv whose `hass` runs: .venv-ha (the release the unit tests pin) or .venv-ha-next.
    ha_venv: str = ".venv-ha"


@dataclass
class Configured:
    """What the demo created in HA, for the scenario and the report."""

    pipelines: dict[str, str] = field(default_factory=dict)  # name -> pipeline id
    agent_entity: str = ""
    satellite_device: str = ""
    satellite_entity: str = ""
    pipeline_select: str = ""
    entries: dict[str, str] = field(default_factory=dict)  # what -> config entry id


class DemoStack:
    """Services + simulated satellite + hass, configured through HA's APIs."""

    def __init__(self, options: StackOptions) -> None:
        self.options = options
        self.ports = Ports.pick(defaults=options.default_ports)
        self.supervisor = Supervisor(options.run_dir / "logs")
        self.hass = HassProcess(
            self.supervisor,
            options.repo,
            options.run_dir / "config",
            self.ports.hass,
            options.ha_venv,
        )
        self.satellite = SimulatedSatellite(
            self.supervisor,
            options.repo,
            options.run_dir,
            self.ports.satellite,
            encryption=options.encryption,
        )
        self.configured = Configured()
        self.pipeline = ""  # the id of the pipeline the satellite uses now
        self.open_meteo = (
            OpenMeteoStandIn(self.ports.open_meteo) if options.surf == "recorded" else None
        )

    async def start(self) -> None:
        """Start and configure everything; on failure, stop what was started."""
        try:
            await self._start()
        except HaApiError as err:
            await self.stop()
            raise StageError("configure Home Assistant", str(err), self.hass.log) from err
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        logs = self.supervisor.logs_dir
        if logs.exists():
            await asyncio.to_thread(shutil.rmtree, logs)
        p = self.ports
        stt, tts, llm = milo_services(self.options.repo, p.stt, p.tts, p.llm, p.llm_http)
        pipelines = {PIPELINE_NAME: (stt, tts)}
        if self.options.peers:
            peer_data = self.options.run_dir / "peer-data"
            await asyncio.to_thread(peer_data.mkdir, parents=True, exist_ok=True)
            peer_stt, peer_tts = peer_services(self.options.repo, p.peer_stt, p.peer_tts, peer_data)
            pipelines[PEER_PIPELINE] = (peer_stt, peer_tts)
        services = [llm, *(s for pair in pipelines.values() for s in pair)]
        if self.open_meteo is not None:
            await self.open_meteo.start()
        # The services load their models while the satellite and hass start. A TaskGroup,
        # so the first failure cancels the other starts instead of leaving them running.
        try:
            async with asyncio.TaskGroup() as group:
                for service in services:
                    group.create_task(start_service(self.supervisor, service, SERVICE_START_S))
                group.create_task(self.satellite.start(SATELLITE_START_S))
                group.create_task(self.hass.start())
        except BaseExceptionGroup as failed:
            raise failed.exceptions[0] from None
        await self._configure(pipelines)

    async def _configure(self, pipelines: dict[str, tuple[Service, Service]]) -> None:
        hass, done = self.hass, self.configured
        engines: dict[str, str] = {}
        for stt, tts in pipelines.values():
            for service, domain in ((stt, "stt"), (tts, "tts")):
                entry = await hass.add_wyoming(service.name, service.port)
                entry_id = done.entries[service.name] = entry["result"]["entry_id"]
                entity = await hass.wait_entity(f"{service.name} entity", entry_id, domain)
                engines[service.name] = entity["entity_id"]
        entry = await hass.add_esphome(
            self.ports.satellite, self.satellite.encryption_key, self.satellite.log
        )
        done.entries["esphome"] = entry["result"]["entry_id"]
        satellite = await hass.wait_entity(
            "ESPHome assist satellite", done.entries["esphome"], "assist_satellite", ADOPT_S
        )
        done.satellite_entity = satellite["entity_id"]
        done.satellite_device = satellite["device_id"]
        await self._enrol_buddy()
        entry, done.agent_entity = await hass.add_milo(
            f"http://127.0.0.1:{self.ports.llm_http}/v1", done.satellite_device
        )
        done.entries["milo"] = entry["result"]["entry_id"]
        if self.open_meteo is not None:
            await hass.set_surf_source(done.entries["milo"], self.open_meteo.base_url)
        for name, (stt, tts) in pipelines.items():
            done.pipelines[name] = await hass.create_pipeline(
                name, done.agent_entity, engines[stt.name], engines[tts.name]
            )
        await self.use_pipeline(PIPELINE_NAME)

    async def _enrol_buddy(self) -> None:
        """Teach the satellite the face its camera sees, through its HA action, and wait
        until its person sensor names that buddy: real dlib recognition, end to end."""
        step = f"enrol buddy {BUDDY}"
        sensor = await self._satellite_entity("person_in_view", step)
        await self.hass.call_service("esphome", f"{SATELLITE_NAME}_enroll_buddy", name=BUDDY)

        async def recognised() -> bool:
            return bool((await self.hass.state(sensor))["state"] == BUDDY)

        async with stage(step, ENROL_S, self.satellite.log):
            await poll(recognised, 0.5)

    async def _satellite_entity(self, key: str, step: str) -> str:
        """The entity id of one of the satellite's entities (docs/contracts.md object ids)."""
        for entity in await self.hass.entities_of(self.configured.entries["esphome"]):
            if entity["entity_id"].split(".", 1)[1].endswith(key):
                return str(entity["entity_id"])
        raise StageError(step, f"the satellite has no {key} entity", self.hass.log)

    async def set_finished_speaking(self, sensitivity: str) -> None:
        """The satellite's "Finished speaking detection": how long HA's pipeline waits for
        silence before it ends the user's turn (default 0.7 s, relaxed 1.25, aggressive 0.25)."""
        step = f"finished speaking detection {sensitivity}"
        entity_id = await self._satellite_entity("finished_speaking_detection", step)
        await self.hass.call_service(
            "select", "select_option", entity_id=entity_id, option=sensitivity
        )

    async def use_pipeline(self, name: str) -> str:
        """Choose a pipeline in the satellite's own "Assistant" select; returns its id."""
        step = f"assign pipeline {name} to the satellite"
        if not self.configured.pipeline_select:
            selects = await self.hass.entities_of(self.configured.entries["esphome"], "select")
            found = [e for e in selects if e.get("translation_key") == "pipeline"]
            if not found:
                message = "the satellite has no Assistant (pipeline) select"
                raise StageError(step, message, self.hass.log)
            self.configured.pipeline_select = found[0]["entity_id"]
        entity_id = self.configured.pipeline_select
        async with stage(step, 30.0, self.hass.log):
            await self.hass.call_service(
                "select", "select_option", entity_id=entity_id, option=name
            )

            async def chosen() -> bool:
                return bool((await self.hass.state(entity_id))["state"] == name)

            await poll(chosen, 0.2)
        self.pipeline = self.configured.pipelines[name]
        return self.pipeline

    async def surf_report(self) -> dict[str, Any]:
        """Where the surf came from and what the East Strand rating sensor says, with its
        attribution (which says RECORDED when the data is not live)."""
        report: dict[str, Any] = {"source": self.options.surf}
        if self.open_meteo is not None:
            report["stand_in"] = self.open_meteo.base_url
            report["stand_in_requests"] = list(self.open_meteo.requests)
        try:
            state = await self.hass.state("sensor.east_strand_rating")
        except HaApiError as err:
            report["sensor"] = f"unreadable: {err}"
        else:
            report["sensor"] = state["state"]
            report["attribution"] = state["attributes"].get("attribution")
        return report

    async def stop(self) -> list[str]:
        """Stop everything; returns what is still running (should be nothing)."""
        if self.open_meteo is not None:
            await self.open_meteo.stop()
        await self.hass.close()
        await self.supervisor.stop_all()
        return self.supervisor.leftovers()

    def describe(self) -> dict[str, Any]:
        """Where things are, for the report and --keep-running."""
        return {
            "url": self.hass.base_url,
            "username": self.hass.login.username,
            "password": self.hass.login.password,
            "logs": str(self.supervisor.logs_dir),
            "config": str(self.hass.config_dir),
        }
