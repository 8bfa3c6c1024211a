"""Truncation: how often each end-of-speech setting ends a request before the speaker finished.

The corpus (corpus.py) is requests said with hesitations of 300-900 ms inside them, in
piper's joe voice and espeak-ng, at two speeds each. Every request is fed, as the
satellite's microphone would, to:

- Milo's end of speech (milo_satellite.voice.end_of_speech) for `fast` and `balanced`,
  alone and as deployed: HA's own detector still runs on the same audio (default setting),
  so the earlier of the two ends the turn;
- Home Assistant's own detector, exactly as its pipeline runs it (MicroVad through
  assist_pipeline's audio enhancer, VoiceCommandSegmenter), for each "Finished speaking
  detection" setting;
- Milo's end of speech with the integration's verdict on the words ("+ words"): at the end
  of every phrase, milo-stt transcribes what was said 0.22 s into the pause (as it does
  for its speculative transcript), the integration's judge (turn_complete.py, with Milo's
  word rules and device matcher over a home with the corpus's devices; HA's own intents
  are not in the bench) decides, and a "whole request" reaches the satellite when the
  transcription took (measured) after that. A question for the model whisper heard end is
  whole only for `balanced` (end_of_turn.py asks the satellite's select), so `balanced`
  and `fast` get different verdicts.

An ending before the last phrase's sound has ended is transcribed by milo-stt (whisper
tiny.en) and compared with the transcript of the whole request: the request counts as
truncated when words are missing. Also reported: how long after the last word each
setting ends the turn, and the satellite's CPU time per second of audio on one core.

    .venv-ha/bin/python bench/truncation/run.py [--out bench/results/truncation.json]

Needs .venv (piper, milo-stt) and .venv-ha (Home Assistant); takes a few minutes.
"""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import dataclass
import datetime
import json
import os
from pathlib import Path
import pickle
import platform
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from homeassistant.components.assist_pipeline.audio_enhancer import MicroVadSpeexEnhancer
from homeassistant.components.assist_pipeline.vad import VadSensitivity, VoiceCommandSegmenter
from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncClient

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).parent))

from corpus import RATE, Utterance, build  # noqa: E402
from milo_turns import Stream, microphone  # noqa: E402

sys.path.insert(0, str(REPO))
from custom_components.milo.const import DEFAULT_SPOTS  # noqa: E402
from custom_components.milo.device_matcher import Device, match  # noqa: E402
from custom_components.milo.fast_path import recognise  # noqa: E402
from custom_components.milo.home_names import HomeNames  # noqa: E402
from custom_components.milo.turn_complete import is_whole  # noqa: E402

SERVICES_PYTHON = REPO / ".venv" / "bin" / "python"
MILO_TURNS = Path(__file__).with_name("milo_turns.py")
HA_CHUNK = 320  # HA's pipeline judges 10 ms chunks
HA_DEFAULT = VadSensitivity.DEFAULT
SPECULATE_AFTER_S = 0.22  # milo-stt transcribes this far into a pause
# The home the corpus's requests are about: (entity id, name, area).
HOME = (
    ("light.desk_lamp", "Desk lamp", "Study"),
    ("light.kitchen_lights", "Kitchen lights", "Kitchen"),
    ("climate.living_room", "Living room thermostat", "Living room"),
    ("switch.coffee_machine", "Coffee machine", "Kitchen"),
    ("lock.front_door", "Front door", "Hall"),
    ("light.bedroom_lights", "Bedroom lights", "Bedroom"),
    ("sensor.office_temperature", "Office temperature", "Office"),
    ("cover.garage_door", "Garage door", "Garage"),
    ("climate.heating", "Heating", "Hall"),
    ("media_player.kitchen_speaker", "Kitchen speaker", "Kitchen"),
    ("cover.study_blinds", "Blinds", "Study"),
    ("fan.bedroom_fan", "Fan", "Bedroom"),
    ("lock.back_door", "Back door", "Kitchen"),
    ("sensor.washing_machine", "Washing machine", "Utility room"),
    ("sensor.bathroom_humidity", "Bathroom humidity", "Bathroom"),
    ("vacuum.robot_vacuum", "Robot vacuum", "Hall"),
)
FLOORS = ("Downstairs", "Upstairs")


@dataclass(frozen=True)
class Turn:
    end: float  # seconds into the request when the turn ended
    heard: bytes  # the audio HA had been sent by then


def milo_turns(
    corpus: list[Utterance], verdicts: dict[str, list[list[float]]], work: Path
) -> tuple[list[dict[str, tuple[Turn, Stream]]], float]:
    """Milo's end of speech on every request (every setting, `verdicts` by mode for those
    that take them), run in the satellite's own environment, with the stream it sent HA;
    and its CPU time per second of audio."""
    (work / "corpus.pickle").write_bytes(pickle.dumps(corpus))
    (work / "verdicts.pickle").write_bytes(pickle.dumps(verdicts))
    files = [work / "corpus.pickle", work / "verdicts.pickle", work / "milo"]
    subprocess.run(
        [str(SERVICES_PYTHON), str(MILO_TURNS), *map(str, files)], check=True, timeout=3600
    )
    result = pickle.loads((work / "milo").read_bytes())
    turns = [
        {mode: (Turn(end, b"".join(a for _, a in sent)), sent) for mode, (end, sent) in t.items()}
        for t in result["turns"]
    ]
    return turns, float(result["cpu"])


def whole(text: str, *, questions: bool) -> bool:
    """The integration's verdict (end_of_turn.py) in the bench's home: Milo's word rules
    and device matcher stand for its agent (HA's own intents are not in the bench);
    `questions`: for a satellite on `balanced`."""
    devices = [Device(entity, (name,), (area,)) for entity, name, area in HOME]
    places = sorted({area for _, _, area in HOME} | set(FLOORS))
    home = HomeNames.of([name for _, name, _ in HOME] + places)
    spots = [str(spot["name"]) for spot in DEFAULT_SPOTS]
    handled = recognise(text, spots, home) is not None or (
        match(text, devices, places, whole_names=True) is not None
    )
    return is_whole(text, handled_whole=handled, questions=questions)


@dataclass(frozen=True)
class Verdict:
    phrase: int  # after which phrase (the last: the request's end)
    text: str  # milo-stt's transcript 0.22 s into the pause
    whole: bool  # for `fast`
    whole_on_balanced: bool  # questions for the model too
    arrives: float  # seconds into the request: the pause's start + 0.22 s + transcription


async def verdicts(utterance: Utterance, stt: Stt) -> list[Verdict]:
    """The integration's verdict in every pause of `utterance` and at its end."""
    found = []
    for i, end in enumerate(utterance.phrase_ends):
        at = end + SPECULATE_AFTER_S
        start = time.perf_counter()
        text = await stt.transcribe(utterance.pcm[: 2 * round(at * RATE)])
        took = time.perf_counter() - start
        found.append(
            Verdict(i, text, whole(text, questions=False), whole(text, questions=True), at + took)
        )
    return found


def ha_turn(stream: Stream, sensitivity: VadSensitivity) -> Turn | None:
    """Where HA's pipeline ends the turn on `stream`: its enhancer's MicroVad and its
    segmenter, as default_pipeline runs them (None: it never does)."""
    enhancer = MicroVadSpeexEnhancer(auto_gain=0, noise_suppression=0, is_vad_enabled=True)
    segmenter = VoiceCommandSegmenter(silence_seconds=VadSensitivity.to_seconds(sensitivity))
    heard = bytearray()
    done = 0
    for now, audio in stream:
        heard += audio
        while done + HA_CHUNK <= len(heard):
            chunk = enhancer.enhance_chunk(bytes(heard[done : done + HA_CHUNK]), done // 32)
            done += HA_CHUNK
            if not segmenter.process(HA_CHUNK / 2 / RATE, chunk.speech_probability):
                return Turn(now, bytes(heard[:done]))
    return None


def turns(utterance: Utterance, milo: dict[str, tuple[Turn, Stream]]) -> dict[str, Turn]:
    """How each setting ends this request."""
    raw = microphone(utterance.pcm)
    never = Turn(raw[-1][0], utterance.pcm)
    found = {f"HA {s}": ha_turn(raw, s) or never for s in VadSensitivity}
    for mode, (turn, sent) in milo.items():
        found[f"milo {mode} alone"] = turn
        ha = ha_turn(sent, HA_DEFAULT)  # HA's detector still runs, on what Milo sent
        found[f"milo {mode} + HA {HA_DEFAULT}"] = turn if ha is None or turn.end <= ha.end else ha
    return found


_WORD = re.compile(r"[a-z0-9']+")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


class Stt:
    """milo-stt (the embedded whisper model) as a Wyoming service in the services venv."""

    def __init__(self, log: Path) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.uri = f"tcp://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [str(SERVICES_PYTHON), "-m", "milo_services.stt", "--uri", self.uri],
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        self.cache: dict[bytes, str] = {}

    async def ready(self) -> None:
        for _ in range(600):
            if self.process.poll() is not None:
                raise RuntimeError(f"milo-stt exited with {self.process.returncode}")
            try:
                await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                await asyncio.sleep(0.2)
            else:
                return
        raise RuntimeError("milo-stt did not start")

    async def transcribe(self, pcm: bytes) -> str:
        if pcm not in self.cache:
            async with AsyncClient.from_uri(self.uri) as client:
                await client.write_event(Transcribe(language="en").event())
                await client.write_event(AudioStart(rate=RATE, width=2, channels=1).event())
                await client.write_event(
                    AudioChunk(rate=RATE, width=2, channels=1, audio=pcm).event()
                )
                await client.write_event(AudioStop().event())
                while True:
                    event = await client.read_event()
                    if event is None:
                        raise RuntimeError("milo-stt closed the connection")
                    if Transcript.is_type(event.type):
                        self.cache[pcm] = Transcript.from_event(event).text
                        break
        return self.cache[pcm]

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def bench(work: Path) -> dict[str, object]:
    corpus = build(work / "speech", SERVICES_PYTHON)
    stt = Stt(work / "stt.log")
    try:
        await stt.ready()
        results: dict[str, object] = {}
        full = [await stt.transcribe(u.pcm) for u in corpus]
        judged = [await verdicts(u, stt) for u in corpus]
        arrivals = {
            "fast": [[v.arrives for v in j if v.whole] for j in judged],
            "balanced": [[v.arrives for v in j if v.whole_on_balanced] for j in judged],
        }
        milo, cpu = milo_turns(corpus, arrivals, work)
        all_turns = [turns(u, m) for u, m in zip(corpus, milo, strict=True)]
        for name in all_turns[0]:
            cut_early = truncated = 0
            delays: list[float] = []
            delays_by_voice: dict[str, list[float]] = {}
            examples: list[dict[str, object]] = []
            by_voice: dict[str, int] = {}
            for u, said, turn in zip(corpus, full, (t[name] for t in all_turns), strict=True):
                if turn.end >= u.speech_end:
                    delays.append(turn.end - u.speech_end)
                    delays_by_voice.setdefault(u.voice, []).append(turn.end - u.speech_end)
                    continue
                cut_early += 1
                heard = await stt.transcribe(turn.heard)
                if [w for w in words(said) if w not in words(heard)]:
                    truncated += 1
                    by_voice[u.voice] = by_voice.get(u.voice, 0) + 1
                    examples.append(
                        {"voice": u.voice, "said": said, "heard": heard, "pauses": u.pauses}
                    )
            results[name] = {
                "truncated": truncated,
                "truncated_percent": round(100 * truncated / len(corpus), 1),
                "ended_before_last_word": cut_early,
                "truncated_by_voice": by_voice,
                "end_after_last_word_s": {
                    "median": round(statistics.median(delays), 3) if delays else None,
                    "p90": _percentile(delays, 0.9),
                    "median_by_voice": {
                        v: round(statistics.median(d), 3) for v, d in delays_by_voice.items()
                    },
                },
                "examples": examples[:5],
            }
            print(f"{name:26s} {json.dumps(results[name])[:300]}", flush=True)
    finally:
        stt.close()
    return {
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} CPUs",
        "requests": len(corpus),
        "voices": sorted({u.voice for u in corpus}),
        "pauses_inside": sum(len(u.pauses) for u in corpus),
        "settings": results,
        "word_verdicts": verdict_summary(corpus, judged),
        "satellite_cpu_s_per_audio_s": round(cpu, 4),
    }


def verdict_summary(corpus: list[Utterance], judged: list[list[Verdict]]) -> dict[str, object]:
    """How often the words were judged whole at the end and in the pauses, and how long
    after the pause's start the verdict reached the satellite."""
    ends = [j[-1] for j in judged]
    inside = [v for j in judged for v in j[:-1]]
    arrival = [
        v.arrives - u.phrase_ends[v.phrase] for u, j in zip(corpus, judged, strict=True) for v in j
    ]
    return {
        "whole_at_the_end": sum(v.whole for v in ends),
        "whole_at_the_end_on_balanced": sum(v.whole_on_balanced for v in ends),
        "requests": len(ends),
        "whole_in_a_pause": sum(v.whole for v in inside),
        "whole_in_a_pause_on_balanced": sum(v.whole_on_balanced for v in inside),
        "pauses": len(inside),
        "arrives_after_pause_start_s": {
            "median": round(statistics.median(arrival), 3),
            "p90": _percentile(arrival, 0.9),
        },
        "not_whole_at_the_end": [
            {"voice": u.voice, "heard": j[-1].text}
            for u, j in zip(corpus, judged, strict=True)
            if not j[-1].whole
        ][:40],
        "whole_in_a_pause_examples": [v.text for v in inside if v.whole][:40],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "bench/results/truncation.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="milo-truncation-") as work:
        report = asyncio.run(bench(Path(work)))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"satellite CPU: {report['satellite_cpu_s_per_audio_s']} s per s of audio; {args.out}")


if __name__ == "__main__":
    main()
