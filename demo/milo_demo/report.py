"""Human-readable output: one block per request, then a summary table."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from .hass_config import WEATHER_ENTITY
from .playback import RequestResult

if TYPE_CHECKING:
    from .open_meteo import OpenMeteoStandIn


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


SURF_DATA = {
    "recorded": "RECORDED forecast from the local stand-in, not live",
    "offline": "none: no internet and no stand-in (--surf offline)",
}


def request_block(result: RequestResult, surf: str = "") -> str:
    """What Milo heard, said and how long each stage took (and, for surf, whose data)."""
    t = result.timings
    lines = [
        f'--- {result.kind}: "{result.spoken.request.text}"',
        f"  transcript : {result.transcript or '(none)'}",
        f"  answer     : {result.answer or '(none)'}",
    ]
    if result.processed_locally is not None:
        handler = "HA's local intents" if result.processed_locally else "Milo"
        lines.append(f"  handled by : {handler}")
    audio = "-"
    if result.audio_file:
        stalled = f", ran dry {result.audio_stalled_s:.1f} s" if result.audio_stalled_s else ""
        audio = f"{result.audio_file} ({result.audio_seconds:.1f} s{stalled})"
    lines.append(f"  audio      : {audio}")
    if result.kind == "device":
        lines.append(f"  desk lamp  : {result.light_before} -> {result.light_after}")
    if result.kind == "weather":
        lines.append(f"  weather    : {WEATHER_ENTITY}, fixed demo data (not a forecast)")
    if result.kind == "surf" and surf:
        lines.append(f"  surf data  : {SURF_DATA.get(surf, surf)}")
    lines.append(
        "  timings (s after end of speech): "
        f"end of speech heard {_s(t.vad_end)}, transcript {_s(t.stt_done)}, "
        f"answer text {_s(t.text_ready)}, "
        f"agent done {_s(t.intent_done)}, first audio {_s(t.first_audio)}"
    )
    if result.error:
        lines.append(f"  ERROR      : {result.error}")
    return "\n".join(lines)


def surf_source_line(surf: str, stand_in: OpenMeteoStandIn | None) -> str:
    """Where Milo's surf comes from in this run, said before any surf is reported."""
    if stand_in is not None:
        return (
            f"surf: RECORDED forecast from the local stand-in at {stand_in.base_url} "
            "(a constructed sample in Open-Meteo's format, not live; see "
            "demo/milo_demo/fixtures/README.md)"
        )
    return (
        f"surf: {surf}: no stand-in, Milo asks Open-Meteo's public APIs, which this machine "
        "cannot reach; Milo must say the forecast is unavailable"
    )


def surf_block(surf: Mapping[str, Any]) -> str:
    """The surf sensor as Home Assistant shows it, with the attribution that labels it."""
    lines = [f"surf source: {surf.get('source', '-')}"]
    if "stand_in" in surf:
        requests = surf.get("stand_in_requests") or []
        lines.append(
            f"  stand-in   : {surf['stand_in']} ({len(requests)} requests: "
            f"{', '.join(sorted(set(requests))) or 'none'})"
        )
    lines.append(f"  sensor.east_strand_rating: {surf.get('sensor', '-')}")
    if surf.get("attribution"):
        lines.append(f"  attribution: {surf['attribution']}")
    return "\n".join(lines)


def summary_table(results: Iterable[RequestResult]) -> str:
    """One row per request: stage split and total latency to first audio."""
    header = (
        f"{'kind':<11} {'STT':>6} {'intent':>7} {'TTS 1st':>8} {'total':>6}  {'ok':<3} transcript"
    )
    rows = [header, "-" * len(header)]
    for r in results:
        t = r.timings
        ok = "yes" if r.answer and r.audio_file and not r.error else "NO"
        rows.append(
            f"{r.kind:<11} {_s(t.stt):>6} {_s(t.intent):>7} {_s(t.tts_first_audio):>8} "
            f"{_s(t.first_audio):>6}  {ok:<3} {r.transcript[:40]}"
        )
    rows.append(
        "STT: end of speech -> transcript; intent: -> answer text for TTS; "
        "TTS 1st: -> first answer audio at the satellite; total: end of speech -> first audio"
    )
    return "\n".join(rows)
