"""The OpenAI-compatible HTTP API, driven by a real aiohttp client and the real model."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import Any

from aiohttp import ClientSession
from llm_checks import assert_english
import pytest

from milo_services.llm.engine import ChatEngine
from milo_services.llm.http_api import MAX_BODY_BYTES

SURF_TOOL = {
    "type": "function",
    "function": {
        "name": "get_surf",
        "description": "Surf forecast for a Portrush beach",
        "parameters": {
            "type": "object",
            "properties": {"beach": {"type": "string", "enum": ["East Strand", "West Strand"]}},
            "required": ["beach"],
        },
    },
}
LIGHT_TOOL = {
    "type": "function",
    "function": {
        "name": "HassTurnOn",
        "description": "Turns on a device",
        "parameters": {
            "type": "object",
            "properties": {"name": {"type": "string"}},
            "required": ["name"],
        },
    },
}
QUESTION = [{"role": "user", "content": "Hello Milo, how is your day going?"}]


async def post(http: ClientSession, base: str, body: Any) -> tuple[int, dict]:
    if isinstance(body, dict):
        body = {"seed": 7, **body}  # reproducible answers from run to run
    async with http.post(f"{base}/v1/chat/completions", json=body) as response:
        return response.status, await response.json()


async def read_sse(http: ClientSession, base: str, body: dict) -> list[dict]:
    """All SSE events, checking the framing: `data: ` lines, blank separators, [DONE] last."""
    body = {"seed": 7, **body, "stream": True}
    async with http.post(f"{base}/v1/chat/completions", json=body) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        raw = (await response.read()).decode()
    assert raw.endswith("data: [DONE]\n\n")
    events = [block for block in raw.split("\n\n") if block]
    assert all(block.startswith("data: ") and "\n" not in block for block in events)
    assert events[-1] == "data: [DONE]"
    return [json.loads(block.removeprefix("data: ")) for block in events[:-1]]


def refusals(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The warnings milo-llm logged about requests it refused."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and r.getMessage().startswith("Refused ")
    ]


async def test_models_list(http: ClientSession, http_base: str, engine: ChatEngine) -> None:
    async with http.get(f"{http_base}/v1/models") as response:
        assert response.status == 200
        listing = await response.json()
    assert listing["object"] == "list"
    assert [m["id"] for m in listing["data"]] == [engine.model.model_id]
    assert listing["data"][0]["object"] == "model"
    # Clients size their prompts by it (the Milo integration does).
    assert listing["data"][0]["context_length"] == engine.model.n_ctx == 1024

    async with http.get(f"{http_base}/v1/models/{engine.model.model_id}") as response:
        assert response.status == 200
    async with http.get(f"{http_base}/v1/models/gpt-4o") as response:
        assert response.status == 404
        assert (await response.json())["error"]["code"] == "model_not_found"


async def test_chat_completion(http: ClientSession, http_base: str, engine: ChatEngine) -> None:
    status, reply = await post(
        http, http_base, {"model": engine.model.model_id, "messages": QUESTION, "max_tokens": 32}
    )
    assert status == 200
    assert reply["object"] == "chat.completion"
    assert reply["id"].startswith("chatcmpl-")
    assert reply["model"] == engine.model.model_id
    (choice,) = reply["choices"]
    assert choice["message"]["role"] == "assistant"
    assert choice["finish_reason"] in ("stop", "length")
    assert "tool_calls" not in choice["message"]
    assert_english(choice["message"]["content"])
    usage = reply["usage"]
    assert 0 < usage["completion_tokens"] <= 34
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    # The persona prefix was processed at start-up, not for this request.
    assert usage["prompt_tokens_details"]["cached_tokens"] >= 50


async def test_streaming_sse(http: ClientSession, http_base: str) -> None:
    chunks = await read_sse(
        http,
        http_base,
        {"messages": QUESTION, "max_tokens": 24, "stream_options": {"include_usage": True}},
    )
    *deltas, usage_chunk = chunks
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert len({c["id"] for c in chunks}) == 1
    assert deltas[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in deltas)
    assert_english(text)
    assert len(deltas) >= 4, "the answer should arrive in several chunks"
    finals = [c["choices"][0]["finish_reason"] for c in deltas if c["choices"][0]["finish_reason"]]
    assert finals in (["stop"], ["length"])
    assert deltas[-1]["choices"][0]["finish_reason"] == finals[0]
    assert usage_chunk["choices"] == []
    assert usage_chunk["usage"]["completion_tokens"] > 0


async def test_forced_tool_call(http: ClientSession, http_base: str) -> None:
    status, reply = await post(
        http,
        http_base,
        {
            "messages": [{"role": "user", "content": "How are the waves at the East Strand?"}],
            "tools": [LIGHT_TOOL, SURF_TOOL],
            "tool_choice": {"type": "function", "function": {"name": "get_surf"}},
            "max_tokens": 120,
        },
    )
    assert status == 200
    (choice,) = reply["choices"]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    (call,) = choice["message"]["tool_calls"]
    assert call["type"] == "function"
    assert call["id"].startswith("call_")
    assert call["function"]["name"] == "get_surf"
    arguments = json.loads(call["function"]["arguments"])
    assert arguments["beach"] in ("East Strand", "West Strand")


async def test_required_tool_call_streams_tool_deltas(http: ClientSession, http_base: str) -> None:
    chunks = await read_sse(
        http,
        http_base,
        {
            "messages": [{"role": "user", "content": "Turn on the kitchen light"}],
            "tools": [LIGHT_TOOL, SURF_TOOL],
            "tool_choice": "required",
            "max_tokens": 120,
        },
    )
    deltas = [c["choices"][0]["delta"] for c in chunks]
    tool_deltas = [d["tool_calls"][0] for d in deltas if "tool_calls" in d]
    assert tool_deltas, json.dumps(deltas)
    header, *argument_parts = tool_deltas
    assert header["index"] == 0
    assert header["type"] == "function"
    assert header["id"].startswith("call_")
    assert header["function"]["name"] in ("HassTurnOn", "get_surf")
    arguments = "".join(part["function"]["arguments"] for part in argument_parts)
    assert isinstance(json.loads(arguments), dict)
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


async def test_auto_tools_answer_is_text_or_well_formed_calls(
    http: ClientSession, http_base: str
) -> None:
    """A 135M model decides poorly, but whatever it decides must come out well-formed."""
    status, reply = await post(
        http,
        http_base,
        {
            "messages": [{"role": "user", "content": "Switch on the fan please"}],
            "tools": [LIGHT_TOOL],
            "max_tokens": 48,
        },
    )
    assert status == 200
    message = reply["choices"][0]["message"]
    if message.get("tool_calls"):
        assert reply["choices"][0]["finish_reason"] == "tool_calls"
        for call in message["tool_calls"]:
            assert call["function"]["name"] == "HassTurnOn"
            json.loads(call["function"]["arguments"])
    else:
        assert message["content"].strip()


async def test_tool_result_round_trip(http: ClientSession, http_base: str) -> None:
    messages = [
        {"role": "user", "content": "How is the surf at the West Strand?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_abc",
                    "type": "function",
                    "function": {"name": "get_surf", "arguments": '{"beach": "West Strand"}'},
                }
            ],
        },
        {
            "role": "tool",
            "tool_call_id": "call_abc",
            "content": '{"wave_height_m": 1.4, "period_s": 9}',
        },
    ]
    status, reply = await post(
        http, http_base, {"messages": messages, "tools": [SURF_TOOL], "max_tokens": 40}
    )
    assert status == 200
    message = reply["choices"][0]["message"]
    assert message["content"] or message.get("tool_calls")


@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, 401), ({"Authorization": "Bearer wrong"}, 401), ({"Authorization": "Basic x"}, 401)],
)
async def test_api_key_is_required(
    http_base: str, headers: dict, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    async with (
        ClientSession(headers=headers) as anonymous,
        anonymous.get(f"{http_base}/v1/models") as response,
    ):
        assert response.status == status
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert (await response.json())["error"]["code"] == "invalid_api_key"
        async with anonymous.get(f"{http_base}/health") as health:
            assert health.status == 200
    [refusal] = refusals(caplog)
    assert refusal.startswith("Refused GET /v1/models from 127.0.0.1 (401 invalid_api_key): ")
    assert refusal.endswith("Fix: the client's API key must match --api-key (or MILO_LLM_API_KEY).")


async def test_bad_requests_get_json_errors(
    http: ClientSession, http_base: str, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"{http_base}/v1/chat/completions"
    cases: list[tuple[bytes, int, str | None]] = [
        (b"{not json", 400, "invalid_json"),
        (b"\xff\xfe", 400, "invalid_json"),
        (
            b'{"messages": [{"role": "user", "content": "x"}], "temperature": NaN}',
            400,
            "invalid_json",
        ),
        (b"[1, 2]", 400, None),
        (
            b'{"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]}',
            404,
            "model_not_found",
        ),
        (b'{"messages": [{"role": "user", "content": "x"}], "max_tokens": -5}', 400, None),
    ]
    for body, status, code in cases:
        async with http.post(url, data=body, headers={"Content-Type": "application/json"}) as r:
            assert r.status == status, body
            error = (await r.json())["error"]
            assert error["code"] == code
            assert error["type"] == "invalid_request_error"
            assert error["message"]
    logged = refusals(caplog)
    assert len(logged) == len(cases)
    assert (
        "(404 model_not_found): The model 'gpt-4o' does not exist. This server serves " in logged[4]
    )
    assert logged[4].endswith("Fix: the client must ask for a model that GET /v1/models lists.")


async def test_oversized_body_is_refused(http: ClientSession, http_base: str) -> None:
    big = json.dumps({"messages": [{"role": "user", "content": "x" * (MAX_BODY_BYTES + 10)}]})
    async with http.post(f"{http_base}/v1/chat/completions", data=big) as response:
        assert response.status == 413
        assert (await response.json())["error"]["message"]


@pytest.mark.parametrize("stream", [False, True])
async def test_prompt_longer_than_the_context(
    http: ClientSession, http_base: str, stream: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """Refused with a status code even when streaming: headers wait for the first token.

    The log says by how much, and what to do about it.
    """
    words = " ".join(["surf"] * 4000)
    body = {"messages": [{"role": "user", "content": words}], "stream": stream}
    status, reply = await post(http, http_base, body)
    assert status == 400
    assert reply["error"]["code"] == "context_length_exceeded"
    [refusal] = refusals(caplog)
    assert re.fullmatch(
        r"Refused POST /v1/chat/completions from 127\.0\.0\.1 \(400 context_length_exceeded\): "
        r"the prompt needs \d{4} tokens but the context window \(--n-ctx\) holds 1024\. "
        r"Fix: start milo-llm with a larger --n-ctx, .*",
        refusal,
    )


async def test_unknown_route_and_method(
    http: ClientSession, http_base: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with http.get(f"{http_base}/v1/nothing-here") as response:
        assert response.status == 404
        assert "error" in await response.json()
    async with http.get(f"{http_base}/v1/chat/completions") as response:
        assert response.status == 405
        assert "error" in await response.json()
    assert [refusal.split(":")[0] for refusal in refusals(caplog)] == [
        "Refused GET /v1/nothing-here from 127.0.0.1 (404 invalid_request_error)",
        "Refused GET /v1/chat/completions from 127.0.0.1 (405 invalid_request_error)",
    ]


# A grammar that cannot end before thousands of characters: the model is
# guaranteed to still be generating when the client hangs up.
ENDLESS = {
    "messages": QUESTION,
    "max_tokens": 1800,
    "response_format": {
        "type": "json_schema",
        "json_schema": {
            "name": "long",
            "schema": {
                "type": "object",
                "properties": {"story": {"type": "string", "minLength": 4000}},
                "required": ["story"],
            },
        },
    },
}


async def assert_cancelled(engine: ChatEngine, before: int) -> None:
    async with asyncio.timeout(60):
        await engine.wait_idle()
    assert engine.stats.cancelled == before + 1


async def test_client_leaving_mid_stream_stops_generation(
    http_base: str, http: ClientSession, engine: ChatEngine
) -> None:
    cancelled_before = engine.stats.cancelled
    async with ClientSession(headers=dict(http.headers)) as leaving:
        response = await leaving.post(
            f"{http_base}/v1/chat/completions", json={**ENDLESS, "stream": True}
        )
        assert response.status == 200
        await response.content.readuntil(b"\n\n")  # the role chunk
        await response.content.readuntil(b"\n\n")  # the first words
        response.close()  # hang up without reading the rest

    await assert_cancelled(engine, cancelled_before)
    status, reply = await post(http, http_base, {"messages": QUESTION, "max_tokens": 16})
    assert status == 200
    assert reply["choices"][0]["message"]["content"]


async def test_client_leaving_before_a_plain_answer_stops_generation(
    http_base: str, http: ClientSession, engine: ChatEngine
) -> None:
    cancelled_before = engine.stats.cancelled
    completed_before = engine.stats.completed
    request = asyncio.create_task(post(http, http_base, ENDLESS))
    await asyncio.sleep(1.5)  # well into generation
    request.cancel()  # closes the connection
    await assert_cancelled(engine, cancelled_before)
    assert engine.stats.completed == completed_before


async def test_shutdown_ends_a_stream_with_an_error_event(
    http_base: str, http: ClientSession, engine: ChatEngine
) -> None:
    async with http.post(
        f"{http_base}/v1/chat/completions", json={**ENDLESS, "stream": True}
    ) as response:
        assert response.status == 200
        await response.content.readuntil(b"\n\n")
        await engine.shutdown(grace_s=0.2)
        events = [e for e in (await response.read()).decode().split("\n\n") if e]
    assert events[-1] == "data: [DONE]"
    error = json.loads(events[-2].removeprefix("data: "))["error"]
    assert error["code"] == "shutting_down"

    status, reply = await post(http, http_base, {"messages": QUESTION})
    assert status == 503
    assert reply["error"]["type"] == "server_error"


async def test_eight_clients_at_once(http: ClientSession, http_base: str) -> None:
    questions = [
        f"Give me one word that rhymes with {w}."
        for w in ["cat", "dog", "sun", "sea", "car", "hat", "bed", "cup"]
    ]
    results = await asyncio.gather(
        *(
            post(http, http_base, {"messages": [{"role": "user", "content": q}], "max_tokens": 16})
            for q in questions
        )
    )
    assert [status for status, _reply in results] == [200] * 8
    for _status, reply in results:
        assert reply["choices"][0]["message"]["content"].strip()
