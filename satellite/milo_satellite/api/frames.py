"""Server-side framing of the ESPHome native API: plaintext and Noise, without I/O.

Both framers are fed raw bytes from the socket and hand back whole messages as
``(message_type, payload)`` pairs; they turn outgoing messages into bytes. Keeping them
sans-I/O lets the connection code stay small and lets tests poke them with garbage.

Wire formats (as ESPHome devices speak them):

* plaintext: ``0x00``, varint payload length, varint message type, payload.
* Noise (``Noise_NNpsk0_25519_ChaChaPoly_SHA256``): every frame is ``0x01``, 16-bit
  big-endian length, body. The client opens with an empty "client hello" frame and a
  handshake frame ``0x00 + noise message``; the server answers with a "server hello"
  (``0x01`` = chosen protocol, then the name and the MAC as 12 lowercase hex digits, each
  NUL-terminated; clients read at most 16 characters of MAC) and a handshake
  frame ``0x00 + noise message``, or ``0x01 + reason`` to refuse. After that every body
  is encrypted ``type(16) length(16) payload``.

Sizes are checked before anything is buffered or allocated: a header that claims more
than `MAX_PAYLOAD` bytes is refused at once.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
import enum
from typing import Any

MAX_PAYLOAD = 65535  # both wire formats cap a message at a 16-bit length
_MAX_VARINT_BYTES = 4  # 28 bits: well above MAX_PAYLOAD and any message type

NOISE_PROTOCOL_NAME = b"Noise_NNpsk0_25519_ChaChaPoly_SHA256"
_NOISE_PROLOGUE_PREFIX = b"NoiseAPIInit"
_NOISE_PROTOCOL_ID = 0x01
_NOISE_TAG_SIZE = 16
# The longest payload an encrypted frame can carry after its 4-byte inner header and MAC.
MAX_NOISE_PAYLOAD = MAX_PAYLOAD - 4 - _NOISE_TAG_SIZE

Message = tuple[int, bytes]


class FrameError(Exception):
    """The peer sent something that is not a valid frame; the connection must close."""


class HandshakeRejectedError(FrameError):
    """The Noise handshake failed (wrong key, no key); `reply` tells the client why."""

    def __init__(self, message: str, reply: bytes) -> None:
        super().__init__(message)
        self.reply = reply


def decode_psk(key: str) -> bytes:
    """The 32-byte pre-shared key from its base64 form, as ESPHome's `api: encryption:`."""
    try:
        raw = base64.b64decode(key.strip(), validate=True)
    except (binascii.Error, ValueError) as err:
        raise ValueError("encryption key is not valid base64") from err
    if len(raw) != 32:
        raise ValueError(f"encryption key must decode to 32 bytes, got {len(raw)}")
    return raw


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _read_varint(buf: bytearray, pos: int) -> tuple[int, int] | None:
    """(value, next position), or None when the buffer ends mid-varint."""
    result = 0
    for i in range(_MAX_VARINT_BYTES):
        if pos + i >= len(buf):
            return None
        byte = buf[pos + i]
        result |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return result, pos + i + 1
    raise FrameError(f"varint longer than {_MAX_VARINT_BYTES} bytes")


class PlaintextFramer:
    """Unencrypted framing; the connection is usable as soon as it is open."""

    encrypted = False

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[Message]:
        """The whole messages in the bytes received so far; FrameError if they make no sense."""
        self._buf += data
        messages: list[Message] = []
        while self._buf:
            if self._buf[0] != 0x00:
                if self._buf[0] == 0x01:
                    raise HandshakeRejectedError(
                        "client wants encryption but no key is set",
                        b"\x00" + b"Bad indicator byte",
                    )
                raise FrameError(f"bad preamble byte 0x{self._buf[0]:02x}")
            length = _read_varint(self._buf, 1)
            if length is None:
                break
            size, pos = length
            if size > MAX_PAYLOAD:
                raise FrameError(f"frame of {size} bytes exceeds the {MAX_PAYLOAD}-byte limit")
            msg_type = _read_varint(self._buf, pos)
            if msg_type is None:
                break
            kind, pos = msg_type
            if len(self._buf) < pos + size:
                break
            messages.append((kind, bytes(self._buf[pos : pos + size])))
            del self._buf[: pos + size]
        return messages

    def handshake_replies(self) -> list[bytes]:
        """Bytes to answer the handshake with: none in plaintext."""
        return []

    def encode(self, msg_type: int, payload: bytes) -> bytes:
        """One message as a plaintext frame."""
        return b"\x00" + _encode_varint(len(payload)) + _encode_varint(msg_type) + payload


class _NoiseState(enum.Enum):
    HELLO = 1
    HANDSHAKE = 2
    READY = 3
    FAILED = 4


class NoiseFramer:
    """Noise_NNpsk0 responder. `feed` returns messages only once the handshake is done."""

    encrypted = True

    def __init__(self, psk: bytes, name: str, mac: str) -> None:
        # Imported here: plaintext-only satellites never pay for the crypto stack.
        from noise.connection import NoiseConnection  # noqa: PLC0415

        self._noise: Any = NoiseConnection.from_name(NOISE_PROTOCOL_NAME)
        self._noise.set_as_responder()
        self._noise.set_psks(psk)
        # HA compares this MAC with the device's when the key is wrong: it must be whole.
        bare_mac = mac.replace(":", "").lower()
        self._hello_ident = name.encode() + b"\x00" + bare_mac.encode() + b"\x00"
        self._state = _NoiseState.HELLO
        self._buf = bytearray()
        self._replies: list[bytes] = []
        self._encrypt: Callable[[bytes], bytes] | None = None
        self._decrypt: Callable[[bytes], bytes] | None = None

    @property
    def ready(self) -> bool:
        """Whether the Noise handshake is done and messages can flow."""
        return self._state is _NoiseState.READY

    def handshake_replies(self) -> list[bytes]:
        """Frames the handshake wants sent, in order; empties the queue."""
        replies, self._replies = self._replies, []
        return replies

    def feed(self, data: bytes) -> list[Message]:
        """The whole messages decrypted from the bytes received so far; the handshake first."""
        self._buf += data
        messages: list[Message] = []
        while len(self._buf) >= 3:
            if self._buf[0] != 0x01:
                self._state = _NoiseState.FAILED
                # A plaintext client reads 0x01 as "this device requires encryption".
                raise HandshakeRejectedError(
                    "client is not using encryption", self._frame(b"\x01Bad indicator byte")
                )
            size = (self._buf[1] << 8) | self._buf[2]
            if len(self._buf) < 3 + size:
                break
            body = bytes(self._buf[3 : 3 + size])
            del self._buf[: 3 + size]
            if self._state is _NoiseState.READY:
                messages.append(self._open(body))
            elif self._state is _NoiseState.HELLO:
                self._on_client_hello(body)
            elif self._state is _NoiseState.HANDSHAKE:
                self._on_handshake(body)
            else:
                raise FrameError("frame after a failed handshake")
        return messages

    def encode(self, msg_type: int, payload: bytes) -> bytes:
        """One message as an encrypted frame."""
        if self._encrypt is None:
            raise FrameError("handshake not finished")
        if len(payload) > MAX_NOISE_PAYLOAD:
            raise ValueError(f"payload of {len(payload)} bytes is too long for one frame")
        inner = bytes((msg_type >> 8, msg_type & 0xFF, len(payload) >> 8, len(payload) & 0xFF))
        return self._frame(self._encrypt(inner + payload))

    @staticmethod
    def _frame(body: bytes) -> bytes:
        return bytes((0x01, len(body) >> 8, len(body) & 0xFF)) + body

    def _on_client_hello(self, body: bytes) -> None:
        # The prologue binds the handshake to the exact hello the client sent.
        prologue = _NOISE_PROLOGUE_PREFIX + len(body).to_bytes(2, "big") + body
        self._noise.set_prologue(prologue)
        self._noise.start_handshake()
        self._replies.append(self._frame(bytes((_NOISE_PROTOCOL_ID,)) + self._hello_ident))
        self._state = _NoiseState.HANDSHAKE

    def _reject(self, why: str, reason: bytes) -> HandshakeRejectedError:
        self._state = _NoiseState.FAILED
        return HandshakeRejectedError(why, self._frame(b"\x01" + reason))

    def _on_handshake(self, body: bytes) -> None:
        if not body:
            raise self._reject("empty handshake frame", b"Empty handshake message")
        if body[0] != 0x00:
            raise self._reject("bad handshake indicator", b"Bad handshake error byte")
        try:
            self._noise.read_message(body[1:])
        except Exception as err:
            # The MAC check fails when the client's key differs from ours.
            raise self._reject(
                f"handshake failed (wrong encryption key?): {err!r}", b"Handshake MAC failure"
            ) from err
        self._replies.append(self._frame(b"\x00" + bytes(self._noise.write_message())))
        if not self._noise.handshake_finished:
            raise self._reject("handshake did not finish", b"Handshake error")
        self._encrypt = self._noise.encrypt
        self._decrypt = self._noise.decrypt
        self._state = _NoiseState.READY

    def _open(self, body: bytes) -> Message:
        assert self._decrypt is not None
        try:
            inner = self._decrypt(body)
        except Exception as err:
            raise FrameError(f"cannot decrypt frame: {err!r}") from err
        if len(inner) < 4:
            raise FrameError(f"decrypted frame too short ({len(inner)} bytes)")
        return (inner[0] << 8) | inner[1], bytes(inner[4:])
