"""The fillers' owner when the TTS cannot be reached: none are ready, Milo keeps to the
thinking sound (rendering with the real milo-tts is in test_satellite_name_mode.py)."""

from __future__ import annotations

from pathlib import Path
import socket

from aioesphomeapi import APIClient, VoiceAssistantEventType as Ev
import pytest
from satellite_helpers import SINK_FORMAT, FakeHA, Speech, eventually, make_milo, send, subscribe

from milo_satellite.voice.fillers import Fillers


def _closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{sock.getsockname()[1]}"


async def test_no_tts_means_the_thinking_sound(
    tmp_path: Path, speech: Speech, caplog: pytest.LogCaptureFixture
) -> None:
    fillers = Fillers(_closed_port(), ["Processing.", "Hold on."], SINK_FORMAT)
    milo = await make_milo(tmp_path, thinking="filler", fillers=fillers)
    client = APIClient("127.0.0.1", milo.server.port, None)
    await client.connect(login=True)
    try:
        await eventually(lambda: "Cannot render filler 'Processing.'" in caplog.text)
        assert "Hold on." not in caplog.text  # one failure is enough to give up
        assert fillers.pick() is None
        ha = FakeHA()
        subscribe(client, ha)
        await eventually(lambda: milo.voice.connected)
        milo.mic.say(speech.wake_word)
        await eventually(lambda: ha.starts)
        send(client, Ev.VOICE_ASSISTANT_STT_END, text="why")
        await eventually(lambda: any(p.name.endswith("thinking.wav") for p in milo.played()))
    finally:
        await client.disconnect()
        await milo.close()


def test_a_rendered_filler_is_picked() -> None:
    fillers = Fillers("tcp://127.0.0.1:1", ["a", "b"], SINK_FORMAT)
    fillers.ready.extend([b"a", b"b"])
    assert {fillers.pick() for _ in range(50)} == {b"a", b"b"}
