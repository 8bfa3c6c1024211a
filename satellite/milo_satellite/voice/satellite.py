"""The voice satellite: wake word, streaming to HA's Assist pipeline, speaking answers.

One run goes like this (HA's ESPHome integration is the other side):

1. the wake word (or "Milo" in name mode) is heard; a chime plays;
2. we send VoiceAssistantRequest(start) and buffer the microphone until HA answers
   with VoiceAssistantResponse; then the audio streams as VoiceAssistantAudio;
3. unless "End of speech" is "home assistant", Milo decides when the user has finished
   (end_of_speech.py) and ends the audio with VoiceAssistantAudio(end=True): HA closes
   the stream gracefully and answers without waiting for its own silence timeout;
4. HA's pipeline events arrive: at STT_VAD_END/STT_END streaming stops (if it has not
   already) and Milo "thinks" (optional thinking sound or sarcastic filler); the TTS URL comes with
   RUN_START and playback starts as soon as INTENT_PROGRESS says the answer is streaming
   (or at TTS_END at the latest);
5. after playback we send VoiceAssistantAnnounceFinished; at RUN_END Milo goes back to
   waiting for the wake word, or listens again when the agent asked a question.

Announcements (and start_conversation, which is an announcement followed by a run
without wake word), timers (a ringing alert when one finishes) and the stop word (the
wake word spoken while Milo talks or rings) are handled here too. When HA is not
connected or does not answer, an error sound plays instead of silence.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
import enum
import logging
import random
from typing import Any, ClassVar, Protocol

from aioesphomeapi.model import VoiceAssistantFeature

from ..api import APIServer, ClientConnection
from ..api.messages import pb
from .audio import MIC_CHUNK_BYTES, MIC_RATE, AudioError
from .clean_audio import CleanAudio
from .end_of_speech import DEFAULT_MODE, RULES, EndOfSpeech, EndOfSpeechMode
from .player import AudioPlayer
from .sounds import Sounds
from .wakeword import NAME_MODE, NameSpotter, WakeWordDetector, WakeWordModel

_LOGGER = logging.getLogger(__name__)

FEATURES = (
    VoiceAssistantFeature.VOICE_ASSISTANT
    | VoiceAssistantFeature.API_AUDIO
    | VoiceAssistantFeature.TIMERS
    | VoiceAssistantFeature.ANNOUNCE
    | VoiceAssistantFeature.START_CONVERSATION
)
EV = pb.VoiceAssistantEvent  # the event type enum
MAX_BUFFER_BYTES = 3 * MIC_RATE * 2  # audio kept while HA gets ready (3 s)
RING_GAP_S = 0.5  # between two rings of a finished timer
END_GRACE_S = 5.0  # after an answer or error, how long RUN_END may take


class Microphone(Protocol):
    def chunks(self) -> AsyncIterator[bytes]: ...


class Phase(enum.Enum):
    """What Milo is doing; the status light and the head follow it."""

    IDLE = "searching"  # waiting for its name
    LISTENING = "listening"
    THINKING = "thinking"
    SPEAKING = "speaking"


@dataclass
class VoiceSettings:
    wake_word: str = "okay_nabu"  # a model id or "milo" (name mode)
    stop_word: str = ""  # a model id; "" = the wake word (or none in name mode)
    stt_uri: str = ""  # Wyoming STT for name mode, e.g. tcp://127.0.0.1:10300
    names: tuple[str, ...] = ("milo",)
    language: str = "en"
    end_of_speech: EndOfSpeechMode = DEFAULT_MODE
    wake_sound: bool = True
    thinking: str = "off"  # off | sound | filler
    fillers: list[bytes] = field(default_factory=list)  # rendered filler phrases (PCM)
    listen_timeout_s: float = 15.0
    response_timeout_s: float = 5.0
    answer_timeout_s: float = 60.0  # from the end of speech to the start of the answer
    timer_ring_s: float = 300.0


@dataclass
class _Run:
    conversation_id: str
    wake_word_phrase: str
    tts_url: str = ""
    tts_started: bool = False
    continue_conversation: bool = False
    failed: bool = False
    ended: bool = False
    playback: asyncio.Task[None] | None = None


class VoiceSatellite:
    """Drives the Assist pipeline over the API; owned by the device (see device.py)."""

    def __init__(
        self,
        server: APIServer,
        *,
        microphone: Microphone,
        player: AudioPlayer,
        sounds: Sounds,
        models: dict[str, WakeWordModel],
        settings: VoiceSettings,
    ) -> None:
        self.server = server
        self.microphone = microphone
        self.clean_audio = CleanAudio()
        self.player = player
        self.sounds = sounds
        self.models = models
        self.settings = settings
        self.phase = Phase.IDLE
        self.muted = False
        self.timers: dict[str, Any] = {}
        self.wake_word = ""
        self.end_of_speech = settings.end_of_speech
        self._end_of_speech: EndOfSpeech | None = None  # the run's, unless HA decides
        self._detectors: dict[str, WakeWordDetector] = {}
        self._name_spotter: NameSpotter | None = None
        self._listeners: list[Callable[[], None]] = []
        self._client: ClientConnection | None = None
        self._run: _Run | None = None
        self._conversation_id = ""
        self._streaming = False
        self._waiting_for_response = False
        self._buffer = bytearray()
        self._deadline: asyncio.TimerHandle | None = None
        self._ringing: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._mic_task: asyncio.Task[None] | None = None
        self.detections = 0  # how many times the wake word was heard (tests, logs)
        self.set_wake_word(settings.wake_word)
        for msg_type, handler in {
            pb.SubscribeVoiceAssistantRequest: self._on_subscribe,
            pb.VoiceAssistantResponse: self._on_response,
            pb.VoiceAssistantEventResponse: self._on_event,
            pb.VoiceAssistantAnnounceRequest: self._on_announce,
            pb.VoiceAssistantTimerEventResponse: self._on_timer,
            pb.VoiceAssistantConfigurationRequest: self._on_configuration_request,
            pb.VoiceAssistantSetConfiguration: self._on_set_configuration,
            pb.VoiceAssistantAudio: lambda _c, _m: None,  # we fetch TTS by URL instead
        }.items():
            server.add_message_handler(msg_type, handler)
        server.add_client_listener(self._on_client)

    # -- public -------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._client is not None

    @property
    def ringing(self) -> bool:
        return self._ringing is not None and not self._ringing.done()

    def add_listener(self, cb: Callable[[], None]) -> None:
        """`cb()` after the phase, the wake word, mute or clean audio changes."""
        self._listeners.append(cb)

    def wake_word_options(self) -> list[str]:
        return [*self.models, NAME_MODE]

    def set_wake_word(self, wake_word: str) -> None:
        """Switch models (or to name mode); ValueError if unknown or not configured."""
        if wake_word == NAME_MODE and not self.settings.stt_uri:
            raise ValueError("name mode ('milo') needs voice.stt_uri (a Wyoming STT)")
        if wake_word != NAME_MODE and wake_word not in self.models:
            raise ValueError(f"unknown wake word {wake_word!r}; known: {self.wake_word_options()}")
        self._close_name_spotter()
        if wake_word == NAME_MODE:
            self._name_spotter = NameSpotter(
                self.settings.stt_uri,
                self._on_name,
                names=self.settings.names,
                language=self.settings.language,
            )
        else:
            self._detector(wake_word).reset()
        self.wake_word = wake_word
        _LOGGER.info("Wake word: %s", wake_word)
        self._changed()

    def end_of_speech_options(self) -> list[str]:
        return [str(mode) for mode in EndOfSpeechMode]

    def set_end_of_speech(self, mode: str) -> None:
        """Who decides that the user has finished: Milo (fast, balanced) or HA."""
        try:
            self.end_of_speech = EndOfSpeechMode(mode)
        except ValueError:
            raise ValueError(
                f"unknown end of speech {mode!r}; known: {self.end_of_speech_options()}"
            ) from None
        _LOGGER.info("End of speech: %s", mode)
        self._changed()

    def set_clean_audio(self, on: bool) -> None:
        """Noise suppression and gain on the microphone (clean_audio.py), on or off."""
        self.clean_audio.enabled = on
        _LOGGER.info("Clean audio: %s", "on" if on else "off")
        self._changed()

    def _close_name_spotter(self) -> None:
        if self._name_spotter is not None:
            self._name_spotter.close()
            self._name_spotter = None

    def set_muted(self, muted: bool) -> None:
        self.muted = muted
        if muted:
            self._end_streaming(tell_ha=True)
            self._stop_ringing()
            if self.phase is Phase.LISTENING:
                self._finish_run()
        self._changed()

    async def start(self) -> None:
        self._mic_task = asyncio.get_running_loop().create_task(self._mic_loop())

    async def stop(self) -> None:
        for task in [self._mic_task, self._ringing, *self._tasks]:
            if task is not None:
                task.cancel()
        await asyncio.gather(
            *(t for t in [self._mic_task, *self._tasks] if t is not None), return_exceptions=True
        )
        self.player.stop()
        self._close_name_spotter()

    def stop_speaking(self) -> None:
        """The stop word: cut the answer, announcement or timer alarm short."""
        _LOGGER.info("Stop word: stopping %s", "alarm" if self.ringing else "speech")
        self._stop_ringing()
        self.player.stop()
        if self._run is not None:
            self._run.continue_conversation = False

    # -- microphone ---------------------------------------------------------------------

    async def _mic_loop(self) -> None:
        async for raw in self.microphone.chunks():
            if self.muted:
                continue
            chunk = self.clean_audio.process(raw)
            if self._streaming or self._waiting_for_response:
                self._stream(chunk)
            self._listen_for_words(chunk)

    def _stream(self, chunk: bytes) -> None:
        """To HA (or the buffer until HA is ready), through Milo's end of speech if on."""
        detector = self._end_of_speech
        audio = chunk if detector is None else detector.feed(chunk)
        if self._waiting_for_response:
            self._buffer += audio
            del self._buffer[:-MAX_BUFFER_BYTES]
            return  # a finished turn is acted on once HA is ready (_on_response)
        if audio and self._client is not None:
            self._client.send(pb.VoiceAssistantAudio(data=audio))
        if detector is not None and detector.finished:
            self._user_finished()

    def _listen_for_words(self, chunk: bytes) -> None:
        talking = self.player.playing or self.ringing
        if self.phase is Phase.IDLE and not self.ringing:
            if self._name_spotter is not None:
                self._name_spotter.process(chunk)
            elif self._detector(self.wake_word).process(chunk):
                self.detections += 1
                phrase = self.models[self.wake_word].phrase
                _LOGGER.info("Wake word %r detected", phrase)
                self._start_run(phrase)
        elif talking and (stop := self._stop_word()) and self._detector(stop).process(chunk):
            self.detections += 1
            self.stop_speaking()

    def _stop_word(self) -> str:
        if self.settings.stop_word:
            return self.settings.stop_word
        return "" if self.wake_word == NAME_MODE else self.wake_word

    def _detector(self, model_id: str) -> WakeWordDetector:
        if model_id not in self._detectors:
            self._detectors[model_id] = WakeWordDetector(self.models[model_id])
        return self._detectors[model_id]

    def _on_name(self, utterance: bytes, text: str) -> None:
        if self.phase is not Phase.IDLE or self.muted:
            return
        self.detections += 1
        _LOGGER.info("Heard my name in %r", text)
        # If the question came with the name ("Milo, what's the surf like?"), HA gets it too.
        words = len(text.split())
        self._start_run("Milo", prefix=utterance if words > 2 else b"")

    # -- a pipeline run -----------------------------------------------------------------

    def _start_run(self, phrase: str, *, prefix: bytes = b"", chime: bool = True) -> None:
        if self._client is None:
            _LOGGER.warning("Heard the wake word but Home Assistant is not connected")
            self._spawn(self.player.play([self.sounds.error], "error"))
            return
        self._set_phase(Phase.LISTENING)  # first: interrupted music must wait for us
        self._stop_ringing()
        self.player.stop()
        self._run = _Run(conversation_id=self._conversation_id, wake_word_phrase=phrase)
        rule = RULES.get(self.end_of_speech)
        self._end_of_speech = EndOfSpeech(rule) if rule is not None else None
        self._buffer = bytearray(
            prefix if self._end_of_speech is None else self._end_of_speech.feed(prefix)
        )
        self._waiting_for_response = True
        self._client.send(
            pb.VoiceAssistantRequest(
                start=True,
                conversation_id=self._run.conversation_id,
                flags=0,  # the wake word was heard here: HA starts at speech-to-text
                audio_settings=pb.VoiceAssistantAudioSettings(volume_multiplier=1.0),
                wake_word_phrase=phrase,
            )
        )
        self._set_deadline(self.settings.response_timeout_s, "Home Assistant did not answer")
        if chime and self.settings.wake_sound:
            self._spawn(self.player.play([self.sounds.wake], "wake"))

    def _set_deadline(self, seconds: float, why: str, *, fail: bool = True) -> None:
        """Give up on the run after `seconds` (HA gone quiet), with the error sound or not."""
        self._cancel_deadline()
        self._deadline = asyncio.get_running_loop().call_later(seconds, self._timed_out, why, fail)

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _timed_out(self, why: str, fail: bool) -> None:
        self._deadline = None
        _LOGGER.warning("%s; giving up on this request", why)
        self._end_streaming()
        if self._client is not None and self._run is not None:
            self._client.send(pb.VoiceAssistantRequest(start=False))  # HA: this run is over
        if fail:
            self._fail()
        else:
            self._finish_run()

    def _fail(self) -> None:
        if self._run is not None:
            self._run.failed = True
        self._spawn(self.player.play([self.sounds.error], "error"))
        self._finish_run()

    def _on_response(self, _client: ClientConnection, msg: Any) -> None:
        if not self._waiting_for_response:
            return
        self._waiting_for_response = False
        if msg.error:
            _LOGGER.warning("Home Assistant refused to start the pipeline")
            self._fail()
            return
        self._streaming = True
        self._set_deadline(self.settings.listen_timeout_s, "Listened too long")
        if self._client is not None and self._buffer:
            buffered = bytes(self._buffer)
            self._client.send(
                *(
                    pb.VoiceAssistantAudio(data=buffered[i : i + MIC_CHUNK_BYTES])
                    for i in range(0, len(buffered), MIC_CHUNK_BYTES)
                )
            )
        self._buffer.clear()
        if self._end_of_speech is not None and self._end_of_speech.finished:
            self._user_finished()  # all of it was said before HA was ready

    def _user_finished(self) -> None:
        """Milo heard the end of the request: end the audio; HA then transcribes at once.

        VoiceAssistantAudio(end=True) ends the run's audio gracefully (HA's
        handle_pipeline_stop(abort=False)); VoiceAssistantRequest(start=False) would abort.
        """
        detector = self._end_of_speech
        if detector is not None:
            _LOGGER.info(
                "End of speech (%s) after %.2f s of audio%s",
                self.end_of_speech,
                detector.seconds,
                ", sounded finished" if detector.sounded_finished else "",
            )
        if self._client is not None:
            self._client.send(pb.VoiceAssistantAudio(end=True))
        self._stop_listening()

    def _stop_listening(self) -> None:
        """The user's turn is over (decided here or by HA): stop streaming and think."""
        self._end_streaming()
        if self.phase is Phase.LISTENING:
            self._set_phase(Phase.THINKING)
            self._set_deadline(self.settings.answer_timeout_s, "No answer from Home Assistant")
            self._think()

    def _end_streaming(self, *, tell_ha: bool = False) -> None:
        was_streaming = self._streaming or self._waiting_for_response
        self._streaming = self._waiting_for_response = False
        self._end_of_speech = None
        self._buffer.clear()
        if was_streaming:
            self._cancel_deadline()
            if tell_ha and self._client is not None:
                self._client.send(pb.VoiceAssistantRequest(start=False))

    def _on_event(self, _client: ClientConnection, msg: Any) -> None:
        data = {item.name: item.value for item in msg.data}
        event = msg.event_type
        _LOGGER.debug("Pipeline event %s %s", EV.Name(event), data)
        handler = self._EVENT_HANDLERS.get(event)
        if self._run is not None and handler is not None:
            handler(self, self._run, data)

    def _run_started(self, run: _Run, data: dict[str, str]) -> None:
        run.tts_url = data.get("url", "")

    def _speech_ended(self, _run: _Run, _data: dict[str, str]) -> None:
        """HA's detector heard the end of speech (stt-vad-end), or the transcript is in."""
        self._stop_listening()

    def _heard(self, run: _Run, data: dict[str, str]) -> None:
        _LOGGER.info("Heard: %r", data.get("text", ""))
        self._speech_ended(run, data)

    def _intent_progress(self, run: _Run, data: dict[str, str]) -> None:
        if data.get("tts_start_streaming") == "1" and run.tts_url:
            self._speak(run, run.tts_url)

    def _intent_ended(self, run: _Run, data: dict[str, str]) -> None:
        run.continue_conversation = data.get("continue_conversation") == "1"
        self._conversation_id = data.get("conversation_id", "")

    def _tts_started(self, _run: _Run, data: dict[str, str]) -> None:
        _LOGGER.info("Answer: %r", data.get("text", ""))

    def _tts_ended(self, run: _Run, data: dict[str, str]) -> None:
        if url := data.get("url") or run.tts_url:
            self._speak(run, url)

    def _failed(self, run: _Run, data: dict[str, str]) -> None:
        _LOGGER.warning("Pipeline error %s: %s", data.get("code", "?"), data.get("message", ""))
        self._end_streaming()
        run.failed = True
        if run.playback is None:
            self._spawn(self.player.play([self.sounds.error], "error"))
        self._set_deadline(END_GRACE_S, "The failed run did not end", fail=False)

    def _run_ended(self, run: _Run, _data: dict[str, str]) -> None:
        run.ended = True
        self._end_streaming()
        if run.playback is None or run.playback.done():
            self._finish_run()

    # HA's pipeline events this satellite acts on; the others are only logged.
    _EVENT_HANDLERS: ClassVar[dict[int, Callable[[VoiceSatellite, _Run, dict[str, str]], None]]] = {
        EV.VOICE_ASSISTANT_RUN_START: _run_started,
        EV.VOICE_ASSISTANT_STT_VAD_END: _speech_ended,
        EV.VOICE_ASSISTANT_STT_END: _heard,
        EV.VOICE_ASSISTANT_INTENT_PROGRESS: _intent_progress,
        EV.VOICE_ASSISTANT_INTENT_END: _intent_ended,
        EV.VOICE_ASSISTANT_TTS_START: _tts_started,
        EV.VOICE_ASSISTANT_TTS_END: _tts_ended,
        EV.VOICE_ASSISTANT_ERROR: _failed,
        EV.VOICE_ASSISTANT_RUN_END: _run_ended,
    }

    def _think(self) -> None:
        mode = self.settings.thinking
        if mode == "filler" and self.settings.fillers:
            self._spawn(self.player.play([random.choice(self.settings.fillers)], "filler"))
        elif mode in ("sound", "filler"):
            self._spawn(self.player.play([self.sounds.thinking] * 20, "thinking"))

    def _speak(self, run: _Run, url: str) -> None:
        if run.tts_started:
            return
        run.tts_started = True
        self._cancel_deadline()  # the answer is here; playback takes its own time
        self._set_phase(Phase.SPEAKING)
        run.playback = self._spawn(self._play_answer(run, url))

    async def _play_answer(self, run: _Run, url: str) -> None:
        try:
            self.player.check_requested(url)
        except AudioError as err:
            _LOGGER.error("Refusing to play the answer: %s", err)  # noqa: TRY400
            played = False
        else:
            played = await self.player.play([url], "tts")
        if run is not self._run:
            return  # replaced by an announcement or a new run: HA is waiting on that one
        if self._client is not None:
            self._client.send(pb.VoiceAssistantAnnounceFinished(success=played))
        if run.ended:
            self._finish_run()
        else:
            self._set_deadline(END_GRACE_S, "The run did not end after the answer", fail=False)

    def _finish_run(self) -> None:
        run, self._run = self._run, None
        self._cancel_deadline()
        self._end_streaming()
        if run is not None and run.continue_conversation and not run.failed and not self.muted:
            _LOGGER.info("Milo asked something back; listening again")
            self._start_run(run.wake_word_phrase, chime=False)
            return
        self._conversation_id = ""  # the next wake word starts a new conversation
        self._set_phase(Phase.IDLE)

    # -- announcements, start_conversation, timers ----------------------------------------

    def _on_announce(self, client: ClientConnection, msg: Any) -> None:
        self._end_streaming(tell_ha=True)
        self._cancel_deadline()
        self._run = None
        sources = [url for url in (msg.preannounce_media_id, msg.media_id) if url]
        _LOGGER.info("Announcement: %r (then listen: %s)", msg.text, msg.start_conversation)
        self._spawn(self._announce(client, sources, msg.start_conversation))

    async def _announce(
        self, client: ClientConnection, sources: list[str], start_conversation: bool
    ) -> None:
        self._set_phase(Phase.SPEAKING)
        played = await self.player.play(sources, "announcement")
        client.send(pb.VoiceAssistantAnnounceFinished(success=played))
        if start_conversation and played and not self.muted:
            self._start_run("", chime=False)
        elif self.phase is Phase.SPEAKING:
            self._set_phase(Phase.IDLE)

    def _on_timer(self, _client: ClientConnection, msg: Any) -> None:
        kind = pb.VoiceAssistantTimerEvent.Name(msg.event_type)
        _LOGGER.info("Timer %s %r: %d s left", kind, msg.name or msg.timer_id, msg.seconds_left)
        if msg.event_type == pb.VOICE_ASSISTANT_TIMER_FINISHED:
            self.timers.pop(msg.timer_id, None)
            if not self.ringing:
                self._ringing = self._spawn(self._ring())
        elif msg.event_type == pb.VOICE_ASSISTANT_TIMER_CANCELLED:
            self.timers.pop(msg.timer_id, None)
        else:
            self.timers[msg.timer_id] = msg

    async def _ring(self) -> None:
        loop = asyncio.get_running_loop()
        until = loop.time() + self.settings.timer_ring_s
        self._changed()
        try:
            while loop.time() < until:
                if not await self.player.play([self.sounds.timer], "timer"):
                    break
                await asyncio.sleep(RING_GAP_S)
        finally:
            self._ringing = None
            self._changed()

    def _stop_ringing(self) -> None:
        if self._ringing is not None:
            self._ringing.cancel()
            self._ringing = None

    # -- configuration (HA's wake word select) ------------------------------------------

    def _on_configuration_request(self, client: ClientConnection, _msg: Any) -> None:
        resp = pb.VoiceAssistantConfigurationResponse(max_active_wake_words=1)
        for model in self.models.values():
            resp.available_wake_words.append(
                pb.VoiceAssistantWakeWord(
                    id=model.id, wake_word=model.phrase, trained_languages=model.languages
                )
            )
        if self.settings.stt_uri:
            resp.available_wake_words.append(
                pb.VoiceAssistantWakeWord(
                    id=NAME_MODE, wake_word="Milo", trained_languages=[self.settings.language]
                )
            )
        resp.active_wake_words.append(self.wake_word)
        client.send(resp)

    def _on_set_configuration(self, _client: ClientConnection, msg: Any) -> None:
        for wake_word in msg.active_wake_words[:1]:
            try:
                self.set_wake_word(wake_word)
            except ValueError as err:
                _LOGGER.warning("HA chose a wake word we cannot use: %s", err)

    # -- bookkeeping --------------------------------------------------------------------

    def _on_subscribe(self, client: ClientConnection, msg: Any) -> None:
        if msg.subscribe:
            if not msg.flags & VoiceAssistantFeature.API_AUDIO:
                _LOGGER.warning("%r wants UDP audio, which Milo does not speak", client)
            self._client = client
            _LOGGER.info("%r runs the voice assistant", client)
        elif self._client is client:
            self._client = None
        self._changed()

    def _on_client(self, client: ClientConnection, connected: bool) -> None:
        if not connected and client is self._client:
            _LOGGER.warning("Home Assistant went away")
            self._client = None
            self._end_streaming()
            if self._run is not None:
                self._finish_run()
            self._changed()

    def _set_phase(self, phase: Phase) -> None:
        if phase is not self.phase:
            self.phase = phase
            self._changed()

    def _changed(self) -> None:
        for cb in list(self._listeners):
            cb()

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (err := task.exception()) is not None:
            _LOGGER.error("Voice task failed: %s", err, exc_info=err)
