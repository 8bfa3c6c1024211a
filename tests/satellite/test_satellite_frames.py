"""Framing and the core protocol at the byte level: what a real client never sends."""

from __future__ import annotations

import asyncio
import os
import time

from aioesphomeapi import api_pb2
import pytest
from satellite_helpers import Milo, eventually

from milo_satellite.api.frames import (
    MAX_PAYLOAD,
    FrameError,
    HandshakeRejectedError,
    NoiseFramer,
    PlaintextFramer,
    decode_psk,
)
from milo_satellite.api.messages import UnknownMessageError, decode, message_type


def test_plaintext_round_trip_in_pieces() -> None:
    framer = PlaintextFramer()
    data = framer.encode(7, b"") + framer.encode(10, b"x" * 300) + framer.encode(36, b"ab")
    messages = []
    for i in range(len(data)):  # one byte at a time
        messages += framer.feed(data[i : i + 1])
    assert messages == [(7, b""), (10, b"x" * 300), (36, b"ab")]


def test_oversized_frame_is_refused_from_its_header() -> None:
    framer = PlaintextFramer()
    header = b"\x00" + bytes((0xFF, 0xFF, 0x3F)) + b"\x01"  # claims ~1 MB
    with pytest.raises(FrameError, match="exceeds"):
        framer.feed(header)
    assert MAX_PAYLOAD == 65535


def test_endless_varint_is_refused() -> None:
    with pytest.raises(FrameError, match="varint"):
        PlaintextFramer().feed(b"\x00\xff\xff\xff\xff\xff")


def test_noise_client_on_plaintext_server_gets_a_plaintext_answer() -> None:
    with pytest.raises(HandshakeRejectedError) as err:
        PlaintextFramer().feed(b"\x01\x00\x00")
    assert err.value.reply.startswith(b"\x00")


def test_plaintext_client_on_noise_server_is_told_to_encrypt() -> None:
    framer = NoiseFramer(os.urandom(32), "milo", "02:00:00:00:00:01")
    with pytest.raises(HandshakeRejectedError) as err:
        framer.feed(PlaintextFramer().encode(1, b""))
    assert err.value.reply[0] == 0x01


def test_noise_rejects_garbage_handshake() -> None:
    framer = NoiseFramer(os.urandom(32), "milo", "02:00:00:00:00:01")
    with pytest.raises(HandshakeRejectedError, match="wrong encryption key"):
        framer.feed(b"\x01\x00\x00" + b"\x01\x00\x21\x00" + os.urandom(32))
    hello = framer.handshake_replies()[0]
    assert hello[3] == 0x01  # the server hello names the protocol...
    assert b"milo\x00020000000001\x00" in hello  # ...its name and MAC, as ESPHome writes it


def test_psk_must_be_32_bytes_of_base64() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        decode_psk("c2hvcnQ=")
    with pytest.raises(ValueError, match="base64"):
        decode_psk("not base64!")


def test_unknown_and_malformed_messages() -> None:
    with pytest.raises(UnknownMessageError, match="unknown message type"):
        decode(4000, b"")
    with pytest.raises(UnknownMessageError, match="malformed"):
        decode(message_type(api_pb2.HelloRequest()), b"\x0a\xff")
    assert decode(7, b"").__class__ is api_pb2.PingRequest


async def _exchange(port: int, *msgs: object, expect: int) -> list[tuple[int, bytes]]:
    framer = PlaintextFramer()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for msg in msgs:
        writer.write(framer.encode(message_type(msg), msg.SerializeToString()))
    await writer.drain()
    received: list[tuple[int, bytes]] = []
    while len(received) < expect:
        received += framer.feed(await asyncio.wait_for(reader.read(4096), 10))
    writer.close()
    return received


async def test_hello_ping_time_and_disconnect(milo: Milo) -> None:
    replies = await _exchange(
        milo.server.port,
        api_pb2.HelloRequest(client_info="raw", api_version_major=1, api_version_minor=10),
        api_pb2.PingRequest(),
        api_pb2.GetTimeRequest(),
        api_pb2.DisconnectRequest(),
        expect=4,
    )
    kinds = [decode(t, p) for t, p in replies]
    assert isinstance(kinds[0], api_pb2.HelloResponse)
    assert kinds[0].name == "milo-test"
    assert isinstance(kinds[1], api_pb2.PingResponse)
    assert isinstance(kinds[2], api_pb2.GetTimeResponse)
    assert abs(kinds[2].epoch_seconds - time.time()) < 60
    assert isinstance(kinds[3], api_pb2.DisconnectResponse)


async def test_connection_limit(milo: Milo) -> None:
    """Eight clients that said hello fill the satellite; a slot frees when one leaves.
    (Idle connections without hello make room instead: test_satellite_hostile.py.)"""
    framer = PlaintextFramer()
    hello = api_pb2.HelloRequest(client_info="busy")
    clients = [await asyncio.open_connection("127.0.0.1", milo.server.port) for _ in range(8)]
    for reader, writer in clients:
        writer.write(framer.encode(message_type(hello), hello.SerializeToString()))
        assert await asyncio.wait_for(reader.read(4096), 10)  # the HelloResponse
    reader, writer = await asyncio.open_connection("127.0.0.1", milo.server.port)
    assert await asyncio.wait_for(reader.read(), 10) == b""  # the ninth is refused
    writer.close()
    clients[0][1].close()
    await eventually(lambda: len(milo.server.clients) < 8)  # the satellite saw it leave
    replies = await _exchange(milo.server.port, api_pb2.HelloRequest(client_info="late"), expect=1)
    assert isinstance(decode(*replies[0]), api_pb2.HelloResponse)
    for _, client_writer in clients[1:]:
        client_writer.close()


async def test_a_wrong_clock_is_reported(milo: Milo, caplog: pytest.LogCaptureFixture) -> None:
    """HA's time an hour ahead of ours: a warning that says how to fix it."""
    framer = PlaintextFramer()
    reader, writer = await asyncio.open_connection("127.0.0.1", milo.server.port)
    for msg in (api_pb2.HelloRequest(client_info="raw"), api_pb2.SubscribeStatesRequest()):
        writer.write(framer.encode(message_type(msg), msg.SerializeToString()))
    await writer.drain()
    received: list[object] = []
    while not any(isinstance(m, api_pb2.GetTimeRequest) for m in received):
        data = await asyncio.wait_for(reader.read(4096), 10)
        received += [decode(t, p) for t, p in framer.feed(data)]
    answer = api_pb2.GetTimeResponse(epoch_seconds=int(time.time()) + 3600, timezone="UTC0")
    writer.write(framer.encode(message_type(answer), answer.SerializeToString()))
    await writer.drain()
    await eventually(lambda: milo.server.clock is not None)
    writer.close()
    assert milo.server.clock is not None
    assert milo.server.clock.offset_s == pytest.approx(3600, abs=5)
    assert "timedatectl set-ntp true" in caplog.text
