"""The user's request on its way to HA, and where Milo decides that it has ended.

Until HA answers the start of a run, the microphone is kept (the last MAX_BUFFER_BYTES)
and sent as soon as HA is ready; unless "End of speech" is "home assistant", the audio
goes through Milo's own end of speech (end_of_speech.py), which shortens long pauses and
says when the user has finished.
"""

from __future__ import annotations

from .audio import MIC_CHUNK_BYTES, MIC_RATE
from .end_of_speech import RULES, EndOfSpeech, EndOfSpeechMode

MAX_BUFFER_BYTES = 3 * MIC_RATE * 2  # audio kept while HA gets ready (3 s)


class RequestAudio:
    """One run's microphone audio: held while `waiting`, passed on while `streaming`."""

    def __init__(self, mode: EndOfSpeechMode, prefix: bytes = b"") -> None:
        self.mode = mode
        rule = RULES.get(mode)
        self.detector = EndOfSpeech(rule) if rule is not None else None
        self.waiting = True  # HA has not answered the start yet
        self.streaming = False
        self._buffer = bytearray(self._through_detector(prefix))

    @property
    def open(self) -> bool:
        return self.waiting or self.streaming

    @property
    def finished(self) -> bool:
        """Milo heard the end of the request (never when HA decides)."""
        return self.detector is not None and self.detector.finished

    def feed(self, chunk: bytes) -> bytes:
        """What to send HA of this microphone chunk now; b"" (kept for later) while waiting."""
        audio = self._through_detector(chunk)
        if not self.waiting:
            return audio
        self._buffer += audio
        del self._buffer[:-MAX_BUFFER_BYTES]
        return b""

    def judge_words_complete(self) -> bool:
        """The integration judged the words so far a whole request (end_of_speech.py);
        whether that counts: only while streaming through Milo's own end of speech."""
        return self.streaming and self.detector is not None and self.detector.judge_words_complete()

    def start_streaming(self) -> list[bytes]:
        """HA is ready: what was kept, in chunks the size of the microphone's."""
        self.waiting, self.streaming = False, True
        kept, self._buffer = bytes(self._buffer), bytearray()
        return [kept[i : i + MIC_CHUNK_BYTES] for i in range(0, len(kept), MIC_CHUNK_BYTES)]

    def close(self) -> bool:
        """Stop passing audio on; whether it was still open."""
        was_open = self.open
        self.waiting = self.streaming = False
        self.detector = None
        self._buffer.clear()
        return was_open

    def _through_detector(self, pcm: bytes) -> bytes:
        return pcm if self.detector is None else self.detector.feed(pcm)
