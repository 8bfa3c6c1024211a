"""Callbacks for the head's outside world: one failing listener must not silence the others,
nor stop the loop that told it."""

from __future__ import annotations

from collections.abc import Callable
import logging
from typing import Generic, ParamSpec

_LOGGER = logging.getLogger(__name__)

P = ParamSpec("P")


class Listeners(Generic[P]):
    """A set of callbacks called in turn; each failure is logged and the rest still run."""

    def __init__(self, what: str) -> None:
        self._what = what  # "State", "Buddy": named in the log when one fails
        self._callbacks: list[Callable[P, None]] = []

    def add(self, cb: Callable[P, None]) -> Callable[[], None]:
        """Subscribe `cb`; returns the unsubscribe function."""
        self._callbacks.append(cb)

        def unsubscribe() -> None:
            if cb in self._callbacks:
                self._callbacks.remove(cb)

        return unsubscribe

    def notify(self, *args: P.args, **kwargs: P.kwargs) -> None:
        for cb in list(self._callbacks):  # a callback may unsubscribe itself
            try:
                cb(*args, **kwargs)
            except Exception:
                _LOGGER.exception("%s listener failed", self._what)
