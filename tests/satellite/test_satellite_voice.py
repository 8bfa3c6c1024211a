"""The voice flow with the real aioesphomeapi client playing Home Assistant's part.

The microphone hears real synthesised speech ("Okay Nabu. What is the surf like at
Portrush today?"); the wake word model must really fire; the question must reach "HA"
byte for byte; the answer is served over HTTP like HA's TTS proxy and must come out of
the sound sink.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
import logging
from pathlib import Path

from aioesphomeapi import (
    APIClient,
    MediaPlayerState,
    VoiceAssistantEventType as Ev,
    VoiceAssistantTimerEventType as TimerEv,
)
from aiohttp import web
import numpy as np
import pytest
from satellite_helpers import (
    FakeHA,
    Milo,
    Speech,
    caught_up,
    eventually,
    make_milo,
    piper_say,
    send,
    silence,
    subscribe,
    wav_samples,
    write_wav,
)

from milo_satellite.voice.audio import (
    CommandMicrophone,
    CommandSink,
    PcmFormat,
    decode,
    read_wav_as_mic_pcm,
)
from milo_satellite.voice.player import AudioPlayer
from milo_satellite.voice.satellite import Phase


@dataclass
class TTSServer:
    base: str
    files: dict[str, Path] = field(default_factory=dict)
    slow: bool = False
    pause_s: float = 0.05  # after each 4 KiB when slow: about twice as fast as it plays
    completed: list[str] = field(default_factory=list)  # responses sent to the end


@pytest.fixture
async def tts(speech: Speech) -> AsyncIterator[TTSServer]:
    """HA's TTS/media proxy: the answer as WAV (the format we ask for) and as FLAC/MP3."""
    garbage = speech.answer_wav.with_name("garbage.wav")
    garbage.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" + bytes(range(256)) * 64)
    long_wav = speech.answer_wav.with_name("long.wav")
    if not long_wav.exists():  # five answers in a row: a "song" to interrupt
        samples = wav_samples(speech.answer_wav).tobytes()
        write_wav(long_wav, samples * 5, 22050)
    files = {
        "long.wav": long_wav,
        "garbage.wav": garbage,
        "answer.wav": speech.answer_wav,
        "answer.flac": speech.answer_wav.with_suffix(".flac"),
        "answer.mp3": speech.answer_wav.with_suffix(".mp3"),
    }
    server = TTSServer("", files)

    async def serve(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in files:
            return web.Response(status=404)
        data = files[name].read_bytes()
        resp = web.StreamResponse()
        await resp.prepare(request)
        try:
            for i in range(0, len(data), 4096):  # streamed, like HA's TTS stream
                await resp.write(data[i : i + 4096])
                if server.slow:
                    await asyncio.sleep(server.pause_s)
            await resp.write_eof()
            server.completed.append(name)
        except ConnectionResetError:
            pass  # Milo stopped listening (stop word, announcement): expected
        return resp

    app = web.Application()
    app.router.add_get("/tts/{name}", serve)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    server.base = f"http://127.0.0.1:{port}/tts"
    yield server
    await runner.cleanup()


async def wake_and_ask(milo: Milo, client: APIClient, ha: FakeHA, speech: Speech) -> None:
    subscribe(client, ha)
    await eventually(lambda: milo.voice.connected)
    utterance = wav_samples(speech.utterance_wav).tobytes()
    milo.mic.say(utterance)
    await eventually(lambda: ha.starts)
    # The whole question reaches "HA", byte for byte.
    await eventually(lambda: speech.question in ha.audio)


async def test_wake_word_question_answer(
    milo: Milo, client: APIClient, speech: Speech, tts: TTSServer
) -> None:
    entities, _ = await client.list_entities_services()
    light_key = next(e.key for e in entities if e.object_id == "status_light")
    effects: list[str] = []
    client.subscribe_states(
        lambda s: effects.append(s.effect) if s.key == light_key else None  # type: ignore[attr-defined]
    )
    ha = FakeHA()
    await wake_and_ask(milo, client, ha, speech)

    # The wake word was really detected by the model, once, and HA starts at STT.
    assert milo.voice.detections == 1
    assert ha.starts == [("", 0, "Okay Nabu")]
    assert milo.voice.phase is Phase.LISTENING
    assert milo.head.attention == "listening"

    url = f"{tts.base}/answer.wav"
    send(client, Ev.VOICE_ASSISTANT_RUN_START, url=url)
    send(client, Ev.VOICE_ASSISTANT_STT_START)
    send(client, Ev.VOICE_ASSISTANT_STT_VAD_START)
    send(client, Ev.VOICE_ASSISTANT_STT_VAD_END)
    await eventually(lambda: milo.voice.phase is Phase.THINKING)
    await caught_up(client)  # audio sent before the phase changed may still be on its way
    streamed = len(ha.audio)
    await asyncio.sleep(0.2)
    assert len(ha.audio) == streamed  # streaming stopped at the end of speech
    send(client, Ev.VOICE_ASSISTANT_STT_END, text="what is the surf like at portrush today")
    send(client, Ev.VOICE_ASSISTANT_INTENT_START)
    send(client, Ev.VOICE_ASSISTANT_INTENT_PROGRESS, tts_start_streaming="1")
    await eventually(lambda: milo.voice.phase is Phase.SPEAKING)
    send(
        client,
        Ev.VOICE_ASSISTANT_INTENT_END,
        conversation_id="c1",
        continue_conversation="0",
        speech="Two foot and glassy",
    )
    send(client, Ev.VOICE_ASSISTANT_TTS_START, text="Two foot and glassy")
    send(client, Ev.VOICE_ASSISTANT_TTS_END, url=url)
    send(client, Ev.VOICE_ASSISTANT_RUN_END)
    await eventually(lambda: ha.finished == [True])
    await eventually(lambda: milo.voice.phase is Phase.IDLE)
    assert milo.head.attention == "idle"

    # The status light showed each phase, as the original's LEDs did.
    phases = [e for i, e in enumerate(effects) if i == 0 or effects[i - 1] != e]
    assert phases == ["Searching", "Listening", "Thinking", "Speaking", "Searching"]

    played = {p.name.split("-", 1)[1]: p for p in milo.played()}
    assert set(played) == {"wake.wav", "tts.wav"}
    # The WAV HA served is already in the speaker's format: it reaches the sink untouched.
    assert np.array_equal(wav_samples(played["tts.wav"]), wav_samples(speech.answer_wav))


async def test_answer_plays_while_it_streams(
    milo: Milo, client: APIClient, speech: Speech, tts: TTSServer
) -> None:
    """HA says the answer is streaming (INTENT_PROGRESS): Milo starts speaking from the
    first bytes, long before the TTS response is complete (and before TTS_END)."""
    ha = FakeHA()
    await wake_and_ask(milo, client, ha, speech)
    tts.slow = True  # 4 KB every 50 ms: the whole answer takes a few seconds to arrive
    send(client, Ev.VOICE_ASSISTANT_RUN_START, url=f"{tts.base}/answer.wav")
    send(client, Ev.VOICE_ASSISTANT_STT_END, text="what is the surf like")
    send(client, Ev.VOICE_ASSISTANT_INTENT_PROGRESS, tts_start_streaming="1")

    def speaking() -> bool:
        tts_files = [p for p in milo.played() if p.name.endswith("tts.wav")]
        return bool(tts_files) and tts_files[0].stat().st_size > 44 + 8192

    await eventually(speaking)
    assert tts.completed == []  # still arriving while it plays
    await eventually(lambda: tts.completed == ["answer.wav"])
    send(client, Ev.VOICE_ASSISTANT_TTS_END, url=f"{tts.base}/answer.wav")
    send(client, Ev.VOICE_ASSISTANT_RUN_END)
    await eventually(lambda: ha.finished == [True])
    tts_file = next(p for p in milo.played() if p.name.endswith("tts.wav"))
    assert np.array_equal(wav_samples(tts_file), wav_samples(speech.answer_wav))


async def test_home_assistant_leaving_mid_run(
    milo: Milo, client: APIClient, speech: Speech
) -> None:
    """HA restarts while Milo listens: the run is dropped, Milo waits for its name again,
    and once HA is back the next wake word works."""
    ha = FakeHA()
    await wake_and_ask(milo, client, ha, speech)
    assert milo.voice.phase is Phase.LISTENING
    await client.disconnect()
    await eventually(lambda: milo.voice.phase is Phase.IDLE)
    assert not milo.voice.connected

    again = APIClient("127.0.0.1", milo.server.port, None, client_info="HA again")
    await again.connect(login=True)
    try:
        back = FakeHA()
        await wake_and_ask(milo, again, back, speech)
        assert back.starts == [("", 0, "Okay Nabu")]
    finally:
        await again.disconnect()


@pytest.mark.parametrize("name", ["answer.flac", "answer.mp3"])
async def test_other_formats_are_decoded(
    milo: Milo, client: APIClient, speech: Speech, tts: TTSServer, name: str
) -> None:
    """Media in other formats and rates goes through ffmpeg into the speaker's format."""
    finished: list[bool] = []
    result = await client.send_voice_assistant_announcement_await_response(
        f"{tts.base}/{name}", 30, "surf report"
    )
    finished.append(result.success)
    assert finished == [True]
    (played,) = milo.played()
    expected = wav_samples(speech.answer_wav).astype(float)
    got = wav_samples(played).astype(float)
    assert abs(len(got) - len(expected)) < 0.05 * len(expected) + 2000  # same duration
    n = min(len(got), len(expected))
    # 16 kHz in between loses the top octave; the speech itself is the same.
    assert np.corrcoef(got[:n], expected[:n])[0, 1] > 0.8


async def test_streamed_answer_at_another_rate_plays_without_waiting(speech: Speech) -> None:
    """An answer streamed as WAV at the TTS engine's rate (as HA passes it on) is resampled
    as it arrives: the first audio comes out of 8 KB, not after ffmpeg's WAV read-ahead of
    about 64 KB (1.5 s of speech, which the listener would wait for)."""
    pcm = wav_samples(speech.answer_wav).tobytes()
    streamed = speech.answer_wav.read_bytes()[:44]  # HA's header: length unknown (0)
    header = streamed[:4] + b"\0\0\0\0" + streamed[8:40] + b"\0\0\0\0"
    played = asyncio.Event()

    async def source() -> AsyncIterator[bytes]:
        yield header
        yield pcm[: 8 * 1024]
        await played.wait()  # the rest only once the first audio is out
        yield pcm[8 * 1024 :]

    out = bytearray()
    async with asyncio.timeout(30):
        async for chunk in decode(source(), PcmFormat(rate=48000)):
            played.set()
            out += chunk
    assert abs(len(out) / 2 / 48000 - len(pcm) / 2 / 22050) < 0.05  # the whole answer


async def test_media_player_reports_only_states_ha_maps(
    milo: Milo, client: APIClient, tts: TTSServer
) -> None:
    """HA's ESPHome media player maps idle, playing, paused, off and on (not announcing):
    while Milo announces, the speaker shows "playing", then "idle" again."""
    entities, _ = await client.list_entities_services()
    player_key = next(e.key for e in entities if e.object_id == "media_player")
    states: list[MediaPlayerState] = []
    client.subscribe_states(
        lambda s: states.append(s.state) if s.key == player_key else None  # type: ignore[attr-defined]
    )
    await eventually(lambda: states)
    result = await client.send_voice_assistant_announcement_await_response(
        f"{tts.base}/answer.wav", 30, "surf report"
    )
    assert result.success
    await eventually(lambda: states[-1] == MediaPlayerState.IDLE)
    assert MediaPlayerState.PLAYING in states
    assert set(states) <= {MediaPlayerState.IDLE, MediaPlayerState.PLAYING}


async def test_wake_word_chosen_from_the_select(
    milo: Milo, client: APIClient, speech: Speech, tmp_path: Path
) -> None:
    """Picking hey_jarvis in the select swaps the model: "Okay Nabu" no longer wakes
    Milo, a spoken "Hey Jarvis" does."""
    jarvis = read_wav_as_mic_pcm(piper_say("Hey Jarvis.", tmp_path / "jarvis.wav"))
    entities, _ = await client.list_entities_services()
    select_key = next(e.key for e in entities if e.object_id == "wake_word")
    ha = FakeHA()
    subscribe(client, ha)
    await eventually(lambda: milo.voice.connected)
    client.select_command(select_key, "hey_jarvis")
    await eventually(lambda: milo.voice.wake_word == "hey_jarvis")

    milo.mic.say(silence(0.3) + speech.wake_word + silence(1.0))
    await eventually(milo.mic.queue.empty)
    await asyncio.sleep(0.5)
    assert ha.starts == []
    milo.mic.say(silence(0.3) + jarvis + silence(1.0))
    await eventually(lambda: ha.starts)
    assert ha.starts == [("", 0, "Hey Jarvis")]
    assert milo.voice.detections == 1


async def test_announcement_then_conversation(
    milo: Milo, client: APIClient, tts: TTSServer
) -> None:
    """assist_satellite.start_conversation: speak first, then listen without a wake word."""
    ha = FakeHA()
    subscribe(client, ha)
    await eventually(lambda: milo.voice.connected)
    result = await client.send_voice_assistant_announcement_await_response(
        f"{tts.base}/answer.wav",
        30,
        "Hi Jay",
        preannounce_media_id=f"{tts.base}/answer.flac",
        start_conversation=True,
    )
    assert result.success
    await eventually(lambda: ha.starts)
    assert ha.starts[0][1] == 0  # no wake word stage: straight to speech-to-text
    assert milo.voice.phase is Phase.LISTENING
    assert [p.name for p in milo.played()] == ["0001-announcement.wav"]


async def test_continue_conversation(
    milo: Milo, client: APIClient, speech: Speech, tts: TTSServer
) -> None:
    ha = FakeHA()
    await wake_and_ask(milo, client, ha, speech)
    send(client, Ev.VOICE_ASSISTANT_STT_END, text="remind me")
    send(client, Ev.VOICE_ASSISTANT_INTENT_END, conversation_id="c7", continue_conversation="1")
    send(client, Ev.VOICE_ASSISTANT_TTS_END, url=f"{tts.base}/answer.wav")
    send(client, Ev.VOICE_ASSISTANT_RUN_END)
    await eventually(lambda: len(ha.starts) == 2)
    assert ha.starts[1][0] == "c7"  # same conversation, no wake word needed
    assert milo.voice.phase is Phase.LISTENING


async def test_stop_word_cuts_the_answer_short(
    milo: Milo, client: APIClient, speech: Speech, tts: TTSServer
) -> None:
    ha = FakeHA()
    await wake_and_ask(milo, client, ha, speech)
    # HA streams the answer while it is being produced, slower than it plays: it is still
    # coming when the stop word has been heard, however slowly a loaded machine hears it.
    tts.slow, tts.pause_s = True, 0.3
    send(client, Ev.VOICE_ASSISTANT_STT_END, text="tell me a long story")
    send(client, Ev.VOICE_ASSISTANT_TTS_END, url=f"{tts.base}/answer.wav")
    await eventually(lambda: milo.voice.player.playing)
    await asyncio.sleep(0.2)
    milo.mic.say(speech.wake_word)  # "Okay Nabu" while Milo talks = stop
    await eventually(lambda: ha.finished == [False])
    assert milo.voice.detections == 2
    send(client, Ev.VOICE_ASSISTANT_RUN_END)
    await eventually(lambda: milo.voice.phase is Phase.IDLE)
    tts_file = next(p for p in milo.played() if p.name.endswith("tts.wav"))
    assert len(wav_samples(tts_file)) < len(wav_samples(speech.answer_wav))


async def test_stop_word_heard_over_the_answers_echo(
    milo: Milo, client: APIClient, speech: Speech, tts: TTSServer
) -> None:
    """The microphone hears the speaker too. With the answer's echo 20 dB under the
    voice (what an echo canceller leaves, docs/satellite.md) the stop word still works;
    bench/clean_audio/stop_word.py measures it against louder echoes."""
    ha = FakeHA()
    await wake_and_ask(milo, client, ha, speech)
    tts.slow, tts.pause_s = True, 0.3  # still coming when the stop word has been heard
    send(client, Ev.VOICE_ASSISTANT_STT_END, text="tell me a long story")
    send(client, Ev.VOICE_ASSISTANT_TTS_END, url=f"{tts.base}/answer.wav")
    await eventually(lambda: milo.voice.player.playing)
    voice = np.frombuffer(silence(0.5) + speech.wake_word + silence(0.5), dtype="<i2")
    echo = np.frombuffer(read_wav_as_mic_pcm(speech.answer_wav), dtype="<i2").astype(float)
    echo = np.resize(echo, voice.size)
    level = np.sqrt(np.mean(voice.astype(float) ** 2) / np.mean(echo**2)) * 10 ** (-20 / 20)
    milo.mic.say(np.clip(voice + level * echo, -32768, 32767).astype("<i2").tobytes())
    await eventually(lambda: ha.finished == [False])
    assert milo.voice.detections == 2


async def test_timer_rings_until_stopped(milo: Milo, client: APIClient, speech: Speech) -> None:
    client.send_voice_assistant_timer_event(
        TimerEv.VOICE_ASSISTANT_TIMER_STARTED, "t1", "tea", 60, 60, True
    )
    await eventually(lambda: "t1" in milo.voice.ringer.timers)
    client.send_voice_assistant_timer_event(
        TimerEv.VOICE_ASSISTANT_TIMER_FINISHED, "t1", "tea", 60, 0, False
    )
    await eventually(lambda: len(milo.played()) >= 3)  # it keeps ringing
    assert milo.voice.ringing
    milo.mic.say(speech.wake_word)  # the wake word stops the alarm, no pipeline starts
    await eventually(lambda: not milo.voice.ringing)
    assert milo.voice.phase is Phase.IDLE
    assert all(p.name.endswith("timer.wav") for p in milo.played())


async def test_no_home_assistant_plays_the_error_sound(milo: Milo, speech: Speech) -> None:
    milo.mic.say(wav_samples(speech.utterance_wav).tobytes())
    await eventually(milo.played)
    assert milo.voice.detections == 1
    assert milo.played()[0].name.endswith("error.wav")
    assert milo.voice.phase is Phase.IDLE


async def test_ha_not_answering_plays_the_error_sound(tmp_path: Path, speech: Speech) -> None:
    milo = await make_milo(tmp_path, response_timeout_s=0.5)
    client = APIClient("127.0.0.1", milo.server.port, None)
    await client.connect(login=True)
    try:
        ha = FakeHA(answer_after=5.0)
        subscribe(client, ha)
        await eventually(lambda: milo.voice.connected)
        milo.mic.say(wav_samples(speech.utterance_wav).tobytes())
        await eventually(lambda: any(p.name.endswith("error.wav") for p in milo.played()))
        await eventually(lambda: milo.voice.phase is Phase.IDLE)
    finally:
        await client.disconnect()
        await milo.close()


async def test_no_answer_from_ha_is_not_forever(tmp_path: Path, speech: Speech) -> None:
    """HA goes quiet after the question (LLM stuck): Milo gives up and listens again."""
    milo = await make_milo(tmp_path, answer_timeout_s=1.0)
    client = APIClient("127.0.0.1", milo.server.port, None)
    await client.connect(login=True)
    try:
        ha = FakeHA()
        await wake_and_ask(milo, client, ha, speech)
        send(client, Ev.VOICE_ASSISTANT_STT_END, text="what is the meaning of life")
        await eventually(lambda: milo.voice.phase is Phase.THINKING)
        await eventually(lambda: milo.voice.phase is Phase.IDLE)
        await eventually(lambda: any(p.name.endswith("error.wav") for p in milo.played()))
        await eventually(lambda: ha.stops)  # HA was told this run is over
    finally:
        await client.disconnect()
        await milo.close()


async def test_pipeline_error_plays_the_error_sound(
    milo: Milo, client: APIClient, speech: Speech
) -> None:
    ha = FakeHA()
    await wake_and_ask(milo, client, ha, speech)
    send(client, Ev.VOICE_ASSISTANT_ERROR, code="stt-no-text-recognized", message="No text")
    send(client, Ev.VOICE_ASSISTANT_RUN_END)
    await eventually(lambda: any(p.name.endswith("error.wav") for p in milo.played()))
    await eventually(lambda: milo.voice.phase is Phase.IDLE)


async def test_mute_stops_listening(milo: Milo, client: APIClient, speech: Speech) -> None:
    ha = FakeHA()
    subscribe(client, ha)
    await eventually(lambda: milo.voice.connected)
    milo.voice.set_muted(True)
    milo.mic.say(wav_samples(speech.utterance_wav).tobytes())
    await asyncio.sleep(1.0)
    await eventually(milo.mic.queue.empty)
    assert ha.starts == []
    assert milo.voice.detections == 0


async def test_wake_word_configuration_like_ha(milo: Milo, client: APIClient) -> None:
    config = await client.get_voice_assistant_configuration(5)
    assert {w.id for w in config.available_wake_words} == {
        "okay_nabu",
        "hey_jarvis",
        "alexa",
        "hey_mycroft",
    }
    assert config.active_wake_words == ["okay_nabu"]
    assert config.max_active_wake_words == 1
    await client.set_voice_assistant_configuration(["alexa"])
    await eventually(lambda: milo.voice.wake_word == "alexa")
    assert milo.device.wake_word.value == "alexa"


async def test_thinking_sound(tmp_path: Path, speech: Speech) -> None:
    milo = await make_milo(tmp_path, thinking="sound")
    client = APIClient("127.0.0.1", milo.server.port, None)
    await client.connect(login=True)
    try:
        ha = FakeHA()
        await wake_and_ask(milo, client, ha, speech)
        send(client, Ev.VOICE_ASSISTANT_STT_END, text="hmm")
        await eventually(lambda: any(p.name.endswith("thinking.wav") for p in milo.played()))
    finally:
        await client.disconnect()
        await milo.close()


@pytest.mark.parametrize("name", ["garbage.wav", "missing.wav"])
async def test_bad_media_fails_cleanly(
    milo: Milo, client: APIClient, tts: TTSServer, name: str
) -> None:
    """Garbage audio or a 404 is reported as a failed announcement; Milo carries on."""
    result = await client.send_voice_assistant_announcement_await_response(
        f"{tts.base}/{name}", 30, "broken"
    )
    assert not result.success
    assert milo.voice.phase is Phase.IDLE
    result = await client.send_voice_assistant_announcement_await_response(
        f"{tts.base}/answer.wav", 30, "fine"
    )
    assert result.success


async def test_announcement_during_an_answer(
    milo: Milo, client: APIClient, speech: Speech, tts: TTSServer
) -> None:
    """The announcement replaces the answer; HA hears about the announcement only."""
    ha = FakeHA()
    await wake_and_ask(milo, client, ha, speech)
    tts.slow = True
    send(client, Ev.VOICE_ASSISTANT_STT_END, text="tell me a long story")
    send(client, Ev.VOICE_ASSISTANT_TTS_END, url=f"{tts.base}/answer.wav")
    await eventually(lambda: milo.voice.player.playing)
    tts.slow = False
    result = await client.send_voice_assistant_announcement_await_response(
        f"{tts.base}/answer.flac", 30, "dinner is ready"
    )
    assert result.success
    await eventually(lambda: ha.finished)
    await asyncio.sleep(0.2)
    assert ha.finished == [True]  # the cut answer did not report a failure
    await eventually(lambda: milo.voice.phase is Phase.IDLE)


async def test_music_resumes_where_it_was(
    milo: Milo, client: APIClient, speech: Speech, tts: TTSServer
) -> None:
    """Music cut by a question goes on from the same sample once Milo has answered."""
    entities, _ = await client.list_entities_services()
    player_key = next(e.key for e in entities if e.object_id == "media_player")
    tts.slow = True  # the music streams in, so it is still playing when Milo is called
    client.media_player_command(player_key, media_url=f"{tts.base}/long.wav")
    await eventually(lambda: milo.voice.player.played_s.get("media", 0) > 0.5)
    ha = FakeHA()
    await wake_and_ask(milo, client, ha, speech)
    tts.slow = False
    send(client, Ev.VOICE_ASSISTANT_STT_END, text="what is the surf like")
    send(client, Ev.VOICE_ASSISTANT_TTS_END, url=f"{tts.base}/answer.wav")
    send(client, Ev.VOICE_ASSISTANT_RUN_END)
    await eventually(lambda: len([p for p in milo.played() if p.name.endswith("media.wav")]) == 2)
    # The resumed file is written as it plays: read it once it has played to the end.
    await eventually(lambda: milo.voice.player.outcome.get("media") == "done", within=30)
    first, resumed = (wav_samples(p) for p in milo.played() if p.name.endswith("media.wav"))
    song = wav_samples(tts.files["long.wav"])
    assert 0 < len(first) < len(song)
    # The resumed part starts where the first stopped (to the frame), and goes to the end.
    assert np.array_equal(resumed[:4000], song[len(first) : len(first) + 4000])
    assert len(first) + len(resumed) == len(song)


async def test_live_stream_resumes_live(
    milo: Milo, client: APIClient, speech: Speech, tts: TTSServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A stream that comes no faster than real time cannot be fast-forwarded: play on."""
    caplog.set_level(logging.INFO, logger="milo_satellite.voice.player")
    entities, _ = await client.list_entities_services()
    player_key = next(e.key for e in entities if e.object_id == "media_player")
    tts.slow = True  # stays slow: like internet radio
    client.media_player_command(player_key, media_url=f"{tts.base}/long.wav")
    await eventually(lambda: milo.voice.player.played_s.get("media", 0) > 2.5)
    milo.mic.say(speech.wake_word)  # no HA listening: the error sound interrupts the music
    await eventually(lambda: "Live stream" in caplog.text, within=20)
    await eventually(lambda: milo.voice.player.outcome.get("media") == "done", within=30)
    first, resumed = (wav_samples(p) for p in milo.played() if p.name.endswith("media.wav"))
    song = wav_samples(tts.files["long.wav"])
    # It gave up skipping after a second: less was skipped than had been played.
    assert len(song) - len(first) < len(resumed) < len(song)


async def test_command_microphone_and_speaker(tmp_path: Path, speech: Speech) -> None:
    """The Pi's path: a recorder command's stdout in, a player command's stdin out
    (`cat` stands in for arecord/aplay, which need sound hardware)."""
    recording = tmp_path / "mic.raw"
    recording.write_bytes(speech.wake_word)
    mic = CommandMicrophone(f"cat {recording}", restart_delay=0.05)
    heard = b""
    async for chunk in mic.chunks():
        heard += chunk
        if len(heard) >= 2 * len(speech.wake_word):  # the command was restarted once
            break
    assert heard.startswith(speech.wake_word)

    out = tmp_path / "speaker.raw"
    player = AudioPlayer(CommandSink(f"sh -c 'cat > {out}'", PcmFormat(22050, 1)))
    try:
        assert await player.play([str(speech.answer_wav)], "tts")
    finally:
        await player.close()
    assert out.read_bytes() == wav_samples(speech.answer_wav).tobytes()

    # A missing player program is a failed playback with a clear log line, not a crash.
    broken = AudioPlayer(CommandSink("/nonexistent/aplay", PcmFormat(22050, 1)))
    assert not await broken.play([str(speech.answer_wav)], "tts")
    assert broken.outcome["tts"] == "failed"
