"""Write the STT benchmark corpus: Milo commands read by Piper (joe) and espeak-ng.

Run with the project's .venv (it has piper and the voice). Recordings are 16 kHz 16-bit mono,
what Home Assistant sends to an STT service; each WAV has a matching .txt transcript, the
layout wyoming-bench expects.
"""

from __future__ import annotations

import argparse
from pathlib import Path
import subprocess
import wave

from piper import PiperVoice

from milo_services.tts.voice import embedded_voice

COMMANDS = [
    "Turn on the kitchen lights.",
    "What is the surf like at Portrush today?",
    "Set a timer for ten minutes.",
    "Is it going to rain this afternoon?",
    "Play some music in the living room.",
    "How big are the waves right now?",
    "Turn off the heating in the bedroom.",
    "What time is it in New York?",
    "Remind me to buy milk tomorrow morning.",
    "Open the garage door please.",
    "Dim the lights to fifty percent.",
    "What is the weather going to be like this weekend?",
]


def to_16k(source: Path, target: Path) -> None:
    subprocess.run(
        ["sox", "-q", "-G", str(source), "-r", "16000", "-b", "16", "-c", "1", str(target)],
        check=True,
    )
    source.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    out = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    files = embedded_voice()
    voice = PiperVoice.load(files.model, files.config)
    for number, text in enumerate(COMMANDS, 1):
        raw = out / f"piper_{number:02d}.raw.wav"
        with wave.open(str(raw), "wb") as wav:
            voice.synthesize_wav(text, wav)
        to_16k(raw, out / f"piper_{number:02d}.wav")
        (out / f"piper_{number:02d}.txt").write_text(text + "\n")

        raw = out / f"espeak_{number:02d}.raw.wav"
        subprocess.run(["espeak-ng", "-v", "en-us+m3", "-w", str(raw), text], check=True)
        to_16k(raw, out / f"espeak_{number:02d}.wav")
        (out / f"espeak_{number:02d}.txt").write_text(text + "\n")
    print(f"{2 * len(COMMANDS)} recordings in {out}")


if __name__ == "__main__":
    main()
