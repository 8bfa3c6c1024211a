"""Milo sends the home's names to the real milo-stt, which HA's own Wyoming STT then uses.

A real HA with its Wyoming integration set up on a real `milo-stt` (the embedded whisper
tiny.en, run from .venv); speech is espeak-ng's, which tiny.en mishears where it doesn't
know a name. Everything is heard through HA's STT entity, which sends milo-stt nothing but
the language: the names come only from what Milo pushed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
import re
import subprocess
import sys
import time
from typing import Any

from homeassistant.components import conversation, stt
from homeassistant.components.homeassistant.exposed_entities import async_expose_entity
from homeassistant.core import HomeAssistant
from homeassistant.helpers import area_registry as ar, entity_registry as er
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed
from wyoming.client import AsyncTcpClient
from wyoming.event import Event
from wyoming.info import Describe, Info

from custom_components.milo.diagnostics import async_get_config_entry_diagnostics
from custom_components.milo.stt_names import (
    NAMES_EVENT,
    RESEND_INTERVAL,
    SETTLE_SECONDS,
    TOPIC_WORDS,
    async_stt_names,
)

MILO_STT = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "milo-stt"
START_TIMEOUT = 120
RATE = 16_000

pytestmark = pytest.mark.slow


@pytest.fixture
async def milo_stt(
    socket_enabled: None, unused_tcp_port_factory, tmp_path: Path
) -> AsyncIterator[int]:
    """Run milo-stt (built by script/setup into .venv); its port once it answers."""
    if not MILO_STT.exists():
        pytest.fail(f"{MILO_STT} is missing: run script/setup to install wyoming_services")
    port = unused_tcp_port_factory()
    log = tmp_path / "milo-stt.log"
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            str(MILO_STT), "--uri", f"tcp://127.0.0.1:{port}", "--debug", stdout=out, stderr=out
        )
    loop = asyncio.get_running_loop()
    try:
        # Real-time polling in a thread: the tests freeze the event loop's clock.
        deadline = time.perf_counter() + START_TIMEOUT
        while not await _answers(port):
            if proc.returncode is not None or time.perf_counter() > deadline:
                pytest.fail(f"milo-stt did not start: {log.read_text(errors='replace')[-2000:]}")
            await loop.run_in_executor(None, time.sleep, 0.3)
        yield port
    finally:
        if proc.returncode is None:
            proc.terminate()
            await proc.wait()
        sys.stderr.write(log.read_text(errors="replace")[-1500:])


async def _answers(port: int) -> bool:
    try:
        async with AsyncTcpClient("127.0.0.1", port) as client:
            await client.write_event(Describe().event())
            return (await client.read_event()) is not None
    except OSError:
        return False


async def add_wyoming(hass: HomeAssistant, port: int) -> tuple[str, str]:
    """HA's Wyoming integration on milo-stt; its entry and the STT entity it makes."""
    entry = MockConfigEntry(domain="wyoming", data={"host": "127.0.0.1", "port": port})
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    entities = er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
    return entry.entry_id, next(e.entity_id for e in entities if e.domain == "stt")


def espeak(text: str) -> bytes:
    """espeak-ng's en-us voice as HA sends it: 16 kHz 16-bit mono PCM."""
    wav = subprocess.run(
        ["espeak-ng", "-v", "en-us+m3", "-s", "150", "--stdout", text],
        check=True,
        capture_output=True,
    ).stdout
    return subprocess.run(
        ["sox", "-t", "wav", "-", "-t", "raw", "-r", str(RATE), "-b", "16", "-c", "1", "-e",
         "signed-integer", "-"],
        input=wav,
        check=True,
        capture_output=True,
    ).stdout  # fmt: skip


async def hear(hass: HomeAssistant, entity_id: str, text: str) -> str:
    """What HA's STT entity hears when `text` is spoken, normalised to lower-case words."""
    entity = stt.async_get_speech_to_text_entity(hass, entity_id)
    assert entity is not None
    pcm = await hass.async_add_executor_job(espeak, text)

    async def stream() -> AsyncIterator[bytes]:
        for start in range(0, len(pcm), 3200):
            yield pcm[start : start + 3200]

    metadata = stt.SpeechMetadata(
        language="en",
        format=stt.AudioFormats.WAV,
        codec=stt.AudioCodecs.PCM,
        bit_rate=stt.AudioBitRates.BITRATE_16,
        sample_rate=stt.AudioSampleRates.SAMPLERATE_16000,
        channel=stt.AudioChannels.CHANNEL_MONO,
    )
    result = await entity.async_process_audio_stream(metadata, stream())
    assert result.result == stt.SpeechResultState.SUCCESS
    return " ".join(re.findall(r"[a-z]+", (result.text or "").lower()))


async def settle(hass: HomeAssistant) -> None:
    """Let the names' debounce run out and the send to milo-stt finish."""
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=SETTLE_SECONDS + 1))
    await hass.async_block_till_done(wait_background_tasks=True)


@pytest.mark.usefixtures("portrush")
async def test_milo_stt_hears_the_names_milo_sends_and_follows_changes(
    hass: HomeAssistant, milo_stt: int, setup_entry: Callable[..., Any]
) -> None:
    assert await async_setup_component(hass, "homeassistant", {})
    wyoming_entry, stt_entity = await add_wyoming(hass, milo_stt)
    request = "Milo, what's the surf like at West Strand?"
    before = await hear(hass, stt_entity, request)
    assert "west strand" not in before, before  # tiny.en alone: "west trend"

    entry = await setup_entry()
    await settle(hass)
    heard = await hear(hass, stt_entity, request)
    assert heard.startswith("milo"), heard
    assert "west strand" in heard, heard
    saved = (await async_get_config_entry_diagnostics(hass, entry))["milo_stt_names"]
    assert saved == {f"127.0.0.1:{milo_stt}": {"names": 8, "in_prompt": 8}}  # and 5 topic words

    # A new device and a room: sent once the registries settle, heard at once.
    vacuum = "Start Roborock Downstairs."
    assert "roborock" not in await hear(hass, stt_entity, vacuum)
    area = ar.async_get(hass).async_create("Snug")
    registry = er.async_get(hass)
    robot = registry.async_get_or_create("switch", "test", "robo", original_name="Roborock")
    registry.async_update_entity(robot.entity_id, area_id=area.id, aliases={"Roborock Downstairs"})
    hass.states.async_set(robot.entity_id, "off", {"friendly_name": "Roborock"})
    await settle(hass)
    assert "roborock downstairs" in await hear(hass, stt_entity, vacuum)
    names = async_stt_names(hass)
    assert names[:4] == ["Milo", "East Strand", "West Strand", "Snug"]
    assert names[-len(TOPIC_WORDS) :] == list(TOPIC_WORDS)
    assert "Roborock Downstairs" in names  # its alias, which HA's intents match it by

    # No longer exposed to Assist: gone from the list, and from what milo-stt hears.
    async_expose_entity(hass, conversation.DOMAIN, robot.entity_id, False)
    await settle(hass)
    assert "Roborock Downstairs" not in async_stt_names(hass)
    assert "roborock" not in await hear(hass, stt_entity, vacuum)

    # A milo-stt that lost the names (restarted) has them back when its Wyoming entry
    # (re)loads, and otherwise at the next resend.
    for comeback in ("reload", "resend"):
        async with AsyncTcpClient("127.0.0.1", milo_stt) as client:
            await client.write_event(Event(NAMES_EVENT, {"names": []}))
            assert (await client.read_event()) is not None
        assert "west strand" not in await hear(hass, stt_entity, request)
        if comeback == "reload":
            assert await hass.config_entries.async_reload(wyoming_entry)
        else:
            async_fire_time_changed(hass, dt_util.utcnow() + RESEND_INTERVAL)
        await settle(hass)
        assert "west strand" in await hear(hass, stt_entity, request), comeback


async def test_milo_stt_refuses_bad_names_with_a_clear_error(milo_stt: int) -> None:
    async with AsyncTcpClient("127.0.0.1", milo_stt) as client:
        await client.write_event(Event(NAMES_EVENT, {"names": ["Milo", 7]}))
        reply = await client.read_event()
    assert reply is not None
    assert reply.type == "error"
    assert reply.data["text"] == "milo-names: 'names' must be a list of strings"
    async with AsyncTcpClient("127.0.0.1", milo_stt) as client:  # the server still serves
        await client.write_event(Describe().event())
        reply = await client.read_event()
    assert reply is not None
    assert Info.from_event(reply).asr[0].name == "milo-stt"
