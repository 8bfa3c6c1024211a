"""The console scripts as users run them: start, answer, announce, stop on SIGTERM."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import contextlib
from pathlib import Path
import signal
import socket
import subprocess
import sys

import pytest
from wyoming.client import AsyncTcpClient
from wyoming.info import Describe, Info
from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

from milo_services import __version__
from tests.services.helpers import read_until

BIN = Path(sys.executable).parent
STARTUP_TIMEOUT = 120.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def running(script: str, *args: str) -> AsyncIterator[tuple[asyncio.subprocess.Process, int]]:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        str(BIN / script),
        "--uri",
        f"tcp://127.0.0.1:{port}",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        async with asyncio.timeout(STARTUP_TIMEOUT):
            while True:
                assert process.returncode is None, await process.stdout.read()  # type: ignore[union-attr]
                try:
                    async with AsyncTcpClient("127.0.0.1", port) as client:
                        await client.write_event(Describe().event())
                        await read_until(client, "info")
                    break
                except OSError:
                    await asyncio.sleep(0.2)
        yield process, port
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


@pytest.mark.parametrize(("script", "kind"), [("milo-stt", "asr"), ("milo-tts", "tts")])
async def test_serves_then_stops_cleanly_on_sigterm(script: str, kind: str):
    async with running(script, "--debug") as (process, port):
        async with AsyncTcpClient("127.0.0.1", port) as client:
            await client.write_event(Describe().event())
            info = Info.from_event((await read_until(client, "info"))[-1])
        assert getattr(info, kind)[0].name == script
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(60):
            output = (await process.stdout.read()).decode()  # type: ignore[union-attr]
            assert await process.wait() == 0, output
    assert "Stopped tcp://127.0.0.1" in output


async def test_zeroconf_announces_the_wyoming_service():
    name = f"milo-test-{free_port()}"
    async with running("milo-stt", "--zeroconf", name) as (_process, port):
        zeroconf = AsyncZeroconf()
        try:
            info = AsyncServiceInfo("_wyoming._tcp.local.", f"{name}._wyoming._tcp.local.")
            assert await info.async_request(zeroconf.zeroconf, 10_000)
            assert info.port == port
        finally:
            await zeroconf.async_close()


@pytest.mark.parametrize("script", ["milo-stt", "milo-tts"])
async def test_version_flag(script: str):
    process = await asyncio.create_subprocess_exec(
        str(BIN / script), "--version", stdout=asyncio.subprocess.PIPE
    )
    stdout, _ = await process.communicate()
    assert process.returncode == 0
    assert stdout.decode().strip() == __version__


async def test_missing_voice_is_a_clear_error(tmp_path: Path):
    process = await asyncio.create_subprocess_exec(
        str(BIN / "milo-tts"),
        "--voice",
        "en_GB-nobody-low",
        "--data-dir",
        str(tmp_path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    assert process.returncode != 0
    assert "voice 'en_GB-nobody-low' not found" in output.decode()


async def test_voice_by_name_from_data_dir(tmp_path: Path):
    from milo_services.tts.voice import embedded_voice, find_voice

    files = embedded_voice()
    (tmp_path / "voices").mkdir()
    (tmp_path / "voices" / "en_US-joe-medium.onnx").symlink_to(files.model)
    (tmp_path / "voices" / "en_US-joe-medium.onnx.json").symlink_to(files.config)
    found = find_voice("en_US-joe-medium", [str(tmp_path)])
    assert found.model == tmp_path / "voices" / "en_US-joe-medium.onnx"
    assert find_voice(str(files.model), []).name == "en_US-joe-medium"


@pytest.mark.parametrize("service", ["milo-stt", "milo-tts", "milo-llm"])
@pytest.mark.parametrize(
    ("uri", "why"),
    [
        ("bogus://nowhere", "only tcp:// and unix://"),
        ("tcp://localhost", "needs a host and a port"),
        ("tcp://localhost:port", "needs a host and a port"),
        ("unix://", "needs a socket path"),
    ],
)
def test_a_bad_uri_is_refused_before_the_model_loads(service: str, uri: str, why: str) -> None:
    """Exit code 2 and argparse's one line, not a traceback after seconds of loading."""
    done = subprocess.run(
        [str(Path(sys.executable).parent / service), "--uri", uri],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert f"argument --uri: {uri!r}: " in done.stderr
    assert why in done.stderr
    assert "Traceback" not in done.stderr
    assert "Loading" not in done.stderr
