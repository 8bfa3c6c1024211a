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
wake word spoken while Milo talks or rings) are handled too. When HA is not connected
or does not answer, an error sound plays instead of silence.

VoiceSatellite puts the parts together and routes HA's voice messages to them: the
WakeListener (wake_listener.py: wake word, name mode, stop word), the current
PipelineRun (pipeline_run.py: steps 2 to 5; the request's audio and Milo's end of speech
in request_audio.py), the TimerRinger (timer_ringer.py) and the Fillers (fillers.py). It
keeps the Phase, the announcements and whether the conversation goes on.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
import logging
from typing import Any, Protocol

from aioesphomeapi.model import VoiceAssistantFeature
from google.protobuf.message import Message

from ..api import APIServer, ClientConnection
from ..api.messages import pb
from .clean_audio import CleanAudio
from .end_of_speech import DEFAULT_MODE, EndOfSpeechMode
from .fillers import Fillers
from .phase import Phase
from .pipeline_run import PipelineRun
from .player import AudioPlayer
from .sounds import Sounds
from .timer_ringer import TimerRinger
from .wake_listener import WakeListener
from .wakeword import WakeWordModel

_LOGGER = logging.getLogger(__name__)

FEATURES = (
    VoiceAssistantFeature.VOICE_ASSISTANT
    | VoiceAssistantFeature.API_AUDIO
    | VoiceAssistantFeature.TIMERS
    | VoiceAssistantFeature.ANNOUNCE
    | VoiceAssistantFeature.START_CONVERSATION
)


class Microphone(Protocol):
    def chunks(self) -> AsyncIterator[bytes]: ...


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
    listen_timeout_s: float = 15.0
    response_timeout_s: float = 5.0
    answer_timeout_s: float = 60.0  # from the end of speech to the start of the answer
    timer_ring_s: float = 300.0


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
        fillers: Fillers | None = None,
    ) -> None:
        self.server = server
        self.microphone = microphone
        self.clean_audio = CleanAudio()
        self.player = player
        self.sounds = sounds
        self.settings = settings
        self.fillers = fillers  # spoken while thinking when settings.thinking is "filler"
        self.phase = Phase.IDLE
        self.muted = False
        self.end_of_speech = settings.end_of_speech
        self.detections = 0  # how many times the wake or stop word was heard (tests, logs)
        self._listeners: list[Callable[[], None]] = []
        self._client: ClientConnection | None = None
        self._run: PipelineRun | None = None
        self._conversation_id = ""  # what the next run continues ("" = a new conversation)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._mic_task: asyncio.Task[None] | None = None
        self.wake_listener = WakeListener(
            models,
            self._woken,
            wake_word=settings.wake_word,
            stop_word=settings.stop_word,
            stt_uri=settings.stt_uri,
            names=settings.names,
            language=settings.language,
        )
        self.ringer = TimerRinger(
            player,
            sounds.timer,
            ring_s=settings.timer_ring_s,
            on_change=self._changed,
            spawn=self.spawn,
        )
        handle = server.add_message_handler
        handle(pb.SubscribeVoiceAssistantRequest, self._on_subscribe)
        handle(pb.VoiceAssistantResponse, self._on_response)
        handle(pb.VoiceAssistantEventResponse, self._on_event)
        handle(pb.VoiceAssistantAnnounceRequest, self._on_announce)
        handle(pb.VoiceAssistantTimerEventResponse, lambda _c, m: self.ringer.on_timer_event(m))
        handle(pb.VoiceAssistantConfigurationRequest, self._on_configuration_request)
        handle(pb.VoiceAssistantSetConfiguration, self._on_set_configuration)
        handle(pb.VoiceAssistantAudio, lambda _c, _m: None)  # we fetch TTS by URL instead
        server.add_client_listener(self._on_client)

    # -- public -------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._client is not None

    @property
    def ringing(self) -> bool:
        return self.ringer.ringing

    @property
    def wake_word(self) -> str:
        return self.wake_listener.wake_word

    def add_listener(self, cb: Callable[[], None]) -> None:
        """`cb()` after the phase, the wake word, mute or clean audio changes."""
        self._listeners.append(cb)

    def wake_word_options(self) -> list[str]:
        return self.wake_listener.options()

    def set_wake_word(self, wake_word: str) -> None:
        """Switch models (or to name mode); ValueError if unknown or not configured."""
        self.wake_listener.select(wake_word)
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

    def set_muted(self, muted: bool) -> None:
        self.muted = muted
        if muted:
            if self._run is not None:
                self._run.end_streaming(tell_ha=True)
            self.ringer.stop()
            if self.phase is Phase.LISTENING:
                self.finish_run()
        self._changed()

    async def start(self) -> None:
        self._mic_task = asyncio.get_running_loop().create_task(self._mic_loop())
        if self.fillers is not None:
            self.fillers.start()

    async def stop(self) -> None:
        self.ringer.stop()
        for task in [self._mic_task, *self._tasks]:
            if task is not None:
                task.cancel()
        await asyncio.gather(
            *(t for t in [self._mic_task, *self._tasks] if t is not None), return_exceptions=True
        )
        if self.fillers is not None:
            await self.fillers.stop()
        self.player.stop()
        self.wake_listener.close()

    def stop_speaking(self) -> None:
        """The stop word: cut the answer, announcement or timer alarm short."""
        _LOGGER.info("Stop word: stopping %s", "alarm" if self.ringing else "speech")
        self.ringer.stop()
        self.player.stop()
        if self._run is not None:
            self._run.continue_conversation = False

    def words_complete(self, text: str) -> None:
        """The integration judged the request's words so far, `text`, whole (the
        `end_of_turn` action); the run's end of speech decides what that changes (nothing
        with "home assistant", while the user speaks, or when no request is listened to)."""
        if self._run is not None:
            self._run.words_complete(text)

    # -- microphone ---------------------------------------------------------------------

    async def _mic_loop(self) -> None:
        async for raw in self.microphone.chunks():
            if self.muted:
                continue
            chunk = self.clean_audio.process(raw)
            if self._run is not None and self._run.audio.open:
                self._run.feed(chunk)
            self._listen_for_words(chunk)

    def _listen_for_words(self, chunk: bytes) -> None:
        talking = self.player.playing or self.ringing
        if self.phase is Phase.IDLE and not self.ringing:
            self.wake_listener.hear_wake(chunk)
        elif talking and self.wake_listener.hear_stop(chunk):
            self.detections += 1
            self.stop_speaking()

    def _woken(self, phrase: str, prefix: bytes) -> None:
        """The wake word or the name (name mode answers late: Milo may be busy by then)."""
        if self.phase is not Phase.IDLE or self.muted:
            return
        self.detections += 1
        self._start_run(phrase, prefix=prefix)

    # -- pipeline runs (pipeline_run.py) ------------------------------------------------

    def _start_run(self, phrase: str, *, prefix: bytes = b"", chime: bool = True) -> None:
        if self._client is None:
            _LOGGER.warning("Heard the wake word but Home Assistant is not connected")
            self.play_error()
            return
        self.set_phase(Phase.LISTENING)  # first: interrupted music must wait for us
        self.ringer.stop()
        self.player.stop()
        self._run = PipelineRun(
            self,
            conversation_id=self._conversation_id,
            wake_word_phrase=phrase,
            end_of_speech=self.end_of_speech,
            prefix=prefix,
        )
        self._run.start()
        if chime and self.settings.wake_sound:
            self.spawn(self.player.play([self.sounds.wake], "wake"))

    def finish_run(self) -> None:
        """The current run is over: listen again if Milo asked something, else wait."""
        run, self._run = self._run, None
        if run is not None:
            run.close()
            self._conversation_id = run.conversation_id
            if run.continue_conversation and not run.failed and not self.muted:
                _LOGGER.info("Milo asked something back; listening again")
                self._start_run(run.wake_word_phrase, chime=False)
                return
        self._conversation_id = ""  # the next wake word starts a new conversation
        self.set_phase(Phase.IDLE)

    def _on_response(self, _client: ClientConnection, msg: pb.VoiceAssistantResponse) -> None:
        if self._run is not None:
            self._run.on_response(msg)

    def _on_event(self, _client: ClientConnection, msg: pb.VoiceAssistantEventResponse) -> None:
        data = {item.name: item.value for item in msg.data}
        _LOGGER.debug("Pipeline event %s %s", pb.VoiceAssistantEvent.Name(msg.event_type), data)
        if self._run is not None:
            self._run.on_event(msg.event_type, data)

    def think(self) -> None:
        """While HA works on the answer: a filler, the thinking sound, or silence."""
        mode = self.settings.thinking
        if mode == "filler" and self.fillers is not None and (filler := self.fillers.pick()):
            self.spawn(self.player.play([filler], "filler"))
        elif mode in ("sound", "filler"):
            self.spawn(self.player.play([self.sounds.thinking] * 20, "thinking"))

    def play_error(self) -> None:
        self.spawn(self.player.play([self.sounds.error], "error"))

    # -- announcements, start_conversation ----------------------------------------------

    def _on_announce(self, client: ClientConnection, msg: pb.VoiceAssistantAnnounceRequest) -> None:
        run, self._run = self._run, None
        if run is not None:  # HA dropped it for the announcement
            run.end_streaming(tell_ha=True)
            run.close()
            self._conversation_id = run.conversation_id
        sources = [url for url in (msg.preannounce_media_id, msg.media_id) if url]
        _LOGGER.info("Announcement: %r (then listen: %s)", msg.text, msg.start_conversation)
        self.spawn(self._announce(client, sources, msg.start_conversation))

    async def _announce(
        self, client: ClientConnection, sources: list[str], start_conversation: bool
    ) -> None:
        self.set_phase(Phase.SPEAKING)
        played = await self.player.play(sources, "announcement")
        client.send(pb.VoiceAssistantAnnounceFinished(success=played))
        if start_conversation and played and not self.muted:
            self._start_run("", chime=False)
        elif self.phase is Phase.SPEAKING:
            self.set_phase(Phase.IDLE)

    # -- configuration (HA's wake word select) ------------------------------------------

    def _on_configuration_request(
        self, client: ClientConnection, _msg: pb.VoiceAssistantConfigurationRequest
    ) -> None:
        client.send(self.wake_listener.configuration())

    def _on_set_configuration(
        self, _client: ClientConnection, msg: pb.VoiceAssistantSetConfiguration
    ) -> None:
        for wake_word in msg.active_wake_words[:1]:
            try:
                self.set_wake_word(wake_word)
            except ValueError as err:
                _LOGGER.warning("HA chose a wake word we cannot use: %s", err)

    # -- bookkeeping --------------------------------------------------------------------

    def _on_subscribe(
        self, client: ClientConnection, msg: pb.SubscribeVoiceAssistantRequest
    ) -> None:
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
            if self._run is not None:
                self.finish_run()
            self._changed()

    def send(self, *msgs: Message) -> None:
        """To HA, if it is connected (a run outlives a client that goes away)."""
        if self._client is not None:
            self._client.send(*msgs)

    def set_phase(self, phase: Phase) -> None:
        if phase is not self.phase:
            self.phase = phase
            self._changed()

    def _changed(self) -> None:
        for cb in list(self._listeners):
            cb()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (err := task.exception()) is not None:
            _LOGGER.error("Voice task failed: %s", err, exc_info=err)
