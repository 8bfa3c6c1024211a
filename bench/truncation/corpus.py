"""The pause corpus: requests a person says with a hesitation or two ("|" marks each).

Each phrase is synthesised on its own and the pauses (300-900 ms) are put between them,
so where speech ends is known to the sample. Phrases before a pause end in a comma: the
voice then sounds unfinished (level or rising), as a person searching for a word does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
import subprocess

import numpy as np

RATE = 16_000
NOISE_RMS = 20.0  # a quiet room through a USB microphone: about -64 dBFS
PIPER_SCRIPT = Path(__file__).with_name("piper_phrases.py")

REQUESTS: tuple[str, ...] = (
    "Turn on the | desk lamp.",
    "Turn off the | kitchen lights.",
    "What's the surf like at | West Strand tomorrow?",
    "What's the weather going to be | this afternoon?",
    "Set the living room | to twenty one degrees.",
    "Switch on the | coffee machine.",
    "Is the | front door locked?",
    "Dim the bedroom lights | to thirty percent.",
    "What's the temperature | in the office?",
    "Set a timer for | ten minutes.",
    "Open the | garage door.",
    "Turn the heating | up a bit.",
    "Play some music | in the kitchen.",
    "How windy will it be | at Portrush | on Saturday?",
    "Close the | blinds | in the study.",
    "Tell me a joke | about robots.",
    "What time is | sunset today?",
    "Turn on the | fan | in the bedroom.",
    "Will it rain | tomorrow morning?",
    "Lock the | back door.",
    "How big are the waves | at East Strand?",
    "Remind me to | water the plants.",
    "What's on my | calendar today?",
    "Set the lights to | warm white.",
    "Turn off | everything | downstairs.",
    "Is the washing machine | finished?",
    "What's the humidity | in the bathroom?",
    "Start the | robot vacuum.",
    "Can you tell me | what the forecast is | for the weekend?",
    "Who is | at the front door?",
    "Turn the volume | down a little.",
    "Is it a good day | for surfing | at Whiterocks?",
)


@dataclass(frozen=True)
class Voice:
    name: str
    engine: str  # "piper" or "espeak-ng"
    speed: float  # piper: length scale (higher is slower); espeak-ng: words per minute
    variant: str = ""  # espeak-ng voice, e.g. "en-us+f3"


VOICES = (
    Voice("piper-joe", "piper", 1.0),
    Voice("piper-joe-slow", "piper", 1.3),
    Voice("espeak-140wpm", "espeak-ng", 140, "en-us"),
    Voice("espeak-200wpm-f", "espeak-ng", 200, "en-us+f3"),
)


@dataclass(frozen=True)
class Utterance:
    """One spoken request as the microphone hears it after the wake word."""

    voice: str
    text: str
    pcm: bytes  # 16 kHz mono s16le: lead-in, phrases and pauses, trailing silence
    speech_end: float  # seconds: where the last phrase's sound ends
    pauses: tuple[float, ...]  # seconds of silence put between the phrases
    phrase_ends: tuple[float, ...] = ()  # seconds: where each phrase's sound ends


def phrases(text: str) -> list[str]:
    """The phrases to synthesise; all but the last end in a comma (unfinished)."""
    parts = [p.strip() for p in text.split("|")]
    return [p.rstrip(",") + "," for p in parts[:-1]] + parts[-1:]


def to_mic_pcm(wav: Path) -> bytes:
    """Any WAV as the satellite's microphone format (ffmpeg, as HA converts media)."""
    return subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-i", str(wav),
         "-f", "s16le", "-ac", "1", "-ar", str(RATE), "-"],
        check=True,
        capture_output=True,
        timeout=60,
    ).stdout  # fmt: skip


def espeak_say(voice: Voice, text: str, wav: Path) -> None:
    subprocess.run(
        ["espeak-ng", "-v", voice.variant, "-s", str(int(voice.speed)), "-w", str(wav), text],
        check=True,
        timeout=60,
    )


def trim(samples: np.ndarray, level: float = 0.01) -> np.ndarray:
    """Cut the synthesiser's own leading and trailing silence (below `level` of full scale)."""
    loud = np.flatnonzero(np.abs(samples) > level * 32768)
    return samples[loud[0] : loud[-1] + 1] if loud.size else samples[:0]


def mix(voice: str, text: str, parts: list[np.ndarray], rng: np.random.Generator) -> Utterance:
    """Phrases with 300-900 ms pauses between them, over a quiet room's noise."""
    lead_in, tail = 0.3, 2.0
    pauses = tuple(float(round(rng.uniform(0.3, 0.9), 3)) for _ in parts[:-1])
    pieces = [np.zeros(int(lead_in * RATE))]
    ends: list[float] = []
    for i, part in enumerate(parts):
        pieces.append(trim(part).astype(np.float64))
        ends.append(sum(p.size for p in pieces) / RATE)
        if i < len(pauses):
            pieces.append(np.zeros(int(pauses[i] * RATE)))
    speech_end = sum(p.size for p in pieces) / RATE
    pieces.append(np.zeros(int(tail * RATE)))
    audio = np.concatenate(pieces) + rng.normal(0.0, NOISE_RMS, sum(p.size for p in pieces))
    pcm = np.clip(np.round(audio), -32768, 32767).astype("<i2").tobytes()
    return Utterance(voice, text, pcm, speech_end, pauses, tuple(ends))


def build(folder: Path, services_python: Path, seed: int = 18) -> list[Utterance]:
    """Synthesise every request in every voice (piper in the services environment)."""
    folder.mkdir(parents=True, exist_ok=True)
    jobs: dict[tuple[str, str], Path] = {}
    for voice in VOICES:
        for r, text in enumerate(REQUESTS):
            for p, phrase in enumerate(phrases(text)):
                jobs[voice.name, phrase] = folder / f"{voice.name}-{r:02d}-{p}.wav"
    for voice in VOICES:
        mine = {phrase: path for (name, phrase), path in jobs.items() if name == voice.name}
        if voice.engine == "espeak-ng":
            for phrase, path in mine.items():
                espeak_say(voice, phrase, path)
        else:
            subprocess.run(
                [str(services_python), str(PIPER_SCRIPT), str(voice.speed)]
                + [f"{path}={phrase}" for phrase, path in mine.items()],
                check=True,
                timeout=1800,
            )
    rng = np.random.default_rng(seed)
    corpus = []
    for voice in VOICES:
        for text in REQUESTS:
            parts = [
                np.frombuffer(to_mic_pcm(jobs[voice.name, p]), dtype="<i2") for p in phrases(text)
            ]
            corpus.append(mix(voice.name, text.replace(" | ", " "), parts, rng))
    return corpus
