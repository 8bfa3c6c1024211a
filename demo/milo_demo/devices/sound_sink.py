"""A speaker that records: raw 16-bit PCM from a FIFO into one WAV file per utterance.

The satellite's sound command is `cat` into the FIFO, one per clip, as `aplay` would be on a
Pi; this recorder runs all along and already waits on the FIFO, so a clip's first byte is
stamped when the satellite writes it. (Started per clip, a Python recorder would add its own
start-up, 0.3-0.5 s on a 2-core VM, to every answer's time to first audio.) It reads at
playback speed, so a clip takes as long to play as on a real speaker. Each clip (from its
writer opening the FIFO to closing it) becomes answer-NNN.wav, and a JSON line in
sounds.jsonl records when its first byte arrived (the moment a person would have started
hearing Milo) and how long the speaker ran dry in the middle of it (`stalled_s`: a stutter
a person hears, when the audio came slower than it plays). A pause in the data is not the
end of a clip: a stutter (milo-tts's next piece late on a busy host) is still one answer,
and it shows in `stalled_s`.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
from pathlib import Path
import signal
import sys
import time
import wave

WIDTH = 2
BUFFER_S = 0.2  # how far ahead of playback a sound card's buffer lets the player write
# The FIFO holds no more than a page: its default 64 KiB (1.5 s) would let the satellite's
# player run that far ahead and hide its stalls, which a sound card's buffer would not.
FIFO_BYTES = 4096


class Recorder:
    """Segments the incoming stream into files and logs their timing."""

    def __init__(self, out_dir: Path, rate: int, channels: int) -> None:
        self.out_dir = out_dir
        self.rate = rate
        self.channels = channels
        out_dir.mkdir(parents=True, exist_ok=True)
        self.index = len(list(out_dir.glob("answer-*.wav")))
        self.wav: wave.Wave_write | None = None
        self.path: Path | None = None
        self.first_at = 0.0
        self.frames = 0
        self.played_until = 0.0  # when the speaker will have played all it was given
        self.stalled_s = 0.0

    def feed(self, data: bytes) -> None:
        """Append data, opening a new file at the start of a clip; then wait while the data
        is ahead of playback, as a real speaker's small buffer makes the player wait. Data
        that comes after the speaker ran dry plays from when it came, as on a sound card."""
        now = time.time()
        if self.wav is None:
            self.first_at = self.played_until = now
            self.stalled_s = 0.0
            self.index += 1
            self.path = self.out_dir / f"answer-{self.index:03d}.wav"
            self.wav = wave.open(str(self.path), "wb")  # noqa: SIM115 (spans many feeds)
            self.wav.setnchannels(self.channels)
            self.wav.setsampwidth(WIDTH)
            self.wav.setframerate(self.rate)
            self.frames = 0
        self.wav.writeframes(data)
        frames = len(data) // (WIDTH * self.channels)
        self.frames += frames
        if now > self.played_until:
            self.stalled_s += now - self.played_until
            self.played_until = now
        self.played_until += frames / self.rate
        ahead = self.played_until - time.time() - BUFFER_S
        if ahead > 0:
            time.sleep(ahead)

    def close(self) -> None:
        """Finish the current file and log it."""
        if self.wav is None:
            return
        self.wav.close()
        self.wav = None
        record = {
            "file": str(self.path),
            "first_audio_at": self.first_at,
            "closed_at": time.time(),
            "seconds": self.frames / self.rate,
            "stalled_s": round(self.stalled_s, 3),
        }
        with (self.out_dir / "sounds.jsonl").open("a", encoding="utf-8") as log:
            log.write(json.dumps(record) + "\n")


def main() -> None:
    """Record each clip written to the FIFO until terminated."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fifo", type=Path, required=True, help="the FIFO the clips come in")
    parser.add_argument("--dir", type=Path, required=True, help="where the WAV files go")
    parser.add_argument("--rate", type=int, default=16000, help="sample rate of the raw input")
    parser.add_argument("--channels", type=int, default=1)
    args = parser.parse_args()
    recorder = Recorder(args.dir, args.rate, args.channels)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # finish the open file
    try:
        while True:
            fd = os.open(args.fifo, os.O_RDONLY)  # waits for the next clip's writer
            with contextlib.suppress(OSError):  # F_SETPIPE_SZ is Linux's
                fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, FIFO_BYTES)
            try:
                while data := os.read(fd, 8192):  # empty: the writer closed, the clip ended
                    recorder.feed(data)
            finally:
                os.close(fd)
                recorder.close()
    finally:
        recorder.close()


if __name__ == "__main__":
    main()
