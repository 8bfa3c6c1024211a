"""Human-readable output: one block per request, then a summary table."""

from __future__ import annotations

from collections.abc import Iterable

from .playback import RequestResult


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def request_block(result: RequestResult) -> str:
    """What Milo heard, said and how long each stage took."""
    t = result.timings
    lines = [
        f'--- {result.kind}: "{result.spoken.request.text}"',
        f"  transcript : {result.transcript or '(none)'}",
        f"  answer     : {result.answer or '(none)'}",
    ]
    if result.processed_locally is not None:
        handler = "HA's local intents" if result.processed_locally else "Milo"
        lines.append(f"  handled by : {handler}")
    audio = f"{result.audio_file} ({result.audio_seconds:.1f} s)" if result.audio_file else "-"
    lines.append(f"  audio      : {audio}")
    if result.kind == "device":
        lines.append(f"  desk lamp  : {result.light_before} -> {result.light_after}")
    lines.append(
        "  timings (s after end of speech): "
        f"end of speech heard {_s(t.vad_end)}, transcript {_s(t.stt_done)}, "
        f"answer text {_s(t.text_ready)}, "
        f"agent done {_s(t.intent_done)}, first audio {_s(t.first_audio)}"
    )
    if result.error:
        lines.append(f"  ERROR      : {result.error}")
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
