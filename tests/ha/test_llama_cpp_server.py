"""Milo against a second real OpenAI-compatible server: llama-cpp-python's own
`llama_cpp.server`, on the embedded GGUF (SmolLM2-135M), as a user with a bigger box would
run it. What it does differently from milo-llm (docs/integration.md, "Other chat servers"):

- `/v1/models` names the model by its `--model_alias`, else by the GGUF's path, and reports
  no context size, so the agent assumes 4096 while the server's default `--n_ctx` is 2048;
- it ignores `tools` unless the request names a `tool_choice` (Milo never does), and streams
  a forced call with its name and id repeated in every chunk;
- a prompt past `--n_ctx` while streaming is an HTTP 200 with an empty stream;
- `response_format` must be `json_object` (with a `schema`): OpenAI's `json_schema` is an
  HTTP 500 (a validation error).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
import functools
import logging
from pathlib import Path
import re
import subprocess
import sys
import time
from typing import Any

import aiohttp
from homeassistant import config_entries
from homeassistant.const import CONF_API_KEY, CONF_MODEL, CONF_URL
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import HomeAssistantError
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.milo import persona
from custom_components.milo.client import (
    OpenAICompatibleClient,
    ToolCallRequest,
    _merge_chunk,
    _sse_chunks,
)
from custom_components.milo.const import CONF_CONTEXT_SIZE, DOMAIN

from .conftest import agent_subentry, spot_subentries
from .test_ai_task import RATING_STRUCTURE, SURF, generate
from .test_conversation import ask, speech
from .test_real_llm import set_up_on

VENV_PYTHON = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "python"
READY = re.compile(r"Uvicorn running on (http://\S+)")
START_TIMEOUT = 120
ALIAS = "smollm2"
TURN_ON = {
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

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("portrush", "cloud")]

StartServer = Callable[..., Awaitable[str]]


@functools.cache
def _gguf() -> str:
    """The embedded model's file, as .venv's milo-llm finds it."""
    code = (
        "from milo_services.llm.embedded import embedded_model_path; print(embedded_model_path())"
    )
    done = subprocess.run(
        [str(VENV_PYTHON), "-c", code], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


@pytest.fixture
async def llama_cpp_server(
    socket_enabled: None, unused_tcp_port_factory: Callable[[], int], tmp_path: Path
) -> AsyncIterator[StartServer]:
    """Start `python -m llama_cpp.server` from .venv with extra flags; its /v1 base URL."""
    if not VENV_PYTHON.exists():
        pytest.fail(f"{VENV_PYTHON} is missing: run script/setup")
    procs: list[tuple[asyncio.subprocess.Process, Path]] = []

    async def start(*flags: str) -> str:
        log = tmp_path / f"llama_cpp_server{len(procs)}.log"
        with log.open("wb") as out:
            proc = await asyncio.create_subprocess_exec(
                str(VENV_PYTHON),
                "-m",
                "llama_cpp.server",
                "--model",
                _gguf(),
                "--host",
                "127.0.0.1",
                "--port",
                str(unused_tcp_port_factory()),
                "--n_threads",
                "1",
                *flags,
                stdout=out,
                stderr=out,
            )
        procs.append((proc, log))
        # Real-time polling in a thread: the tests freeze the event loop's clock.
        deadline = time.perf_counter() + START_TIMEOUT
        while not (match := READY.search(log.read_text(errors="replace"))):
            if proc.returncode is not None or time.perf_counter() > deadline:
                pytest.fail(f"llama_cpp.server did not start: {log.read_text()[-2000:]}")
            await asyncio.get_running_loop().run_in_executor(None, time.sleep, 0.2)
        return f"{match.group(1)}/v1"

    yield start
    for proc, log in procs:
        if proc.returncode is None:
            proc.terminate()
            await proc.wait()
        sys.stderr.write(log.read_text(errors="replace")[-1500:])


async def _set_up(hass: HomeAssistant, make_entry: Any, base_url: str) -> MockConfigEntry:
    entry: MockConfigEntry = make_entry(subentries=[agent_subentry(), *spot_subentries()])
    model = await set_up_on(hass, entry, base_url)
    assert model == ALIAS
    return entry


async def test_the_config_flow_lists_the_alias_and_refuses_a_wrong_key(
    hass: HomeAssistant, llama_cpp_server: StartServer
) -> None:
    """`--api_key` is checked on /v1/models; the alias is the model to pick."""
    url = await llama_cpp_server("--model_alias", ALIAS, "--api_key", "sesame")
    flow = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_USER}
    )
    wrong = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {CONF_URL: url, CONF_API_KEY: "open"}
    )
    assert wrong["errors"] == {"base": "invalid_auth"}
    model = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {CONF_URL: url, CONF_API_KEY: "sesame"}
    )
    assert model["step_id"] == "model"
    assert model["data_schema"].schema[CONF_MODEL].config["options"] == [ALIAS]
    done = await hass.config_entries.flow.async_configure(flow["flow_id"], {CONF_MODEL: ALIAS})
    assert done["type"] is FlowResultType.CREATE_ENTRY
    assert done["data"][CONF_MODEL] == ALIAS


async def test_without_an_alias_the_model_is_named_by_its_path(
    hass: HomeAssistant, llama_cpp_server: StartServer
) -> None:
    url = await llama_cpp_server()
    async with aiohttp.ClientSession() as session:
        client = OpenAICompatibleClient(session, url, None)
        assert await client.async_list_models() == [_gguf()]
        assert await client.async_context_length(_gguf()) is None


async def test_small_talk_streams_through_the_agent(
    hass: HomeAssistant, make_entry: Any, llama_cpp_server: StartServer
) -> None:
    """The answer arrives in many pieces, and Milo says it (never the offline line)."""
    url = await llama_cpp_server("--model_alias", ALIAS)
    entry = await _set_up(hass, make_entry, url)
    events = [
        event
        async for event in entry.runtime_data.client.async_stream_chat(
            ALIAS, [{"role": "user", "content": "Tell me about the sea."}], max_tokens=24
        )
    ]
    assert len([e for e in events if e.content]) > 3
    answer = speech(await ask(hass, "Hi Milo, how are you today?"))
    assert answer
    assert persona.OFFLINE_SENTENCE not in answer


async def test_tools_are_offered_but_never_called(
    hass: HomeAssistant,
    make_entry: Any,
    llama_cpp_server: StartServer,
    smart_home: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Without `tool_choice` the server drops the tools: Milo answers in words, no error."""
    url = await llama_cpp_server("--model_alias", ALIAS)
    await _set_up(hass, make_entry, url)
    with caplog.at_level(logging.DEBUG, logger="custom_components.milo"):
        answer = speech(
            await ask(hass, "is the kitchen lamp good enough for reading?", None, smart_home)
        )
    offered = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Prompt of")]
    assert any("HassTurnOn" in message for message in offered), offered
    assert answer
    assert persona.OFFLINE_SENTENCE not in answer
    assert not any("failed" in r.getMessage() for r in caplog.records if r.levelname == "WARNING")
    assert hass.states.get("light.kitchen_lamp").state == "off"


async def test_a_forced_tool_call_is_joined_whole(
    hass: HomeAssistant, llama_cpp_server: StartServer
) -> None:
    """A named `tool_choice` streams the call in pieces, each repeating the name and id;
    the client joins them into one call with JSON arguments."""
    url = await llama_cpp_server("--model_alias", ALIAS)
    body = {
        "model": ALIAS,
        "stream": True,
        "max_tokens": 48,
        "messages": [{"role": "user", "content": "Turn on the desk lamp."}],
        "tools": [TURN_ON],
        "tool_choice": {"type": "function", "function": {"name": "HassTurnOn"}},
    }
    calls: dict[int, ToolCallRequest] = {}
    chunks = 0
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{url}/chat/completions", json=body) as resp,
    ):
        assert resp.status == 200
        async for chunk in _sse_chunks(resp):
            chunks += 1
            assert _merge_chunk(chunk, calls) == ""
    assert chunks > 3
    assert list(calls) == [0]
    assert calls[0].name == "HassTurnOn"
    assert calls[0].id.startswith("call_")
    assert isinstance(calls[0].parsed_arguments()["name"], str)


async def test_a_prompt_past_the_servers_context(
    hass: HomeAssistant,
    make_entry: Any,
    llama_cpp_server: StartServer,
    smart_home: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A server started with a smaller context than the 4096 the agent assumes answers the
    long prompt with an empty stream: Milo still says a line. With the agent's context size
    set to the server's, the prompt fits and the model answers."""
    url = await llama_cpp_server("--model_alias", ALIAS, "--n_ctx", "768")
    entry = await _set_up(hass, make_entry, url)
    question = "is the kitchen lamp good enough for reading?"

    def prompts() -> list[tuple[int, int]]:
        """(estimated tokens, allowed) of each prompt sent since the last call."""
        sizes = [
            (int(r.args[0]), int(r.args[1]))  # type: ignore[index]
            for r in caplog.records
            if r.getMessage().startswith("Prompt of about")
        ]
        caplog.clear()
        return sizes

    with caplog.at_level(logging.DEBUG, logger="custom_components.milo"):
        answer = speech(await ask(hass, question, None, smart_home))
        assert answer
        assert persona.OFFLINE_SENTENCE not in answer
        assert any(size > 768 < allowed for size, allowed in prompts())

        subentry = next(iter(entry.subentries.values()))
        hass.config_entries.async_update_subentry(
            entry, subentry, data={**subentry.data, CONF_CONTEXT_SIZE: 768}
        )
        await hass.async_block_till_done()
        answer = speech(await ask(hass, question, None, smart_home))
        assert answer
        assert persona.OFFLINE_SENTENCE not in answer
        sizes = prompts()
        assert sizes
        assert all(size <= allowed < 768 for size, allowed in sizes)


async def test_ai_tasks_text_works_and_a_structure_is_a_clear_error(
    hass: HomeAssistant, make_entry: Any, llama_cpp_server: StartServer
) -> None:
    url = await llama_cpp_server("--model_alias", ALIAS)
    await _set_up(hass, make_entry, url)
    text = await generate(hass, f"Write a one-line notification about this surf: {SURF}")
    assert isinstance(text, str)
    assert text.strip()
    with pytest.raises(HomeAssistantError, match="HTTP 500"):
        await generate(hass, f"Rate this surf: {SURF}", RATING_STRUCTURE)
