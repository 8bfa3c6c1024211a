"""Synthesise several WAV files with one piper voice load (run by the services' .venv python).

Standalone on purpose: it runs under the Python 3.11 environment that has piper-tts, not the
Home Assistant one that runs the rest of the demo. Usage: piper_batch.py MODEL OUT=TEXT ...
"""

import sys
import wave

from piper import PiperVoice


def main() -> None:
    """Load the voice once, then write each OUT.wav from its TEXT."""
    model, *jobs = sys.argv[1:]
    voice = PiperVoice.load(model)
    for job in jobs:
        out, text = job.split("=", 1)
        with wave.open(out, "wb") as wav_file:
            voice.synthesize_wav(text, wav_file)


if __name__ == "__main__":
    main()
