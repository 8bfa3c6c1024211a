"""Give freed memory back to the system after a big request.

glibc keeps the heap a request freed for the process's later use, so one large reply or
upload would leave the process at its peak for good; `malloc_trim` returns it.
"""

from __future__ import annotations

from collections.abc import Callable
import ctypes


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        trim: Callable[[int], int] = ctypes.CDLL(None).malloc_trim
    except (AttributeError, OSError):  # not glibc (musl, macOS): nothing to call
        return None
    return trim


_MALLOC_TRIM = _malloc_trim()


def release_memory() -> None:
    """Return the heap that finished requests freed to the system (microseconds)."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)
