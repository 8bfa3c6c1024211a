"""Plays one thing at a time: TTS answers, announcements, media, alert sounds.

Something new to play replaces what is playing (an announcement cuts music short, the
stop word cuts everything). Sources are URLs (fetched with aiohttp and decoded as they
arrive, so a TTS answer starts while HA is still producing it) or raw PCM already in
the sink's format (the built-in sounds).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
import logging
import os
from pathlib import Path
import stat
import time
from typing import Protocol
from urllib.parse import urlparse

import aiohttp

from .audio import AudioError, PcmFormat, SinkStream, apply_volume, decode

_LOGGER = logging.getLogger(__name__)

Source = str | bytes  # a URL (http, https, file path) or raw PCM in the sink's format
WRITE_BYTES = 4096
READ_BYTES = 65536  # local files are streamed in pieces this big, never read whole
DEFAULT_MAX_FILE_MB = 1024


class Sink(Protocol):
    """Where sound goes: CommandSink (a player process) or FolderSink (WAV files)."""

    @property
    def format(self) -> PcmFormat: ...

    async def open(self, label: str) -> SinkStream: ...


class AudioPlayer:
    def __init__(
        self,
        sink: Sink,
        *,
        fetch_timeout: float = 30.0,
        verify_ssl: bool = True,
        media_dirs: Sequence[Path] = (),
        max_file_mb: int = DEFAULT_MAX_FILE_MB,
        gain: Callable[[bytes], bytes] | None = None,
    ) -> None:
        self.verify_ssl = verify_ssl  # False for an HA with a self-signed certificate
        # Clients may ask for local files only under these folders (see `check_requested`).
        self.media_dirs = [Path(d).resolve() for d in media_dirs]
        self.max_file_bytes = max_file_mb * 1024 * 1024
        self.sink = sink
        self.volume = 1.0
        self.muted = False
        self.gain = gain  # on top of the volume: the music's ducking (ducking.py)
        self._timeout = aiohttp.ClientTimeout(total=None, connect=10, sock_read=fetch_timeout)
        self._session: aiohttp.ClientSession | None = None
        self._current: asyncio.Task[bool] | None = None
        self._resume = asyncio.Event()
        self._resume.set()
        self._listeners: list[Callable[[], None]] = []
        # Per label, the last clip: seconds that reached the sink, and how it ended
        # ("done", "stopped" or "failed"), so interrupted media can resume.
        self.played_s: dict[str, float] = {}
        self.outcome: dict[str, str] = {}

    @property
    def playing(self) -> bool:
        return self._current is not None and not self._current.done()

    @property
    def paused(self) -> bool:
        return self.playing and not self._resume.is_set()

    def add_listener(self, cb: Callable[[], None]) -> None:
        """`cb()` whenever playing/paused changes (the media player entity follows it)."""
        self._listeners.append(cb)

    def _changed(self) -> None:
        for cb in self._listeners:
            cb()

    async def play(self, sources: Sequence[Source], label: str, *, skip_s: float = 0.0) -> bool:
        """Play `sources` one after the other; True if all played, False if stopped/failed.

        `skip_s` seconds are decoded and dropped first (resuming media), unless the source
        turns out to be live: a stream that cannot be fast-forwarded plays from "now".
        """
        self.stop()
        task = asyncio.get_running_loop().create_task(self._play(sources, label, skip_s))
        self._current = task
        self._resume.set()
        self._changed()
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.cancelled() and not _current_task_cancelling():
                return False
            task.cancel()
            raise
        finally:
            if self._current is task and task.done():
                self._current = None
                self._changed()

    def stop(self) -> None:
        if self._current is not None and not self._current.done():
            self._current.cancel()
        self._current = None
        self._resume.set()

    def pause(self) -> None:
        if self.playing:
            self._resume.clear()
            self._changed()

    def resume(self) -> None:
        self._resume.set()
        self._changed()

    async def close(self) -> None:
        self.stop()
        if self._session is not None:
            await self._session.close()
            self._session = None

    def check_requested(self, url: str) -> None:
        """Refuse (AudioError) a URL an API client asked for that is neither http(s) nor a
        file under a media folder: any client on the LAN must not read the disk."""
        parsed = urlparse(url)
        if parsed.scheme in ("http", "https"):
            return
        if parsed.scheme not in ("", "file"):
            raise AudioError(f"cannot play {parsed.scheme}: URLs")
        path = Path(parsed.path if parsed.scheme else url).resolve()
        if not any(path.is_relative_to(folder) for folder in self.media_dirs):
            raise AudioError(
                f"{path} is not under a media folder (audio.media_dirs: "
                f"{[str(d) for d in self.media_dirs]})"
            )

    async def _play(self, sources: Sequence[Source], label: str, skip_s: float) -> bool:
        try:
            stream = await self.sink.open(label)
        except AudioError as err:
            _LOGGER.error("Cannot play %s: %s", label, err)  # noqa: TRY400 - the reason is enough
            self.outcome[label] = "failed"
            return False
        fmt = self.sink.format
        frames = round(skip_s * fmt.rate)  # played_s adds up floats: round to the frame
        skip = _Skip(frames * fmt.frame_bytes, fmt.bytes_per_second, fmt.frame_bytes)
        self.played_s[label] = skip_s
        try:
            for source in sources:
                await self._play_one(stream, source, skip, label)
        except AudioError as err:
            _LOGGER.error("Cannot play %s: %s", label, err)  # noqa: TRY400 - the reason is enough
            stream.abort()
            self.outcome[label] = "failed"
            return False
        except asyncio.CancelledError:
            stream.abort()
            self.outcome[label] = "stopped"
            raise
        await stream.close()
        self.outcome[label] = "done"
        return True

    async def _play_one(self, stream: SinkStream, source: Source, skip: _Skip, label: str) -> None:
        frame = self.sink.format.frame_bytes
        rate = self.sink.format.bytes_per_second
        pending = b""
        async for chunk in self._pcm(source):
            pending += skip.drop(chunk)
            cut = len(pending) - len(pending) % frame
            for start in range(0, cut, WRITE_BYTES):
                await self._resume.wait()
                piece = pending[start : min(start + WRITE_BYTES, cut)]
                piece = apply_volume(piece, 0.0 if self.muted else self.volume)
                await stream.write(piece if self.gain is None else self.gain(piece))
                self.played_s[label] += len(piece) / rate
            pending = pending[cut:]

    def _pcm(self, source: Source) -> AsyncIterator[bytes]:
        if isinstance(source, bytes):
            return _once(source)
        return decode(self._fetch(source), self.sink.format)

    async def _fetch(self, url: str) -> AsyncIterator[bytes]:
        parsed = urlparse(url)
        if parsed.scheme in ("", "file"):
            async for chunk in self._read_file(Path(parsed.path if parsed.scheme else url)):
                yield chunk
            return
        if parsed.scheme not in ("http", "https"):
            raise AudioError(f"cannot play {parsed.scheme}: URLs")
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout,
                connector=aiohttp.TCPConnector(ssl=self.verify_ssl),
            )
        try:
            async with self._session.get(url) as resp:
                if resp.status != 200:
                    raise AudioError(f"{url} answered HTTP {resp.status}")
                async for chunk in resp.content.iter_chunked(8192):
                    yield chunk
        except (aiohttp.ClientError, TimeoutError) as err:
            raise AudioError(f"cannot fetch {url}: {err!r}") from err

    async def _read_file(self, path: Path) -> AsyncIterator[bytes]:
        """A regular file no bigger than the limit, piece by piece (not /dev/zero, not a
        FIFO: they never end)."""
        try:
            file = await asyncio.to_thread(path.open, "rb")
        except OSError as err:
            raise AudioError(f"cannot read {path}: {err}") from err
        try:
            info = os.fstat(file.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise AudioError(f"cannot play {path}: not a regular file")
            if info.st_size > self.max_file_bytes:
                raise AudioError(
                    f"cannot play {path}: {info.st_size} bytes, over the limit of "
                    f"{self.max_file_bytes} (audio.max_media_mb)"
                )
            left = info.st_size  # a file that grows while playing stops at its first size
            while left > 0:
                try:
                    chunk = await asyncio.to_thread(file.read, min(READ_BYTES, left))
                except OSError as err:
                    raise AudioError(f"cannot read {path}: {err}") from err
                if not chunk:
                    return
                left -= len(chunk)
                yield chunk
        finally:
            file.close()


class _Skip:
    """Drops the first `count` bytes of PCM, unless they arrive no faster than real time."""

    LIVE_AFTER_S = 1.0  # judged after this long: a live stream trickles at 1x

    def __init__(self, count: int, bytes_per_second: int, frame: int) -> None:
        self.left = count
        self.bytes_per_second = bytes_per_second
        self.frame = frame
        self._start: float | None = None
        self._dropped = 0
        self._live = False

    def drop(self, chunk: bytes) -> bytes:
        if self.left <= 0:
            return chunk
        now = time.monotonic()
        self._start = self._start if self._start is not None else now
        elapsed = now - self._start
        too_slow = self._dropped < 2 * self.bytes_per_second * elapsed
        if not self._live and elapsed > self.LIVE_AFTER_S and too_slow:
            _LOGGER.info("Live stream: playing from now instead of resuming")
            self._live = True
            self.left = -self._dropped % self.frame  # finish the frame we are in
            if self.left == 0:
                return chunk
        dropped = min(self.left, len(chunk))
        self.left -= dropped
        self._dropped += dropped
        return chunk[dropped:]


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


def _current_task_cancelling() -> bool:
    task = asyncio.current_task()
    return bool(task is not None and task.cancelling())
