"""Milo's agent against the real `milo-llm` with its embedded model (SmolLM2-135M)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
import logging
from pathlib import Path
import re
import sys
import time
from typing import Any

import aiohttp
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.milo import persona
from custom_components.milo.client import OpenAICompatibleClient, StreamEvent
from custom_components.milo.guards import MAX_WORDS, REPEAT_TURNS
from custom_components.milo.sentences import heard, words

from .conftest import agent_subentry, spot_subentries
from .test_conversation import ask, speech

MILO_LLM = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "milo-llm"
READY = re.compile(r"HTTP API ready on (http://\S+/v1)")
START_TIMEOUT = 300

pytestmark = pytest.mark.slow


def recorder(
    sent: list[dict[str, Any]], answered: asyncio.Event | None = None
) -> Callable[..., AsyncIterator[StreamEvent]]:
    """The real client's `async_stream_chat` (to patch in), noting each request in `sent`:
    its messages and options, and the server's usage once the stream has been read to its
    end (the agent stops listening once it has enough sentences; the usage comes last, so
    the rest is read here). `answered` is set each time a stream has ended."""
    stream_chat = OpenAICompatibleClient.async_stream_chat

    async def record(
        client: OpenAICompatibleClient, model: str, messages: list, **kwargs: Any
    ) -> AsyncIterator[StreamEvent]:
        request: dict[str, Any] = {"messages": messages, **kwargs}
        sent.append(request)
        events = stream_chat(client, model, messages, **kwargs)
        try:
            async for event in events:
                request["usage"] = event.usage or request.get("usage")
                yield event
        finally:
            async for event in events:
                request["usage"] = event.usage or request.get("usage")
            if answered is not None:
                answered.set()

    return record


@pytest.fixture
async def milo_llm(
    socket_enabled: None, unused_tcp_port_factory, tmp_path: Path
) -> AsyncIterator[str]:
    """Run milo-llm (built by script/setup into .venv) and return its base URL."""
    if not MILO_LLM.exists():
        pytest.fail(f"{MILO_LLM} is missing: run script/setup to install wyoming_services")
    log = tmp_path / "milo-llm.log"
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            str(MILO_LLM),
            "--uri",
            f"tcp://127.0.0.1:{unused_tcp_port_factory()}",
            "--http-host",
            "127.0.0.1",
            "--http-port",
            str(unused_tcp_port_factory()),
            "--threads",
            "1",
            stdout=out,
            stderr=out,
        )
    loop = asyncio.get_running_loop()
    try:
        # Real-time polling in a thread: the tests freeze the event loop's clock.
        deadline = time.perf_counter() + START_TIMEOUT
        while not (match := READY.search(log.read_text(errors="replace"))):
            if proc.returncode is not None or time.perf_counter() > deadline:
                pytest.fail(f"milo-llm did not start: {log.read_text(errors='replace')[-2000:]}")
            await loop.run_in_executor(None, time.sleep, 0.2)
        yield match.group(1)
    finally:
        if proc.returncode is None:
            proc.terminate()
            await proc.wait()
        sys.stderr.write(log.read_text(errors="replace")[-1500:])


MORE_SMALL_TALK = (
    "What do you do all day?",
    "Do you like the sea?",
    "What's your favourite colour?",
    "Do you ever sleep?",
    "What makes you happy?",
    "Is it nice being small?",
)


def _server_counts(caplog: pytest.LogCaptureFixture) -> list[Any]:
    """The server's own prompt token counts the agent logged, one per finished stream."""
    return [
        record.args
        for record in caplog.records
        if record.getMessage().startswith("The server counted")
    ]


@pytest.mark.usefixtures("portrush", "cloud")
async def test_round_trips_with_the_real_milo_llm(
    hass: HomeAssistant,
    make_entry,
    milo_llm: str,
    smart_home: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Small talk in a home full of devices reaches the model; so do a device question and surf.

    The agent sizes its prompts by the context milo-llm reports (no override), and its
    token estimates are never below milo-llm's own count.
    """
    entry = make_entry(subentries=[agent_subentry(), *spot_subentries()])
    model = await set_up_on(hass, entry, milo_llm)
    assert await entry.runtime_data.client.async_context_length(model) == 4096

    with caplog.at_level(logging.DEBUG, logger="custom_components.milo"):
        chat = await ask(hass, "Hi Milo, how are you today?", device_id=smart_home)
        answer = speech(chat)
        assert answer
        assert persona.OFFLINE_SENTENCE not in answer

        lamp = await ask(
            hass, "is the kitchen lamp good enough for reading?", chat.conversation_id, smart_home
        )
        assert persona.OFFLINE_SENTENCE not in speech(lamp)

        surf = await ask(hass, "How's the surf at East Strand today?", chat.conversation_id)
        answer = speech(surf)
        assert answer
        assert persona.OFFLINE_SENTENCE not in answer

        # More small talk until two streams have ended on their own: the lamp's, the
        # remark's and a long answer's are often stopped early (a sentence refused, forty
        # words reached), and then the server counts nothing.
        for question in MORE_SMALL_TALK:
            if len(_server_counts(caplog)) >= 2:
                break
            more = await ask(hass, question, chat.conversation_id)
            assert persona.OFFLINE_SENTENCE not in speech(more)

    counts = _server_counts(caplog)
    prompts = [r for r in caplog.records if r.getMessage().startswith("Prompt of about")]
    assert len(prompts) >= 3  # the small talk, the device question and the surf remark
    # The server counts at the end of a stream: a remark stopped early (cut short, or a
    # sentence refused) has no count.
    assert len(counts) >= 2
    for counted, estimated, _cached in counts:  # type: ignore[misc]
        assert counted <= estimated
    small_talk = counts[0]
    assert small_talk[0] < 200  # persona, time and the question: no tools, no device list
    assert not any("Not asking the model" in r.getMessage() for r in caplog.records)


# Small talk in one conversation, as the character benchmark asks it (bench/character).
SMALL_TALK = (
    "Hi Milo!",
    "What's your name?",
    "Tell me a joke.",
    "Another one, please.",
    "You're useless.",
    "Tell me something funny about robots.",
    "I smell gas in the kitchen, what should I do?",
    "Thanks, bye!",
)


@pytest.mark.usefixtures("portrush", "cloud")
async def test_small_talk_in_character_with_the_real_model(
    hass: HomeAssistant, make_entry, milo_llm: str
) -> None:
    """The embedded model, with the line bank and the guards, in one conversation: every
    answer is said, short, plain text, never repeats a sentence of the last five turns,
    knows it is Milo, and is never the "offline" excuse while the server is up."""
    entry = make_entry(subentries=[agent_subentry()])
    await set_up_on(hass, entry, milo_llm)

    conversation_id = None
    said: list[set[tuple[str, ...]]] = []
    for question in SMALL_TALK:
        result = await ask(hass, question, conversation_id)
        conversation_id = result.conversation_id
        answer = speech(result)
        sys.stderr.write(f"{question!r} -> {answer!r}\n")
        assert answer, question
        assert persona.OFFLINE_SENTENCE not in answer
        assert len(words(answer)) <= MAX_WORDS, answer
        assert not re.search(r"[()\[\]*]", answer), answer
        sentences = set(heard(answer))
        for earlier in said[-REPEAT_TURNS:]:
            assert not sentences & earlier, answer
        said.append(sentences)
        if question == "What's your name?":
            assert "Milo" in answer


async def set_up_on(hass: HomeAssistant, entry: MockConfigEntry, base_url: str) -> str:
    """Point the entry at the server, with the model id the config flow would pick (the
    server's first, asked with the integration's own client), and set it up; the model id."""
    async with aiohttp.ClientSession() as session:
        models = await OpenAICompatibleClient(session, base_url, None).async_list_models()
    hass.config_entries.async_update_entry(
        entry, data={**entry.data, "url": base_url, "model": models[0]}
    )
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return models[0]
