"""The Wyoming `handle` program, driven by the real wyoming client and the real model."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
import json

from llm_checks import assert_english
import pytest
from wyoming.asr import Transcript
from wyoming.client import AsyncTcpClient
from wyoming.error import Error
from wyoming.event import Event
from wyoming.handle import Handled, HandledChunk, HandledStart, HandledStop
from wyoming.info import Describe, Info
from wyoming.ping import Ping, Pong

from milo_services.llm.conversations import ConversationMemory
from milo_services.llm.engine import ChatEngine
from milo_services.llm.model import ChatModel
from milo_services.llm.wyoming_handler import complete_sentences


async def ask(client: AsyncTcpClient, text: str, context: dict | None = None) -> list[Event]:
    """Send a transcript and collect events up to handled-stop (or an error)."""
    await client.write_event(Transcript(text, context=context).event())
    events: list[Event] = []
    async with asyncio.timeout(120):
        while True:
            event = await client.read_event()
            assert event is not None, "connection closed before the answer"
            events.append(event)
            if HandledStop.is_type(event.type) or Error.is_type(event.type):
                return events


async def send_raw(port: int, raw: bytes) -> list[Event]:
    """Write raw bytes, then read every event until the server closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    await writer.drain()
    events = []
    async with asyncio.timeout(30):
        while line := await reader.readline():
            header = json.loads(line)
            data = header.get("data") or {}
            if header.get("data_length"):
                data.update(json.loads(await reader.readexactly(header["data_length"])))
            events.append(Event(type=header["type"], data=data))
    writer.close()
    return events


async def test_describe(wyoming_port: int, chat_model: ChatModel) -> None:
    async with AsyncTcpClient("127.0.0.1", wyoming_port) as client:
        await client.write_event(Describe().event())
        event = await client.read_event()
    assert event is not None
    info = Info.from_event(event)
    (program,) = info.handle
    assert program.name == "milo-llm"
    assert program.installed
    assert program.supports_handled_streaming
    assert program.version
    assert program.attribution.name
    (model,) = program.models
    assert model.name == chat_model.model_id
    assert model.languages == ["en"]
    assert model.attribution.name == "HuggingFaceTB"
    assert (info.asr, info.tts, info.intent) == ([], [], [])


async def test_transcript_is_answered_streaming(wyoming_port: int) -> None:
    async with AsyncTcpClient("127.0.0.1", wyoming_port) as client:
        events = await ask(client, "What's the surf like in Portrush today?")
    start, *chunks, handled, stop = events
    assert HandledStart.is_type(start.type)
    assert HandledStop.is_type(stop.type)
    assert Handled.is_type(handled.type)
    assert chunks
    assert all(HandledChunk.is_type(chunk.type) for chunk in chunks)
    text = Handled.from_event(handled).text
    streamed = "".join(HandledChunk.from_event(c).text for c in chunks).strip()
    assert_english(streamed)
    # The same answer; cut back to a full sentence if it hit the token limit.
    assert text
    assert streamed.startswith(text)
    # A new conversation gets an id the client can send back to continue it.
    conversation_id = HandledStart.from_event(start).context["conversation_id"]
    assert conversation_id
    assert Handled.from_event(handled).context == {"conversation_id": conversation_id}


async def test_conversation_memory(wyoming_port: int, memory: ConversationMemory) -> None:
    context = {"conversation_id": "01JTESTCONVERSATION", "device_id": "kitchen"}
    async with AsyncTcpClient("127.0.0.1", wyoming_port) as client:
        first = await ask(client, "My name is Aoife.", context)
        second = await ask(client, "What is my name?", context)
    assert Handled.from_event(first[-2]).context == context
    assert Handled.from_event(second[-2]).context == context

    turns = memory.history("01JTESTCONVERSATION")
    assert [t["role"] for t in turns] == ["user", "assistant", "user", "assistant"]
    assert turns[0]["content"] == "My name is Aoife."
    assert turns[3]["content"] == Handled.from_event(second[-2]).text
    assert memory.history("someone-else") == []


async def test_memory_is_trimmed_to_the_context(
    wyoming_port: int, memory: ConversationMemory, chat_model: ChatModel
) -> None:
    """A very long conversation keeps only the newest turns that fit --n-ctx."""
    filler = " ".join(["waves"] * 150)
    long_history = []
    for index in range(20):
        long_history += [
            {"role": "user", "content": f"Question {index}: {filler}"},
            {"role": "assistant", "content": f"Answer {index}."},
        ]
    memory.remember("long", long_history)

    async with AsyncTcpClient("127.0.0.1", wyoming_port) as client:
        events = await ask(client, "And now?", {"conversation_id": "long"})
    assert Handled.is_type(events[-2].type)

    turns = memory.history("long")
    assert 2 <= len(turns) < len(long_history)
    assert turns[-2] == {"role": "user", "content": "And now?"}
    assert turns[0]["role"] == "user"
    assert turns[-4]["content"].startswith("Question 19:")  # the newest survived
    assert not any(t["content"].startswith("Question 0:") for t in turns)
    kept_tokens = sum(chat_model.count_tokens(t["content"]) for t in turns)
    assert kept_tokens < chat_model.n_ctx


async def test_ping_and_several_questions_on_one_connection(wyoming_port: int) -> None:
    async with AsyncTcpClient("127.0.0.1", wyoming_port) as client:
        await client.write_event(Ping(text="hi").event())
        pong = await client.read_event()
        assert pong is not None
        assert Pong.is_type(pong.type)
        for question in ("Hello!", "Do you like milk?"):
            events = await ask(client, question)
            assert Handled.is_type(events[-2].type)


async def test_malformed_json_line(wyoming_port: int) -> None:
    events = await send_raw(wyoming_port, b"{this is not json\n")
    assert [e.type for e in events] == ["error"]
    assert events[0].data["code"] == "bad-json"
    await assert_still_serving(wyoming_port)


async def test_unknown_event_type(wyoming_port: int) -> None:
    events = await send_raw(wyoming_port, b'{"type": "teleport", "data": {}}\n')
    assert [e.type for e in events] == ["error"]
    assert events[0].data["code"] == "unknown-event"
    await assert_still_serving(wyoming_port)


async def test_oversized_data_is_refused_without_reading_it(wyoming_port: int) -> None:
    header = {"type": "transcript", "data_length": 50_000_000_000}
    events = await send_raw(wyoming_port, json.dumps(header).encode() + b"\n")
    assert [e.type for e in events] == ["error"]
    assert events[0].data["code"] == "too-large"
    await assert_still_serving(wyoming_port)


async def test_audio_payload_is_refused(wyoming_port: int) -> None:
    header = {"type": "audio-chunk", "data": {"rate": 16000}, "payload_length": 4}
    events = await send_raw(wyoming_port, json.dumps(header).encode() + b"\n\0\0\0\0")
    assert [e.type for e in events] == ["error"]
    assert events[0].data["code"] == "too-large"


async def test_bad_transcripts(wyoming_port: int) -> None:
    for data in ({"text": "   "}, {}, {"text": "hi", "context": "nope"}):
        line = json.dumps({"type": "transcript", "data": data}).encode() + b"\n"
        events = await send_raw(wyoming_port, line)
        assert [e.type for e in events] == ["error"], data
    await assert_still_serving(wyoming_port)


async def test_too_long_transcript_gets_an_error_and_the_connection_stays(
    wyoming_port: int,
) -> None:
    async with AsyncTcpClient("127.0.0.1", wyoming_port) as client:
        events = await ask(client, " ".join(["surf"] * 4000))
        assert [e.type for e in events] == ["error"]
        assert events[0].data["code"] == "cannot-answer"
        assert "--n-ctx" in events[0].data["text"]
        events = await ask(client, "Short one now.")
        assert Handled.is_type(events[-2].type)


async def test_client_leaving_mid_answer_stops_generation(
    start_wyoming: Callable[[int], Awaitable[int]], engine: ChatEngine
) -> None:
    wyoming_port = await start_wyoming(1500)
    cancelled_before = engine.stats.cancelled
    reader, writer = await asyncio.open_connection("127.0.0.1", wyoming_port)
    # Ask for something long and hang up right after the first chunk.
    writer.write(
        json.dumps(
            {"type": "transcript", "data": {"text": "Count slowly from one to one hundred."}}
        ).encode()
        + b"\n"
    )
    await writer.drain()
    async with asyncio.timeout(60):
        while b"handled-chunk" not in await reader.readline():
            pass
    writer.close()

    async with asyncio.timeout(60):
        await engine.wait_idle()
    assert engine.stats.cancelled == cancelled_before + 1
    await assert_still_serving(wyoming_port)


async def test_eight_clients_at_once(wyoming_port: int) -> None:
    async def one(question: str) -> str:
        async with AsyncTcpClient("127.0.0.1", wyoming_port) as client:
            events = await ask(client, question)
        assert Handled.is_type(events[-2].type), events[-1]
        return Handled.from_event(events[-2]).text or ""

    subjects = ["cats", "dogs", "milk", "surfing", "rain", "robots", "music", "the sea"]
    answers = await asyncio.gather(*(one(f"Say something about {s}.") for s in subjects))
    assert len(answers) == 8
    assert all(answer.strip() for answer in answers)


async def assert_still_serving(port: int) -> None:
    async with AsyncTcpClient("127.0.0.1", port) as client:
        await client.write_event(Describe().event())
        event = await client.read_event()
    assert event is not None
    assert Info.is_type(event.type)


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        ("Hello there. I am Mil", "Hello there."),
        ('Wow! Really? "Yes." And then', 'Wow! Really? "Yes."'),
        ("Pi is 3.14 and", "Pi is 3.14 and"),
        ("No full stop at all", "No full stop at all"),
        ("Done.", "Done."),
    ],
)
def test_answers_cut_by_the_token_limit_end_on_a_sentence(text: str, spoken: str) -> None:
    assert complete_sentences(text) == spoken
