"""Hostile input against the satellite: nothing one LAN client does keeps HA out or
reads the disk, and the satellite survives bad files and a SIGKILL cleanly."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import contextlib
import logging
import os
from pathlib import Path
import signal
import stat
import subprocess
import sys
import time
import tracemalloc

from aioesphomeapi import APIClient, EntityInfo
import numpy as np
import pytest
from satellite_helpers import SINK_FORMAT, Milo, eventually, make_milo

from milo_satellite.api import APIServer, DeviceIdentity, UserAction
from milo_satellite.head.buddies import STRANGER, BuddyDatabase
from milo_satellite.voice.audio import FolderSink
from milo_satellite.voice.player import AudioPlayer

REPO = Path(__file__).resolve().parents[2]
KEY = "ozGEoGSL0bbfJ3Ynlc4dLwafVlf9fEbTc3BwEmRIdf0="
PING = b"\x00\x00\x07"  # a plaintext PingRequest: allowed before hello
NOISE_HELLO = b"\x01\x00\x00"  # the empty client hello that opens a Noise handshake
STRANGERS = 8  # as many as the satellite takes connections


Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@contextlib.asynccontextmanager
async def _strangers(port: int, opening: bytes, trickle: bytes) -> AsyncIterator[list[Conn]]:
    """Connections that never say hello: half silent, half trickling `trickle` every 2 s
    (a ping, or one byte of a Noise frame that never completes)."""
    conns = [await asyncio.open_connection("127.0.0.1", port) for _ in range(STRANGERS)]
    for _, writer in conns:
        writer.write(opening)

    async def keep_alive() -> None:
        while True:
            await asyncio.sleep(2)
            for _, writer in conns[::2]:
                with contextlib.suppress(ConnectionError):
                    writer.write(trickle)

    task = asyncio.create_task(keep_alive())
    try:
        await asyncio.sleep(0.5)  # all of them are in
        yield conns
    finally:
        task.cancel()
        for _, writer in conns:
            writer.close()


async def _client_gets_in(port: int, key: str | None, strangers: list[Conn]) -> None:
    """The real client connects and lists entities within 10 s (the goal), and every
    stranger is closed once its hello time is up, trickling or not."""
    client = APIClient("127.0.0.1", port, None, noise_psk=key, client_info="ha")
    await asyncio.wait_for(client.connect(login=True), 10)
    try:
        entities, _ = await asyncio.wait_for(client.list_entities_services(), 10)
        assert any(e.object_id == "media_player" for e in entities)
        for reader, _ in strangers:
            with contextlib.suppress(ConnectionError):
                while await asyncio.wait_for(reader.read(4096), 30):
                    pass  # a Noise server hello may come first; then the end
        assert (await client.device_info()).name == "milo-test"
    finally:
        await client.disconnect()


async def test_idle_plaintext_connections_do_not_lock_out_ha(milo: Milo) -> None:
    async with _strangers(milo.server.port, b"", PING) as strangers:
        await _client_gets_in(milo.server.port, None, strangers)


async def test_pending_noise_handshakes_do_not_lock_out_ha(tmp_path: Path) -> None:
    milo = await make_milo(tmp_path, encryption_key=KEY)
    # A client hello, then the start of a handshake frame, one more byte each 2 s.
    try:
        async with _strangers(milo.server.port, NOISE_HELLO + b"\x01\x00\x31\x00", b"\x00") as s:
            await _client_gets_in(milo.server.port, KEY, s)
    finally:
        await milo.close()


# -- media ------------------------------------------------------------------------------


def _media_player_key(entities: list[EntityInfo]) -> int:
    return next(e.key for e in entities if e.object_id == "media_player")


async def test_media_outside_the_media_folders_is_refused(
    milo: Milo, client: APIClient, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    media = tmp_path / "media"
    media.mkdir()
    (media / "zero.wav").symlink_to("/dev/zero")  # resolves outside the folder
    milo.voice.player.media_dirs = [media.resolve()]
    entities, _ = await client.list_entities_services()
    key = _media_player_key(entities)
    refused = ["/etc/passwd", "file:///dev/zero", str(media / "zero.wav"), f"{media}/../x.wav"]
    for url in [*refused, "ftp://example.com/a.wav"]:
        client.media_player_command(key, media_url=url)
    await eventually(lambda: caplog.text.count("Refusing to play") == len(refused) + 1)
    assert "not under a media folder" in caplog.text
    assert "media" not in milo.voice.player.outcome  # nothing was even tried


async def test_endless_or_huge_local_files_are_refused(tmp_path: Path) -> None:
    """Even a trusted path (a configured sound) must be a regular file within the limit."""
    player = AudioPlayer(FolderSink(tmp_path / "sound", SINK_FORMAT, realtime=False), max_file_mb=1)
    big = tmp_path / "big.wav"
    with big.open("wb") as out:
        out.truncate(2 * 1024 * 1024)
    try:
        assert not await asyncio.wait_for(player.play(["/dev/zero"], "media"), 10)
        assert not await asyncio.wait_for(player.play([str(big)], "media"), 10)
    finally:
        await player.close()


def _wav_header(data_bytes: int) -> bytes:
    fmt = SINK_FORMAT
    return (
        b"RIFF"
        + (36 + data_bytes).to_bytes(4, "little")
        + b"WAVEfmt "
        + (16).to_bytes(4, "little")
        + (1).to_bytes(2, "little")
        + fmt.channels.to_bytes(2, "little")
        + fmt.rate.to_bytes(4, "little")
        + fmt.bytes_per_second.to_bytes(4, "little")
        + fmt.frame_bytes.to_bytes(2, "little")
        + (8 * fmt.width).to_bytes(2, "little")
        + b"data"
        + data_bytes.to_bytes(4, "little")
    )


async def test_a_big_media_file_is_streamed(milo: Milo, client: APIClient, tmp_path: Path) -> None:
    """48 MiB of WAV plays with a few hundred KiB of Python memory at most: read in
    pieces, never whole (the old code held the whole file, and /dev/zero without end)."""
    media = tmp_path / "media"
    media.mkdir()
    size = 48 * 1024 * 1024
    song = media / "song.wav"
    with song.open("wb") as out:
        out.write(_wav_header(size))
        out.truncate(44 + size)  # sparse: silence, and no disk to speak of
    milo.voice.player.media_dirs = [media.resolve()]
    entities, _ = await client.list_entities_services()
    tracemalloc.start()
    try:
        client.media_player_command(_media_player_key(entities), media_url=f"file://{song}")
        await eventually(lambda: milo.voice.player.outcome.get("media") == "done", within=240)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert milo.voice.player.played_s["media"] == pytest.approx(size / SINK_FORMAT.bytes_per_second)
    assert peak < 8 * 1024 * 1024, f"{peak} bytes at peak"


# -- bad files, orphans, secrets --------------------------------------------------------


def test_deeply_nested_buddy_file_means_everyone_is_a_stranger(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "buddies.json"
    path.write_text("[" * 200_000)
    buddies = BuddyDatabase(path)
    buddies.load()
    assert buddies.error is not None
    assert "NOT loaded" in caplog.text
    assert buddies.match(np.zeros(128))[0] == STRANGER


_WORKER_SCRIPT = """
import time
from milo_satellite.head.recognition import FaceEncoderProcess
enc = FaceEncoderProcess()
print(enc.worker_pid, flush=True)
time.sleep(600)
"""


def _children(pid: int) -> list[int]:
    kids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    kids.append(int(entry.name))
    return kids


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_recognition_worker_dies_with_a_killed_satellite() -> None:
    """SIGKILL leaves no orphan: neither the ~110 MB worker nor the resource tracker."""
    parent = subprocess.Popen(
        [sys.executable, "-c", _WORKER_SCRIPT], stdout=subprocess.PIPE, text=True
    )
    try:
        assert parent.stdout is not None
        worker = int(parent.stdout.readline())
        children = _children(parent.pid)
        assert worker in children
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        deadline = time.monotonic() + 60
        while any(_alive(c) for c in children) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not [c for c in children if _alive(c)], "orphans left running"
    finally:
        parent.kill()
        for child in _children(parent.pid):
            with contextlib.suppress(OSError):
                os.kill(child, signal.SIGKILL)


def test_demo_writes_the_key_file_for_its_owner_only(tmp_path: Path) -> None:
    sys.path.insert(0, str(REPO / "demo"))
    from milo_demo.processes import Supervisor
    from milo_demo.satellite import SimulatedSatellite

    old = tmp_path / "satellite.yaml"
    old.write_text("from an older run")
    old.chmod(0o644)
    satellite = SimulatedSatellite(Supervisor(tmp_path), REPO, tmp_path, 6053, encryption=True)
    path = satellite.write_config(tmp_path / "face.jpg")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert satellite.encryption_key is not None
    assert satellite.encryption_key in path.read_text()


async def test_an_action_dropped_by_a_leaving_client_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    server = APIServer(DeviceIdentity(name="milo-test", mac="02:00:00:00:00:42"))
    started, forever = asyncio.Event(), asyncio.Event()

    async def wait() -> None:
        started.set()
        await forever.wait()

    server.add_action(UserAction("wait", (), wait))
    await server.start("127.0.0.1", 0)
    try:
        client = APIClient("127.0.0.1", server.port, None, client_info="leaver")
        await client.connect(login=True)
        _, actions = await client.list_entities_services()
        call = asyncio.create_task(client.execute_service(actions[0], {}))
        await asyncio.wait_for(started.wait(), 10)
        await client.disconnect()
        call.cancel()
        await eventually(lambda: "action wait cancelled, the client disconnected" in caplog.text)
    finally:
        await server.stop()
