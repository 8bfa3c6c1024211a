"""The OpenAI-compatible client against a real local server sending good and bad streams."""

from __future__ import annotations

from collections.abc import AsyncIterator
import json

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer
import pytest

from custom_components.milo.client import (
    MAX_EVENT_BYTES,
    LLMAuthError,
    LLMConnectionError,
    LLMResponseError,
    OpenAICompatibleClient,
    StreamEvent,
    ToolCallRequest,
    Usage,
)

from .conftest import MODEL, FakeCloud, Reply


@pytest.fixture
async def client(cloud: FakeCloud) -> AsyncIterator[OpenAICompatibleClient]:
    """A client on its own session, talking to the local server."""
    async with aiohttp.ClientSession() as session:
        yield OpenAICompatibleClient(session, cloud.base_url + "/", None)


async def collect(client: OpenAICompatibleClient, **kwargs) -> list[StreamEvent]:
    """All events of one streamed completion."""
    return [
        event
        async for event in client.async_stream_chat(
            MODEL, [{"role": "user", "content": "hi"}], **kwargs
        )
    ]


def data(obj) -> str:
    """One SSE event."""
    return f"data: {json.dumps(obj)}\n\n"


async def test_request_shape_and_text(client: OpenAICompatibleClient, cloud: FakeCloud) -> None:
    """Options go into the request; text arrives in pieces."""
    cloud.reply("one two three")
    events = await collect(client, tools=[{"type": "function"}], temperature=0.1, max_tokens=5)
    assert "".join(e.content or "" for e in events) == "one two three"
    request = cloud.chat_requests()[0]
    assert request["temperature"] == 0.1
    assert request["max_tokens"] == 5
    assert request["tools"] == [{"type": "function"}]


async def test_tool_call_deltas_are_joined(
    client: OpenAICompatibleClient, cloud: FakeCloud
) -> None:
    """Split arguments, servers that send objects, and calls without an index all work."""
    first = {
        "tool_calls": [{"index": 0, "id": "a", "function": {"name": "get_", "arguments": '{"d'}}]
    }
    cloud.reply(
        raw=[
            ": keep-alive comment\n\n",
            "event: message\n",
            data({"choices": [{"delta": first}]}),
            data(
                {
                    "choices": [
                        {
                            "delta": {
                                "tool_calls": [
                                    {
                                        "index": 0,
                                        "function": {"name": "weather", "arguments": 'ay": 1}'},
                                    }
                                ]
                            }
                        }
                    ]
                }
            ),
            data(
                {
                    "choices": [
                        {
                            "delta": {
                                "tool_calls": [
                                    {
                                        "index": 1,
                                        "id": "b",
                                        "function": {"name": "nod", "arguments": {"x": 1}},
                                    }
                                ]
                            }
                        }
                    ]
                }
            ),
            data({"choices": []}),
            data({"choices": [{"delta": {"content": None}}]}),
            "data: [DONE]\n\n",
        ]
    )
    [event] = await collect(client)
    assert event.tool_calls == [
        ToolCallRequest(id="a", name="get_weather", arguments='{"day": 1}'),
        ToolCallRequest(id="b", name="nod", arguments='{"x": 1}'),
    ]
    assert event.tool_calls[0].parsed_arguments() == {"day": 1}
    assert ToolCallRequest("c", "nod", "  ").parsed_arguments() == {}


async def test_multiline_event_and_stream_without_done(
    client: OpenAICompatibleClient, cloud: FakeCloud
) -> None:
    """Data split over lines is one event; a stream that just ends still counts."""
    payload = json.dumps({"choices": [{"delta": {"content": "hi"}}]})
    cloud.reply(raw=[f"data: {payload[:10]}\ndata: {payload[10:]}\n\n", 'data: {"choices"'])
    assert [e.content for e in await collect(client)] == ["hi"]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (["data: {not json\n\n"], "not JSON"),
        ([data({"error": {"message": "model exploded"}})], "model exploded"),
        (["data: " + "x" * (MAX_EVENT_BYTES + 10) + "\n\n"], "too long"),
        (["data: " + "x" * 200_000 + "\n"] * 6 + ["\n"], "too large"),
    ],
)
async def test_bad_streams_raise(
    client: OpenAICompatibleClient, cloud: FakeCloud, raw: list[str], message: str
) -> None:
    """Broken events and oversized lines are errors, never a hang or a crash."""
    cloud.reply(raw=raw)
    with pytest.raises(LLMResponseError, match=message):
        await collect(client)


async def test_http_errors(client: OpenAICompatibleClient, cloud: FakeCloud) -> None:
    """401 is an auth error, 500 a response error."""
    cloud.reply(status=500)
    with pytest.raises(LLMResponseError, match="HTTP 500"):
        await collect(client)
    cloud.api_key = "k"
    with pytest.raises(LLMAuthError):
        await collect(client)
    with pytest.raises(LLMAuthError):
        await client.async_list_models()


async def test_models(client: OpenAICompatibleClient, cloud: FakeCloud) -> None:
    """The model list, and a server that is not OpenAI-compatible."""
    assert await client.async_list_models() == [MODEL]
    cloud.models_status = 404
    with pytest.raises(LLMResponseError):
        await client.async_list_models()


async def test_models_without_data(client: OpenAICompatibleClient, cloud: FakeCloud) -> None:
    """A JSON answer without the data list is not a model list."""
    cloud.models = None
    with pytest.raises(LLMResponseError, match="no data list"):
        await client.async_list_models()


async def test_unreachable(socket_enabled: None, unused_tcp_port: int) -> None:
    """Nothing listening is a connection error."""
    async with aiohttp.ClientSession() as session:
        dead = OpenAICompatibleClient(session, f"http://127.0.0.1:{unused_tcp_port}/v1", None)
        with pytest.raises(LLMConnectionError):
            await dead.async_list_models()
        with pytest.raises(LLMConnectionError):
            await collect(dead)


def test_reply_defaults() -> None:
    """The scripted server's reply record starts empty."""
    assert Reply() == Reply(text="", tool_calls=[], raw=None, status=200)


@pytest.mark.parametrize(
    ("card", "expected"),
    [
        ({"context_length": 4096}, 4096),  # milo-llm, OpenRouter
        ({"max_model_len": 32768}, 32768),  # vLLM
        ({"meta": {"n_ctx_train": 8192}}, None),  # llama.cpp: the training size, not -c
        ({"context_length": "big"}, None),
        ({"context_length": True}, None),
        ({"context_length": 0, "max_model_len": 2048}, 2048),
        ({}, None),  # Ollama
    ],
)
async def test_context_length_from_the_model_card(
    socket_enabled: None, card: dict, expected: int | None
) -> None:
    """Each server's way of reporting the context window, and those that report none."""

    async def models(request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": MODEL, **card}]})

    app = web.Application()
    app.router.add_get("/v1/models", models)
    server = TestServer(app)
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as session:
            client = OpenAICompatibleClient(session, str(server.make_url("/v1")), None)
            assert await client.async_context_length(MODEL) == expected
            assert await client.async_context_length("other-model") is None
    finally:
        await server.close()


async def test_context_length_is_read_once(
    client: OpenAICompatibleClient, cloud: FakeCloud
) -> None:
    """A down server is asked again next time; an answer is remembered."""
    cloud.models_status = 500
    assert await client.async_context_length(MODEL) is None
    cloud.models_status = 200
    cloud.context_length = 2048
    assert await client.async_context_length(MODEL) == 2048
    cloud.context_length = 8192
    assert await client.async_context_length(MODEL) == 2048


async def test_usage_is_reported(client: OpenAICompatibleClient, cloud: FakeCloud) -> None:
    """The final usage chunk (stream_options.include_usage) becomes an event of its own."""
    cloud.reply(
        raw=[
            data({"choices": [{"delta": {"content": "hi"}}]}),
            data(
                {
                    "choices": [],
                    "usage": {"prompt_tokens": 120, "prompt_tokens_details": {"cached_tokens": 90}},
                }
            ),
            data({"choices": [], "usage": {"prompt_tokens": 7}}),
            data({"choices": [], "usage": {"completion_tokens": 7}}),
            "data: [DONE]\n\n",
        ]
    )
    events = await collect(client)
    assert [e.usage for e in events if e.usage] == [Usage(120, 90), Usage(7, 0)]
    assert cloud.chat_requests()[0]["stream_options"] == {"include_usage": True}
