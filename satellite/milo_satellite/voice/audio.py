"""Sound in and out: microphones, speakers, and decoding what HA asks us to play.

Microphones yield raw 16 kHz mono 16-bit PCM (what wake word models and HA's speech
pipeline want): `CommandMicrophone` reads a recorder's stdout (arecord on a Pi),
`WavMicrophone` replays a file in real time for `--simulate`.

Sinks take raw PCM in one fixed format (`PcmFormat`): `CommandSink` pipes it into a
player command (aplay), `FolderSink` writes each clip to a numbered WAV file.

`decode` turns whatever arrives (WAV in the sink's format: passed through; anything
else: converted by ffmpeg) into the sink's raw PCM.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import contextlib
from dataclasses import dataclass
import fcntl
import logging
from pathlib import Path
import shlex
import struct
import wave

import numpy as np

_LOGGER = logging.getLogger(__name__)

MIC_RATE = 16000
MIC_CHUNK_BYTES = 1024  # 32 ms of 16 kHz 16-bit mono
MAX_WAV_HEADER = 64 * 1024  # a "WAV" whose header goes on longer than this is refused
RAW_PCM = {1: "u8", 2: "s16le", 3: "s24le", 4: "s32le"}  # ffmpeg's names, by WAV sample width
PIPE_BYTES = 8192  # the player command's stdin: 0.19 s of 22 kHz mono


class AudioError(Exception):
    """Audio could not be recorded, fetched, decoded or played."""


@dataclass(frozen=True)
class PcmFormat:
    rate: int = 22050
    channels: int = 1
    width: int = 2

    @property
    def bytes_per_second(self) -> int:
        return self.rate * self.channels * self.width

    @property
    def frame_bytes(self) -> int:
        return self.channels * self.width


# -- microphones ----------------------------------------------------------------------


class CommandMicrophone:
    """Raw 16 kHz PCM from a recorder command; restarted (with a pause) if it dies."""

    def __init__(self, command: str, restart_delay: float = 2.0) -> None:
        self.command = shlex.split(command)
        self.restart_delay = restart_delay

    async def chunks(self) -> AsyncIterator[bytes]:
        while True:
            try:
                proc = await asyncio.create_subprocess_exec(
                    *self.command,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE,
                )
            except OSError as err:
                _LOGGER.error("Cannot start microphone %s: %s", self.command[0], err)  # noqa: TRY400
                await asyncio.sleep(self.restart_delay)
                continue
            assert proc.stdout is not None
            try:
                while chunk := await proc.stdout.read(MIC_CHUNK_BYTES):
                    yield chunk
            finally:
                if proc.returncode is None:
                    proc.kill()
                stderr = await proc.stderr.read() if proc.stderr else b""
                await proc.wait()
            _LOGGER.error(
                "Microphone command exited (%s): %s; restarting",
                proc.returncode,
                stderr.decode(errors="replace").strip()[-300:],
            )
            await asyncio.sleep(self.restart_delay)


class WavMicrophone:
    """A WAV file as the microphone (`--simulate`): silence until `play()`, then the file.

    The satellite calls `play()` once Home Assistant is listening, so the file's wake
    word is not spoken into the void; SIGUSR1 plays it again (see __main__).
    """

    def __init__(self, path: str | Path, speed: float = 1.0) -> None:
        self.path = Path(path)
        self.speed = speed
        self.pcm = read_wav_as_mic_pcm(self.path)
        self._position: int | None = None  # byte offset into the file; None: silence
        self.plays = 0

    def play(self) -> None:
        self._position = 0
        self.plays += 1
        _LOGGER.info("Microphone: playing %s", self.path.name)

    async def chunks(self) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        chunk_s = MIC_CHUNK_BYTES / (MIC_RATE * 2) / self.speed
        start = loop.time()
        sent = 0
        while True:
            chunk = b""
            if self._position is not None:
                chunk = self.pcm[self._position : self._position + MIC_CHUNK_BYTES]
                self._position += MIC_CHUNK_BYTES
                if self._position >= len(self.pcm):
                    self._position = None
            yield chunk.ljust(MIC_CHUNK_BYTES, b"\x00")
            sent += 1
            await asyncio.sleep(max(0.0, start + sent * chunk_s - loop.time()))


def read_wav_as_mic_pcm(path: Path) -> bytes:
    """16 kHz mono 16-bit PCM from a WAV file of any rate and channel count."""
    try:
        with wave.open(str(path), "rb") as wav:
            if wav.getsampwidth() != 2:
                raise AudioError(f"{path}: only 16-bit WAV files are supported")
            rate, channels = wav.getframerate(), wav.getnchannels()
            samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    except (OSError, EOFError, wave.Error) as err:
        raise AudioError(f"cannot read {path}: {err}") from err
    samples = samples.reshape(-1, channels).mean(axis=1)
    return resample(samples, rate, MIC_RATE).astype("<i2").tobytes()


def resample(samples: np.ndarray, rate: int, target: int) -> np.ndarray:
    if rate == target or samples.size == 0:
        return samples
    count = round(samples.size * target / rate)
    return np.interp(np.linspace(0, samples.size - 1, count), np.arange(samples.size), samples)


# -- sinks ----------------------------------------------------------------------------


class SinkStream:
    async def write(self, pcm: bytes) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        """Wait until everything written has been played."""

    def abort(self) -> None:
        """Stop at once, dropping what is buffered."""


class CommandSink:
    """One player process per clip, fed raw PCM on stdin (aplay on a Pi)."""

    def __init__(self, command: str, fmt: PcmFormat) -> None:
        self.command = shlex.split(command)
        self.format = fmt

    async def open(self, label: str) -> SinkStream:
        try:
            proc = await asyncio.create_subprocess_exec(
                *self.command,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as err:
            raise AudioError(f"cannot start sound command {self.command[0]}: {err}") from err
        _small_buffers(proc)
        return _ProcessStream(proc)


def _small_buffers(proc: asyncio.subprocess.Process) -> None:
    """What is written is heard soon. Linux's 64 KiB pipe and asyncio's 64 KiB write
    buffer held 3 s of 22 kHz audio ahead of the speaker, which a volume change, a pause
    or the music's ducking (ducking.py) waited behind."""
    assert proc.stdin is not None
    transport = proc.stdin.transport
    transport.set_write_buffer_limits(high=0)
    with contextlib.suppress(OSError, AttributeError):  # F_SETPIPE_SZ is Linux's
        fcntl.fcntl(transport.get_extra_info("pipe").fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)


class _ProcessStream(SinkStream):
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self._proc = proc

    async def write(self, pcm: bytes) -> None:
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.write(pcm)
            await self._proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError) as err:
            stderr = await self._proc.stderr.read() if self._proc.stderr else b""
            raise AudioError(
                f"sound command died: {stderr.decode(errors='replace').strip()[-300:]}"
            ) from err

    async def close(self) -> None:
        assert self._proc.stdin is not None
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self._proc.stdin.close()
            await self._proc.stdin.wait_closed()
        await self._proc.wait()

    def abort(self) -> None:
        if self._proc.returncode is None:
            self._proc.kill()


class FolderSink:
    """Each clip becomes NNNN-label.wav in a folder; written at playback speed."""

    def __init__(self, folder: str | Path, fmt: PcmFormat, realtime: bool = True) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.format = fmt
        self.realtime = realtime
        self._count = len(list(self.folder.glob("*.wav")))

    async def open(self, label: str) -> SinkStream:
        self._count += 1
        path = self.folder / f"{self._count:04d}-{label}.wav"
        return _WavFileStream(path, self.format, self.realtime)


class _WavFileStream(SinkStream):
    def __init__(self, path: Path, fmt: PcmFormat, realtime: bool) -> None:
        self.path = path
        self._format = fmt
        self._realtime = realtime
        self._wav = wave.open(str(path), "wb")  # noqa: SIM115 - closed in close()/abort()
        self._wav.setnchannels(fmt.channels)
        self._wav.setsampwidth(fmt.width)
        self._wav.setframerate(fmt.rate)
        self._loop = asyncio.get_running_loop()
        self._start = self._loop.time()
        self._written = 0

    async def write(self, pcm: bytes) -> None:
        self._wav.writeframes(pcm)
        self._written += len(pcm)
        if self._realtime:
            due = self._start + self._written / self._format.bytes_per_second
            await asyncio.sleep(max(0.0, due - self._loop.time()))

    async def close(self) -> None:
        self._wav.close()
        _LOGGER.info(
            "Played %s (%.2f s)", self.path.name, self._written / self._format.bytes_per_second
        )

    def abort(self) -> None:
        self._wav.close()
        _LOGGER.info("Stopped %s", self.path.name)


# -- decoding -------------------------------------------------------------------------


@dataclass(frozen=True)
class _WavHeader:
    rate: int
    channels: int
    width: int
    pcm: bool
    header_bytes: int


def parse_wav_header(data: bytes) -> _WavHeader | None:
    """The format of a WAV stream once `data` holds its header; None if more is needed.

    Raises AudioError if `data` is not a WAV stream or the header is unreasonably long.
    """
    if len(data) < 12:
        return None
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise AudioError("not a WAV stream")
    pos, fmt = 12, None
    while pos + 8 <= len(data):
        chunk_id, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        if chunk_id == b"data":
            if fmt is None:
                raise AudioError("WAV data before its format chunk")
            return _WavHeader(*fmt, header_bytes=pos + 8)
        if chunk_id == b"fmt ":
            if pos + 8 + 16 > len(data):
                return None
            tag, channels, rate = struct.unpack("<HHI", data[pos + 8 : pos + 16])
            bits = struct.unpack("<H", data[pos + 22 : pos + 24])[0]
            fmt = (rate, channels, bits // 8, tag in (1, 0xFFFE))
        pos += 8 + size + (size & 1)
        if pos > MAX_WAV_HEADER:
            raise AudioError("WAV header too long")
    if len(data) > MAX_WAV_HEADER:
        raise AudioError("WAV header too long")
    return None


async def decode(source: AsyncIterator[bytes], fmt: PcmFormat) -> AsyncIterator[bytes]:
    """Raw PCM in `fmt` from an encoded stream (WAV passes through when it already fits)."""
    head = b""
    header: _WavHeader | None = None
    is_wav = True
    async for chunk in source:
        head += chunk
        try:
            header = parse_wav_header(head)
        except AudioError:
            is_wav = False
            break
        if header is not None:
            break
    if is_wav and header is None and len(head) == 0:
        return
    if header is not None and header.pcm and header.width in RAW_PCM:
        pcm = head[header.header_bytes :]
        if (header.rate, header.channels, header.width) == (fmt.rate, fmt.channels, fmt.width):
            if pcm:
                yield pcm
            async for chunk in source:
                yield chunk
            return
        # ffmpeg's WAV reader holds back about 64 KB (1.5 s of a Piper voice) before its
        # first output; raw PCM, with probing off, comes out after a few kilobytes.
        raw = [
            "-f", RAW_PCM[header.width], "-ar", str(header.rate), "-ac", str(header.channels),
            "-probesize", "32", "-analyzeduration", "0",
        ]  # fmt: skip
        async for chunk in _ffmpeg(pcm, source, fmt, raw):
            yield chunk
        return
    async for chunk in _ffmpeg(head, source, fmt, []):
        yield chunk


async def _ffmpeg(
    head: bytes, rest: AsyncIterator[bytes], fmt: PcmFormat, input_args: list[str]
) -> AsyncIterator[bytes]:
    try:
        proc = await asyncio.create_subprocess_exec(
            "ffmpeg", "-hide_banner", "-loglevel", "error", *input_args, "-i", "pipe:0",
            "-f", "s16le", "-ac", str(fmt.channels), "-ar", str(fmt.rate), "pipe:1",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
    except OSError as err:
        raise AudioError(f"ffmpeg is needed to play this audio: {err}") from err
    assert proc.stdin is not None
    assert proc.stdout is not None
    assert proc.stderr is not None
    stdin = proc.stdin

    async def feed() -> None:
        try:
            stdin.write(head)
            await stdin.drain()
            async for chunk in rest:
                stdin.write(chunk)
                await stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                stdin.close()

    feeder = asyncio.create_task(feed())
    produced = False
    try:
        while chunk := await proc.stdout.read(8192):
            produced = True
            yield chunk
        await feeder
        stderr = await proc.stderr.read()
        if await proc.wait() != 0 and not produced:
            raise AudioError(f"ffmpeg cannot decode: {stderr.decode(errors='replace')[-300:]}")
    finally:
        feeder.cancel()
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def apply_volume(pcm: bytes, volume: float) -> bytes:
    if volume >= 0.999:
        return pcm
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) * max(0.0, volume)
    return np.clip(samples, -32768, 32767).astype("<i2").tobytes()
