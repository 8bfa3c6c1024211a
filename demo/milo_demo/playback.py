"""Say one request to the simulated satellite and collect what happened, end to end.

What HA did comes from its own pipeline debug record (the events the UI's debug view shows,
with their timestamps); what the person would hear comes from the satellite's sound output.
Timestamps are wall-clock on one machine, so the two sides line up.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import StageError, poll
from .ha_api import HaApiError
from .hass_config import LIGHT_ENTITY
from .homeassistant import HassProcess
from .speech import SpokenRequest

if TYPE_CHECKING:
    from .stack import DemoStack

RUN_S = 120.0
IDLE_S = 90.0
POLL_S = 0.25


@dataclass
class Timings:
    """Seconds, each measured from the end of the user's speech."""

    vad_end: float | None = None  # HA's pipeline decided the user stopped speaking
    stt_done: float | None = None  # transcript ready
    text_ready: float | None = None  # the answer's text starts flowing to TTS
    intent_done: float | None = None  # the agent finished
    first_audio: float | None = None  # the first answer audio reached the satellite's speaker

    @property
    def stt(self) -> float | None:
        """Speech end to transcript (includes the pipeline's end-of-speech detection)."""
        return self.stt_done

    @property
    def intent(self) -> float | None:
        """Transcript to the answer's first text for TTS (intent matching or the LLM)."""
        if self.text_ready is None or self.stt_done is None:
            return None
        return self.text_ready - self.stt_done

    @property
    def tts_first_audio(self) -> float | None:
        """Answer text to its first audio at the satellite."""
        if self.first_audio is None or self.text_ready is None:
            return None
        return self.first_audio - self.text_ready


@dataclass
class RequestResult:
    """One request, start to finish."""

    spoken: SpokenRequest
    transcript: str = ""
    answer: str = ""
    processed_locally: bool | None = None
    audio_file: Path | None = None
    audio_seconds: float = 0.0
    audio_stalled_s: float = 0.0  # the speaker ran dry mid-answer (audio came too slowly)
    timings: Timings = field(default_factory=Timings)
    error: str = ""
    light_before: str = ""
    light_after: str = ""
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def kind(self) -> str:
        """The request's kind (device, weather, surf, small_talk)."""
        return self.spoken.request.kind


def _ts(event: dict[str, Any]) -> float:
    return datetime.fromisoformat(event["timestamp"]).timestamp()


def _first(events: list[dict[str, Any]], event_type: str) -> dict[str, Any] | None:
    return next((e for e in events if e["type"] == event_type), None)


async def _new_run(hass: HassProcess, pipeline_id: str, known: set[str]) -> str:
    assert hass.ws is not None
    while True:
        runs = await hass.ws.call("assist_pipeline/pipeline_debug/list", pipeline_id=pipeline_id)
        fresh = [r["pipeline_run_id"] for r in runs["pipeline_runs"]]
        fresh = [r for r in fresh if r not in known]
        if fresh:
            return fresh[-1]
        await asyncio.sleep(POLL_S)


async def _finished_events(
    hass: HassProcess, pipeline_id: str, run_id: str
) -> list[dict[str, Any]]:
    assert hass.ws is not None
    while True:
        run = await hass.ws.call(
            "assist_pipeline/pipeline_debug/get", pipeline_id=pipeline_id, pipeline_run_id=run_id
        )
        events = list(run["events"])
        if any(e["type"] in ("run-end", "error") for e in events):
            return events
        await asyncio.sleep(POLL_S)


async def known_runs(hass: HassProcess, pipeline_id: str) -> set[str]:
    """Pipeline runs recorded so far, so the next new one is ours."""
    assert hass.ws is not None
    runs = await hass.ws.call("assist_pipeline/pipeline_debug/list", pipeline_id=pipeline_id)
    return {r["pipeline_run_id"] for r in runs["pipeline_runs"]}


async def _wait_idle(hass: HassProcess, satellite_entity: str, step: str, log: Path) -> None:
    """Wait until HA says the satellite is idle (done speaking the previous answer)."""

    async def idle() -> bool:
        return bool((await hass.state(satellite_entity))["state"] == "idle")

    try:
        async with asyncio.timeout(IDLE_S):
            await poll(idle, POLL_S)
    except TimeoutError as err:
        state = (await hass.state(satellite_entity))["state"]
        raise StageError(
            step, f"the satellite is still '{state}' after {IDLE_S:.0f} s", log
        ) from err


async def play_request(stack: DemoStack, spoken: SpokenRequest) -> RequestResult:
    """Speak one request into the satellite's microphone and record the outcome."""
    try:
        return await _play(stack, spoken)
    except HaApiError as err:
        step = f"request '{spoken.request.text}'"
        raise StageError(step, f"Home Assistant API: {err}", stack.hass.log) from err


async def _play(stack: DemoStack, spoken: SpokenRequest) -> RequestResult:
    hass, satellite, pipeline_id = stack.hass, stack.satellite, stack.pipeline
    result = RequestResult(spoken)
    step = f"request '{spoken.request.text}'"
    await _wait_idle(hass, stack.configured.satellite_entity, step, satellite.log)
    result.light_before = (await hass.state(LIGHT_ENTITY))["state"]
    seen = await known_runs(hass, pipeline_id)
    speech_end = await satellite.speak(spoken)
    try:
        async with asyncio.timeout(RUN_S):
            run_id = await _new_run(hass, pipeline_id, seen)
            result.events = await _finished_events(hass, pipeline_id, run_id)
    except TimeoutError as err:
        raise StageError(
            step, f"no finished pipeline run within {RUN_S:.0f} s of speaking", satellite.log
        ) from err
    _read_events(result, speech_end)
    if not result.error and result.answer and result.timings.stt_done is not None:
        # The wake chime plays before the transcript exists; the answer only after it.
        audio = await satellite.answer_audio(speech_end + result.timings.stt_done, RUN_S)
        result.audio_file, result.audio_seconds = audio.path, audio.seconds
        result.audio_stalled_s = audio.stalled_s
        result.timings.first_audio = audio.first_audio_at - speech_end
    result.light_after = (await hass.state(LIGHT_ENTITY))["state"]
    return result


def _read_events(result: RequestResult, speech_end: float) -> None:
    """Transcript, answer and stage times from HA's pipeline events."""
    events, timings = result.events, result.timings
    if error := _first(events, "error"):
        result.error = f"{error['data'].get('code')}: {error['data'].get('message')}"
    if vad_end := _first(events, "stt-vad-end"):
        timings.vad_end = _ts(vad_end) - speech_end
    if stt_end := _first(events, "stt-end"):
        result.transcript = stt_end["data"]["stt_output"].get("text", "")
        timings.stt_done = _ts(stt_end) - speech_end
    streaming = next(
        (
            e
            for e in events
            if e["type"] == "intent-progress" and (e.get("data") or {}).get("tts_start_streaming")
        ),
        None,
    )
    if intent_end := _first(events, "intent-end"):
        output = intent_end["data"]["intent_output"]
        result.answer = output["response"]["speech"].get("plain", {}).get("speech", "")
        result.processed_locally = intent_end["data"].get("processed_locally")
        timings.intent_done = _ts(intent_end) - speech_end
    ready = streaming or intent_end
    if ready is not None:
        timings.text_ready = _ts(ready) - speech_end
