"""One model, many clients: a fair queue in front of a single worker thread.

llama.cpp can run one generation at a time per context, and a generation
takes seconds, so requests wait their turn in arrival order (asyncio.Lock
wakes waiters first-in, first-out) while the event loop stays free to serve
other connections. A client that goes away stops its generation at the next
token instead of holding the model for an answer nobody will read.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
import contextlib
from dataclasses import dataclass
import logging
import threading
from typing import TypeVar

from .model import ChatModel, GenerationRequest, GenerationResult

_LOGGER = logging.getLogger(__name__)

MAX_WAITING = 32
"""Requests allowed to wait for the model; more are refused rather than queued for minutes."""

_T = TypeVar("_T")


class ModelUnavailableError(RuntimeError):
    """Too many requests are already waiting for the model, or the server is stopping."""


@dataclass
class EngineStats:
    """Counters for logs and tests."""

    completed: int = 0
    cancelled: int = 0
    failed: int = 0


class Completion:
    """A generation in progress: iterate it for text pieces as they are produced."""

    _END = object()

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._queue: asyncio.Queue[object] = asyncio.Queue()
        self.cancelled = threading.Event()
        self.result: GenerationResult | None = None
        """Set once the generation has ended (after the last piece)."""

    def __aiter__(self) -> AsyncIterator[str]:
        return self._pieces()

    async def _pieces(self) -> AsyncIterator[str]:
        while True:
            item = await self._queue.get()
            if item is self._END:
                return
            if isinstance(item, BaseException):
                raise item
            assert isinstance(item, str)
            yield item

    async def text(self) -> str:
        """The whole answer, for clients that don't stream."""
        return "".join([piece async for piece in self])

    def deliver(self, item: object) -> None:
        """Hand a piece, an error or the end marker over from the worker thread."""
        try:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, item)
        except RuntimeError:  # the event loop is gone: nobody is listening any more
            self.cancelled.set()


class ChatEngine:
    """Queues chat requests for one `ChatModel` and runs them off the event loop."""

    def __init__(self, model: ChatModel, *, max_waiting: int = MAX_WAITING) -> None:
        self.model = model
        self.stats = EngineStats()
        self._max_waiting = max_waiting
        self._waiting = 0
        self._lock = asyncio.Lock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="milo-llm")
        self._current: Completion | None = None
        self._closing = False

    async def close(self) -> None:
        async with self._lock:
            self._executor.shutdown(wait=True)

    async def shutdown(self, grace_s: float) -> None:
        """Refuse new requests, give the running generation `grace_s`, then stop it."""
        self._closing = True
        try:
            async with asyncio.timeout(grace_s):
                await self.wait_idle()
        except TimeoutError:
            if self._current is not None:
                _LOGGER.info("Stopping the answer in progress: shutting down")
                self._current.cancelled.set()
            await self.wait_idle()

    async def wait_idle(self) -> None:
        """Wait until the model is free: every generation queued so far has ended."""
        async with self._lock:
            pass

    async def call(self, function: Callable[[], _T]) -> _T:
        """Run other model work (warm-up, benchmarks) in turn with generations."""
        async with self._lock:
            return await asyncio.get_running_loop().run_in_executor(self._executor, function)

    @contextlib.asynccontextmanager
    async def chat(self, request: GenerationRequest) -> AsyncIterator[Completion]:
        """Wait for the model, then stream a generation; leaving the block stops it."""
        if self._waiting >= self._max_waiting:
            raise ModelUnavailableError(
                f"{self._waiting} requests are already waiting for the model"
            )
        self._check_open()
        self._waiting += 1
        try:
            await self._lock.acquire()
        finally:
            self._waiting -= 1
        try:
            self._check_open()
        except ModelUnavailableError:
            self._lock.release()
            raise

        loop = asyncio.get_running_loop()
        completion = Completion(loop)
        self._current = completion
        work = loop.run_in_executor(self._executor, self._generate, request, completion)
        # The model is free only when the worker has really stopped, even if the
        # waiting task below is cancelled (client gone, shutdown).
        work.add_done_callback(lambda _: self._release())
        try:
            yield completion
        finally:
            completion.cancelled.set()
            await asyncio.shield(work)

    def _check_open(self) -> None:
        if self._closing:
            raise ModelUnavailableError("the server is shutting down")

    def _release(self) -> None:
        self._current = None
        self._lock.release()

    def _generate(self, request: GenerationRequest, completion: Completion) -> None:
        """Worker thread: run the model and forward its pieces to the event loop."""
        try:
            result = self.model.generate(request, completion.deliver, completion.cancelled)
        except Exception as err:
            self.stats.failed += 1
            completion.deliver(err)
            return
        if result.finish_reason == "cancelled":
            self.stats.cancelled += 1
            _LOGGER.debug("Generation stopped early: client gone or shutting down")
        else:
            self.stats.completed += 1
        _LOGGER.debug(
            "Generated %d tokens (%s) for a %d-token prompt (%d cached), first text after %s s",
            result.completion_tokens,
            result.finish_reason,
            result.prompt_tokens,
            result.cached_tokens,
            "-" if result.first_token_s is None else f"{result.first_token_s:.2f}",
        )
        completion.result = result
        completion.deliver(Completion._END)
