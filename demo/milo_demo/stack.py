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
from .homeassistant import PIPELINE_NAME, HomeAssistant
from .processes import Supervisor, free_port
from .satellite import SimulatedSatellite
from .services import Service, milo_services, peer_services, start_service

_LOGGER = logging.getLogger(__name__)

SERVICE_START_S = 180.0
SATELLITE_START_S = 120.0
ADOPT_S = 120.0


@dataclass
class Ports:
    """Contract defaults (CONTRACTS.md); taken ones are replaced by free ports."""

    hass: int = 8123
    stt: int = 10300
    tts: int = 10200
    llm: int = 10500
    llm_http: int = 10501
    satellite: int = 6053

    @classmethod
    def pick(cls, *, defaults: bool) -> Ports:
        """Defaults where free (the demo), or all ephemeral (tests and the benchmark)."""
        ports = cls()
        for name, port in vars(ports).items():
            setattr(ports, name, free_port(port if defaults else None))
        return ports


@dataclass
class StackOptions:
    """What to run: Milo's services or the peers, and where to keep the run's files."""

    repo: Path
    run_dir: Path
    peers: bool = False
    default_ports: bool = True
    encryption: bool = True


@dataclass
class Configured:
    """What the demo created in HA, for the scenario and the report."""

    pipeline_id: str = ""
    stt_entity: str = ""
    tts_entity: str = ""
    agent_entity: str = ""
    satellite_device: str = ""
    satellite_entity: str = ""
    entries: dict[str, str] = field(default_factory=dict)


class DemoStack:
    """Services + simulated satellite + hass, configured through HA's APIs."""

    def __init__(self, options: StackOptions) -> None:
        self.options = options
        self.ports = Ports.pick(defaults=options.default_ports)
        self.supervisor = Supervisor(options.run_dir / "logs")
        self.hass = HomeAssistant(
            self.supervisor, options.repo, options.run_dir / "config", self.ports.hass
        )
        self.satellite = SimulatedSatellite(
            self.supervisor,
            options.repo,
            options.run_dir,
            self.ports.satellite,
            encryption=options.encryption,
        )
        self.configured = Configured()

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
            shutil.rmtree(logs)
        services = self._services()
        # The services load their models while the satellite and hass start.
        await asyncio.gather(
            *(start_service(self.supervisor, s, SERVICE_START_S) for s in services),
            self.satellite.start(SATELLITE_START_S),
            self.hass.start(),
        )
        stt, tts = services[0], services[1]
        await self._configure(stt, tts)

    def _services(self) -> list[Service]:
        p = self.ports
        milo = milo_services(self.options.repo, p.stt, p.tts, p.llm, p.llm_http)
        if not self.options.peers:
            return milo
        peer_data = self.options.run_dir / "peer-data"
        peer_data.mkdir(parents=True, exist_ok=True)
        # The peers replace STT and TTS only; the brain stays Milo's.
        return [*peer_services(self.options.repo, p.stt, p.tts, peer_data), milo[2]]

    async def _configure(self, stt: Service, tts: Service) -> None:
        hass, done = self.hass, self.configured
        entry = await hass.add_wyoming(stt.name, stt.port)
        done.entries["stt"] = entry["result"]["entry_id"]
        done.stt_entity = (
            await hass.wait_entity("Wyoming STT entity", done.entries["stt"], "stt")
        )["entity_id"]
        entry = await hass.add_wyoming(tts.name, tts.port)
        done.entries["tts"] = entry["result"]["entry_id"]
        done.tts_entity = (
            await hass.wait_entity("Wyoming TTS entity", done.entries["tts"], "tts")
        )["entity_id"]
        entry = await hass.add_esphome(self.ports.satellite, self.satellite.encryption_key)
        done.entries["esphome"] = entry["result"]["entry_id"]
        satellite = await hass.wait_entity(
            "ESPHome assist satellite", done.entries["esphome"], "assist_satellite", ADOPT_S
        )
        done.satellite_entity = satellite["entity_id"]
        done.satellite_device = satellite["device_id"]
        entry, done.agent_entity = await hass.add_milo(
            f"http://127.0.0.1:{self.ports.llm_http}/v1", done.satellite_device
        )
        done.entries["milo"] = entry["result"]["entry_id"]
        done.pipeline_id = await hass.create_pipeline(
            done.agent_entity, done.stt_entity, done.tts_entity
        )
        await self._assign_pipeline()

    async def _assign_pipeline(self) -> None:
        """Choose the Milo pipeline in the satellite's own "Assistant" select."""
        step = "assign the pipeline to the satellite"
        selects = await self.hass.entities_of(self.configured.entries["esphome"], "select")
        pipeline_select = [e for e in selects if e.get("translation_key") == "pipeline"]
        if not pipeline_select:
            raise StageError(
                step, "the satellite has no Assistant (pipeline) select", self.hass.log
            )
        entity_id = pipeline_select[0]["entity_id"]
        async with stage(step, 30.0, self.hass.log):
            await self.hass.call_service(
                "select", "select_option", entity_id=entity_id, option=PIPELINE_NAME
            )

            async def chosen() -> bool:
                return bool((await self.hass.state(entity_id))["state"] == PIPELINE_NAME)

            await poll(chosen, 0.2)

    async def stop(self) -> list[str]:
        """Stop everything; returns what is still running (should be nothing)."""
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
