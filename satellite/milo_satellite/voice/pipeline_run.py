"""One run of HA's Assist pipeline, from the wake word to the end of the answer.

The satellite starts it with VoiceAssistantRequest(start) and feeds it the microphone;
the run streams the request (request_audio.py) once HA answers, ends it when Milo or HA
hears the end of speech, acts on HA's pipeline events, plays the answer and says when it
is over. Every wait on HA has a deadline: when HA goes quiet the run gives up, with the
error sound unless the answer was already given.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
import logging
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from google.protobuf.message import Message

from ..api.messages import pb
from .audio import AudioError
from .end_of_speech import EndOfSpeechMode
from .phase import Phase
from .player import AudioPlayer
from .request_audio import RequestAudio

if TYPE_CHECKING:
    from .satellite import VoiceSettings

_LOGGER = logging.getLogger(__name__)

EV = pb.VoiceAssistantEvent  # the event type enum
END_GRACE_S = 5.0  # after an answer or error, how long RUN_END may take


class RunHost(Protocol):
    """What a run needs of the satellite that started it (satellite.py)."""

    phase: Phase
    player: AudioPlayer
    settings: VoiceSettings

    def set_phase(self, phase: Phase) -> None: ...
    def send(self, *msgs: Message) -> None: ...
    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]: ...
    def play_error(self) -> None: ...
    def think(self) -> None: ...
    def finish_run(self) -> None: ...


class PipelineRun:
    """A run's state and what it does; it acts only while it is the satellite's current
    run (`current`), so a late event, answer or timeout of an old run changes nothing."""

    def __init__(
        self,
        host: RunHost,
        *,
        conversation_id: str,
        wake_word_phrase: str,
        end_of_speech: EndOfSpeechMode,
        prefix: bytes = b"",
    ) -> None:
        self.host = host
        self.conversation_id = conversation_id  # HA's answer may start a new one
        self.wake_word_phrase = wake_word_phrase
        self.audio = RequestAudio(end_of_speech, prefix)
        self.tts_url = ""
        self.tts_started = False
        self.continue_conversation = False
        self.failed = False
        self.ended = False
        self.current = True
        self.playback: asyncio.Task[None] | None = None
        self._deadline: asyncio.TimerHandle | None = None

    def start(self) -> None:
        self.host.send(
            pb.VoiceAssistantRequest(
                start=True,
                conversation_id=self.conversation_id,
                flags=0,  # the wake word was heard here: HA starts at speech-to-text
                audio_settings=pb.VoiceAssistantAudioSettings(volume_multiplier=1.0),
                wake_word_phrase=self.wake_word_phrase,
            )
        )
        self._set_deadline(self.host.settings.response_timeout_s, "Home Assistant did not answer")

    def close(self) -> None:
        """Finished or replaced: no more audio, deadlines or acting on HA's events."""
        self.current = False
        self._cancel_deadline()
        self.end_streaming()

    # -- the request --------------------------------------------------------------------

    def feed(self, chunk: bytes) -> None:
        """A microphone chunk: to HA (or kept until HA is ready); ends the turn if finished."""
        audio = self.audio.feed(chunk)
        if self.audio.waiting:
            return  # a finished turn is acted on once HA is ready (on_response)
        if audio:
            self.host.send(pb.VoiceAssistantAudio(data=audio))
        if self.audio.finished:
            self._user_finished()

    def on_response(self, msg: pb.VoiceAssistantResponse) -> None:
        """HA's answer to the start: stream what was kept, or fail if HA refused."""
        if not self.audio.waiting:
            return
        if msg.error:
            _LOGGER.warning("Home Assistant refused to start the pipeline")
            self._fail()
            return
        kept = self.audio.start_streaming()
        self._set_deadline(self.host.settings.listen_timeout_s, "Listened too long")
        if kept:
            self.host.send(*(pb.VoiceAssistantAudio(data=chunk) for chunk in kept))
        if self.audio.finished:
            self._user_finished()  # all of it was said before HA was ready

    def words_complete(self, text: str) -> None:
        """The integration judged the words so far, `text`, a whole request (the
        `end_of_turn` action): the turn ends after a shorter silence, now if the pause is
        that long already."""
        if not (self.current and self.audio.judge_words_complete()):
            _LOGGER.debug("Not ending on %r: not in a pause of this request", text)
            return
        _LOGGER.info("A whole request: %r", text)
        if self.audio.finished:
            self._user_finished()

    def end_streaming(self, *, tell_ha: bool = False) -> None:
        if self.audio.close():
            self._cancel_deadline()
            if tell_ha:
                self.host.send(pb.VoiceAssistantRequest(start=False))

    def _user_finished(self) -> None:
        """Milo heard the end of the request: end the audio; HA then transcribes at once.

        VoiceAssistantAudio(end=True) ends the run's audio gracefully (HA's
        handle_pipeline_stop(abort=False)); VoiceAssistantRequest(start=False) would abort.
        """
        detector = self.audio.detector
        if detector is not None:
            _LOGGER.info(
                "End of speech (%s) after %.2f s of audio%s%s",
                self.audio.mode,
                detector.seconds,
                ", sounded finished" if detector.sounded_finished else "",
                ", words complete" if detector.words_complete else "",
            )
        self.host.send(pb.VoiceAssistantAudio(end=True))
        self._stop_listening()

    def _stop_listening(self) -> None:
        """The user's turn is over (decided here or by HA): stop streaming and think."""
        self.end_streaming()
        if self.host.phase is Phase.LISTENING:
            self.host.set_phase(Phase.THINKING)
            self._set_deadline(self.host.settings.answer_timeout_s, "No answer from Home Assistant")
            self.host.think()

    # -- deadlines ----------------------------------------------------------------------

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
        self.end_streaming()
        self.host.send(pb.VoiceAssistantRequest(start=False))  # HA: this run is over
        if fail:
            self._fail()
        else:
            self.host.finish_run()

    def _fail(self) -> None:
        self.failed = True
        self.host.play_error()
        self.host.finish_run()

    # -- HA's pipeline events -----------------------------------------------------------

    def on_event(self, event: int, data: dict[str, str]) -> None:
        if (handler := self._EVENT_HANDLERS.get(event)) is not None:
            handler(self, data)

    def _run_started(self, data: dict[str, str]) -> None:
        self.tts_url = data.get("url", "")

    def _speech_ended(self, _data: dict[str, str]) -> None:
        """HA's detector heard the end of speech (stt-vad-end), or the transcript is in."""
        self._stop_listening()

    def _heard(self, data: dict[str, str]) -> None:
        _LOGGER.info("Heard: %r", data.get("text", ""))
        self._speech_ended(data)

    def _intent_progress(self, data: dict[str, str]) -> None:
        if data.get("tts_start_streaming") == "1" and self.tts_url:
            self._speak(self.tts_url)

    def _intent_ended(self, data: dict[str, str]) -> None:
        self.continue_conversation = data.get("continue_conversation") == "1"
        self.conversation_id = data.get("conversation_id", "")

    def _tts_started(self, data: dict[str, str]) -> None:
        _LOGGER.info("Answer: %r", data.get("text", ""))

    def _tts_ended(self, data: dict[str, str]) -> None:
        if url := data.get("url") or self.tts_url:
            self._speak(url)

    def _failed(self, data: dict[str, str]) -> None:
        _LOGGER.warning("Pipeline error %s: %s", data.get("code", "?"), data.get("message", ""))
        self.end_streaming()
        self.failed = True
        if self.playback is None:
            self.host.play_error()
        self._set_deadline(END_GRACE_S, "The failed run did not end", fail=False)

    def _run_ended(self, _data: dict[str, str]) -> None:
        self.ended = True
        self.end_streaming()
        if self.playback is None or self.playback.done():
            self.host.finish_run()

    # HA's pipeline events a run acts on; the others are only logged.
    _EVENT_HANDLERS: ClassVar[dict[int, Callable[[PipelineRun, dict[str, str]], None]]] = {
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

    # -- the answer ---------------------------------------------------------------------

    def _speak(self, url: str) -> None:
        if self.tts_started:
            return
        self.tts_started = True
        self._cancel_deadline()  # the answer is here; playback takes its own time
        self.host.set_phase(Phase.SPEAKING)
        self.playback = self.host.spawn(self._play_answer(url))

    async def _play_answer(self, url: str) -> None:
        player = self.host.player
        try:
            player.check_requested(url)
        except AudioError as err:
            _LOGGER.error("Refusing to play the answer: %s", err)  # noqa: TRY400
            played = False
        else:
            played = await player.play([url], "tts")
        if not self.current:
            return  # replaced by an announcement or a new run: HA is waiting on that one
        self.host.send(pb.VoiceAssistantAnnounceFinished(success=played))
        if self.ended:
            self.host.finish_run()
        else:
            self._set_deadline(END_GRACE_S, "The run did not end after the answer", fail=False)
