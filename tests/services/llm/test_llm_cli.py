"""`milo-llm` as users (and the Home Assistant tests) run it: a real subprocess."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import contextlib
import os
from pathlib import Path
import re
import signal
import socket
import sys
import uuid

from aiohttp import ClientSession
from llm_checks import assert_english
import pytest
from wyoming.asr import Transcript
from wyoming.client import AsyncTcpClient
from wyoming.handle import Handled
from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

from milo_services import __version__
from milo_services.llm.__main__ import build_parser
from milo_services.llm.persona import load_system_prompt

READY_HTTP = re.compile(r"HTTP API ready on http://[^:]+:(\d+)/v1")
READY_WYOMING = re.compile(r"Wyoming server ready on tcp://[^:]+:(\d+)")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Service:
    """A running milo-llm with the ports it reported."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.log: list[str] = []
        self.http_port: int | None = None
        self.wyoming_port: int | None = None

    async def wait_ready(self) -> None:
        assert self.process.stderr is not None
        async with asyncio.timeout(120):
            while self.wyoming_port is None:
                line = (await self.process.stderr.readline()).decode()
                assert line, "milo-llm exited early:\n" + "".join(self.log)
                self.log.append(line)
                if match := READY_HTTP.search(line):
                    self.http_port = int(match.group(1))
                if match := READY_WYOMING.search(line):
                    self.wyoming_port = int(match.group(1))

    async def terminate(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            return await self.process.wait()


@contextlib.asynccontextmanager
async def milo_llm(*args: str, env: dict[str, str] | None = None) -> AsyncIterator[Service]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "milo_services.llm",
        "--uri",
        "tcp://127.0.0.1:0",
        *args,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    service = Service(process)
    try:
        await service.wait_ready()
        yield service
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_serves_both_protocols_and_stops_cleanly_on_sigterm() -> None:
    name = f"milo-llm-test-{uuid.uuid4().hex[:8]}"
    http_port = free_port()
    async with milo_llm(
        "--http-host", "127.0.0.1", "--http-port", str(http_port),
        "--zeroconf", name, "--n-ctx", "512", "--max-tokens", "16",
        env={"MILO_LLM_API_KEY": "k"},  # the key stays out of `ps`
    ) as service:  # fmt: skip
        assert service.http_port == http_port
        assert service.wyoming_port

        async with ClientSession(headers={"Authorization": "Bearer k"}) as http:
            body = {"messages": [{"role": "user", "content": "Hi Milo!"}], "max_tokens": 16}
            url = f"http://127.0.0.1:{http_port}/v1/chat/completions"
            async with http.post(url, json=body) as response:
                assert response.status == 200
                reply = await response.json()
        assert_english(reply["choices"][0]["message"]["content"])

        async with AsyncTcpClient("127.0.0.1", service.wyoming_port) as client:
            await client.write_event(Transcript("Hello there!").event())
            while True:
                event = await client.read_event()
                assert event is not None
                if Handled.is_type(event.type):
                    break
        assert Handled.from_event(event).text

        zeroconf = AsyncZeroconf()
        try:
            milo = AsyncServiceInfo("_milo-llm._tcp.local.", f"{name}._milo-llm._tcp.local.")
            wyoming = AsyncServiceInfo("_wyoming._tcp.local.", f"{name}._wyoming._tcp.local.")
            async with asyncio.timeout(30):
                while not await milo.async_request(zeroconf.zeroconf, 3000):
                    pass
                while not await wyoming.async_request(zeroconf.zeroconf, 3000):
                    pass
        finally:
            await zeroconf.async_close()
        assert milo.port == http_port
        assert milo.properties == {
            b"path": b"/v1",
            b"version": __version__.encode(),
            b"http_port": str(http_port).encode(),
        }
        assert wyoming.port == service.wyoming_port

        assert await service.terminate() == 0


async def test_http_port_zero_turns_http_off() -> None:
    async with milo_llm("--http-port", "0", "--n-ctx", "512", "--max-tokens", "8") as service:
        assert service.http_port is None
        assert not any("HTTP API" in line for line in service.log)
        async with AsyncTcpClient("127.0.0.1", service.wyoming_port) as client:
            await client.write_event(Transcript("Hi").event())
            assert await client.read_event() is not None
        assert await service.terminate() == 0


async def test_system_prompt_file(tmp_path: Path) -> None:
    persona = tmp_path / "persona.txt"
    persona.write_text("You are Milo the pirate robot. Say arr.\n")
    async with milo_llm(
        "--http-port", "0", "--n-ctx", "512", "--system-prompt-file", str(persona)
    ) as service:
        assert any("persona prefix cached" in line for line in service.log)
        assert await service.terminate() == 0


def test_empty_system_prompt_file_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n")
    with pytest.raises(ValueError, match="empty"):
        load_system_prompt(empty)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "/nonexistent/model.gguf"], "does not exist"),
        (["--model", __file__], "cannot load"),
        (["--n-ctx", "16"], "--n-ctx"),
        (["--http-port", "70000"], "--http-port"),
        (["--uri", "unix:///tmp/milo-llm-test.sock", "--zeroconf"], "--zeroconf"),
        (["--uri", "http://localhost:1"], "--uri"),
    ],
)
async def test_bad_arguments_exit_with_a_message(args: list[str], message: str) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "milo_services.llm", *args, stderr=asyncio.subprocess.PIPE
    )
    async with asyncio.timeout(60):
        _stdout, stderr = await process.communicate()
    assert process.returncode != 0
    assert message in stderr.decode()


async def test_port_in_use_exits_with_a_message() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "milo_services.llm", "--uri", f"tcp://127.0.0.1:{port}",
            "--http-port", "0", "--n-ctx", "256",
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        async with asyncio.timeout(120):
            _stdout, stderr = await process.communicate()
    assert process.returncode != 0
    assert "milo-llm:" in stderr.decode()
    assert "Traceback" not in stderr.decode()


def test_default_context_fits_milo_agents_prompt() -> None:
    """4096 tokens: persona, a few device tools and history (the integration's assumption)."""
    assert build_parser().parse_args([]).n_ctx == 4096
