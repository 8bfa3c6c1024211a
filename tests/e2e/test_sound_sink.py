"""The demo's simulated speaker: one WAV per clip the satellite plays, however the audio
trickles in (a stutter is measured, not taken for the end of the answer)."""

from __future__ import annotations

from collections.abc import Iterator
import fcntl
import json
import os
from pathlib import Path
import struct
import subprocess
import sys
import termios
import time
import wave

from conftest import REPO
import pytest

SINK = REPO / "demo" / "milo_demo" / "devices" / "sound_sink.py"
RATE = 22050
TENTH = bytes(RATE // 10 * 2)  # 0.1 s of 16-bit mono silence
ATOMIC = bytes(4000)  # under PIPE_BUF: the recorder reads it in one piece


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """The recorder waiting on its FIFO, as the demo starts it; (fifo, answers folder)."""
    fifo, answers = tmp_path / "speaker.fifo", tmp_path / "answers"
    os.mkfifo(fifo)
    argv = [sys.executable, str(SINK), "--fifo", str(fifo), "--rate", str(RATE)]
    proc = subprocess.Popen([*argv, "--dir", str(answers)])
    try:
        yield fifo, answers
    finally:
        proc.terminate()
        proc.wait(30)


def _clips(answers: Path, count: int) -> list[dict[str, float | str]]:
    """The first `count` clips logged (each is logged when its writer has closed)."""
    log = answers / "sounds.jsonl"
    for _ in range(600):
        if log.exists() and len(lines := log.read_text().splitlines()) >= count:
            return [json.loads(line) for line in lines]
        time.sleep(0.05)
    raise AssertionError(f"fewer than {count} clips in {log}")


def _unread(fd: int) -> int:
    """Bytes in the FIFO that the recorder has not read yet."""
    return int(struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0" * 4))[0])


def test_a_clip_that_runs_dry_is_one_clip_with_its_stall(sink: tuple[Path, Path]) -> None:
    """A writer that pauses 2 s mid-clip (a TTS slower than real time under load) gives one
    file holding all the audio, and the time the speaker ran dry; the next writer, a new one."""
    fifo, answers = sink
    with fifo.open("wb", buffering=0) as clip:
        clip.write(TENTH * 3)
        for _ in range(600):  # the recorder has it: the speaker runs dry 0.3 s from now
            if _unread(clip.fileno()) == 0:
                break
            time.sleep(0.05)
        time.sleep(2.0)
        clip.write(TENTH * 5)
    _clips(answers, 1)  # played and closed (a writer opening before then would join it)
    with fifo.open("wb", buffering=0) as clip:
        clip.write(ATOMIC)
    first, second = _clips(answers, 2)
    with wave.open(str(first["file"]), "rb") as wav:
        assert wav.getnframes() == 8 * RATE // 10
    assert first["seconds"] == pytest.approx(0.8)
    assert float(first["stalled_s"]) >= 1.0  # 2 s without data after 0.3 s of audio
    assert second["seconds"] == pytest.approx(len(ATOMIC) / 2 / RATE)
    assert second["stalled_s"] == 0
