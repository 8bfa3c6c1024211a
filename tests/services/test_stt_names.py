"""milo-stt keeps the home's names that Home Assistant's Milo integration pushes (`milo-names`)
and biases every later request with them, within Whisper's prompt limit."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

import pytest
from wyoming.asr import Transcribe, Transcript
from wyoming.event import Event

from milo_services.stt.__main__ import build_info
from milo_services.stt.biasing import (
    MAX_HOME_NAMES,
    NAMES_EVENT,
    NAMES_SAVED_EVENT,
    PROMPT_MAX_TOKENS,
    Vocabulary,
)
from milo_services.stt.handler import SttHandler
from milo_services.stt.transcriber import Transcriber
from tests.services.helpers import ThreadedServer, audio_events, espeak, normalize, read_until

HOME = ["Milo", "East Strand", "West Strand", "Snug", "Roborock Downstairs"]


@pytest.fixture
def server(transcriber: Transcriber) -> Iterator[ThreadedServer]:
    """A milo-stt of its own: the names pushed here must not reach other tests' server."""
    factory = partial(
        SttHandler,
        info=build_info(transcriber),
        transcriber=transcriber,
        vocabulary=Vocabulary(transcriber.count_tokens),
    )
    with ThreadedServer(factory) as server:
        yield server


async def push(server: ThreadedServer, names: object) -> Event:
    async with server.client() as client:
        await client.write_event(Event(NAMES_EVENT, {"names": names}))
        return (await read_until(client, NAMES_SAVED_EVENT, "error"))[-1]


async def hear(server: ThreadedServer, text: str) -> str:
    async with server.client() as client:
        await client.write_event(Transcribe(language="en").event())  # all HA sends
        for event in audio_events(espeak(text)):
            await client.write_event(event)
        reply = (await read_until(client, "transcript"))[-1]
    return normalize(Transcript.from_event(reply).text)


async def test_pushed_names_bias_every_later_request(server: ThreadedServer) -> None:
    request = "Start Roborock Downstairs."
    assert "roborock" not in await hear(server, request)
    saved = await push(server, HOME)
    assert (saved.type, saved.data) == (NAMES_SAVED_EVENT, {"names": 5, "in_prompt": 5})
    assert "roborock downstairs" in await hear(server, request)
    saved = await push(server, [])  # the whole list each time: an empty one clears it
    assert saved.data == {"names": 0, "in_prompt": 0}


@pytest.mark.parametrize(
    ("names", "error"),
    [
        ("Milo", "'names' must be a list of strings"),
        (["Milo", None], "'names' must be a list of strings"),
        (["x"] * (MAX_HOME_NAMES + 1), f"{MAX_HOME_NAMES + 1} names; at most {MAX_HOME_NAMES}"),
        (["Milo", "a" * 101], f"a name is longer than 100 characters: {'a' * 40!r}…"),
    ],
)  # fmt: skip
async def test_bad_names_get_a_clear_error(
    server: ThreadedServer, names: object, error: str
) -> None:
    reply = await push(server, names)
    assert (reply.type, reply.data["code"]) == ("error", "bad-event")
    assert reply.data["text"] == f"{NAMES_EVENT}: {error}"


def test_the_prompt_keeps_the_first_names_within_whispers_limit(transcriber: Transcriber) -> None:
    """Priority: --hotwords, the request's names, the home's names, the request's terms."""
    vocabulary = Vocabulary(transcriber.count_tokens, ["Portrush"])
    things = [f"Lamp number {n}" for n in range(300)]
    saved = vocabulary.set_home_names([*HOME, *things])
    kept = saved.data["in_prompt"]
    assert 5 + 20 < kept < 305
    prompt = vocabulary.prompt(["Kitchen Lamp"], ["surf"])
    assert prompt is not None
    assert transcriber.count_tokens(prompt) <= PROMPT_MAX_TOKENS
    assert prompt.startswith("Portrush, Kitchen Lamp, Milo, East Strand, West Strand, Snug, ")
    assert "surf" not in prompt  # terms come last, after names that already filled it
    assert vocabulary.prompt() == f"Portrush, {', '.join([*HOME, *things][:kept])}."
