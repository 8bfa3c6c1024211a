"""The buddy file: names and their 128-d face encodings, private and crash-safe.

JSON, not pickle (the original pickled; unpickling a file someone else can write runs
their code). The file is created with mode 0600 (faces are personal data) and replaced
atomically (write a temp file, fsync, rename), so a power cut leaves the old or the new
list, never half of one. A file that does not parse is refused with a clear log line and
left untouched: enrolling and forgetting are refused until someone fixes or removes it,
because silently starting empty would overwrite everyone's enrolment on the next save.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
from pathlib import Path
import tempfile

import numpy as np

from .errors import HeadError
from .state import STRANGER

_LOGGER = logging.getLogger(__name__)

FORMAT_VERSION = 1
ENCODING_SIZE = 128
MAX_ENCODINGS_PER_BUDDY = 20
MAX_NAME_LENGTH = 64
MAX_FILE_BYTES = 8 * 1024 * 1024


class BuddyDatabase:
    """Loaded once, saved on every change; all methods are cheap except `save`."""

    def __init__(self, path: Path):
        self.path = path
        self._buddies: dict[str, np.ndarray] = {}
        self.error: str | None = None  # why the file was refused, if it was

    @property
    def names(self) -> list[str]:
        return sorted(self._buddies)

    def encodings(self, name: str) -> np.ndarray:
        return self._buddies[name]

    def load(self) -> None:
        """Read the file; a missing file is an empty list, a bad one is refused (kept)."""
        self._buddies = {}
        self.error = None
        if not self.path.exists():
            return
        try:
            self._buddies = _read(self.path)
        except (OSError, ValueError, TypeError, RecursionError) as err:  # deep nesting
            self.error = (
                f"Buddy file {self.path} is unreadable or corrupt ({err}); it was NOT loaded "
                "and will not be overwritten. Fix it or move it away, then restart"
            )
            _LOGGER.error("%s", self.error)  # noqa: TRY400 - the cause is in the message
            return
        _LOGGER.info("Loaded %d buddies from %s", len(self._buddies), self.path)

    def add(self, name: str, encodings: np.ndarray) -> None:
        """Add encodings for `name` (appending to an existing buddy) and save."""
        name = check_name(name)
        self._writable()
        fresh = np.asarray(encodings, dtype=np.float64).reshape(-1, ENCODING_SIZE)
        existing = self._find(name)
        key = existing or name
        merged = fresh if existing is None else np.vstack([self._buddies[key], fresh])
        updated = dict(self._buddies)
        updated[key] = merged[-MAX_ENCODINGS_PER_BUDDY:]
        self._save(updated)

    def remove(self, name: str) -> None:
        """Forget a buddy (names compare case-insensitively); HeadError if unknown."""
        self._writable()
        key = self._find(name.strip())
        if key is None:
            raise HeadError(f"There is no buddy called {name.strip()!r}")
        updated = {k: v for k, v in self._buddies.items() if k != key}
        self._save(updated)

    def match(self, encoding: np.ndarray) -> tuple[str, float]:
        """The nearest buddy and its distance (smallest over their encodings)."""
        best_name, best = STRANGER, math.inf
        for name, known in self._buddies.items():
            distance = float(np.min(np.linalg.norm(known - encoding, axis=1)))
            if distance < best:
                best_name, best = name, distance
        return best_name, best

    def _find(self, name: str) -> str | None:
        folded = name.casefold()
        return next((k for k in self._buddies if k.casefold() == folded), None)

    def _writable(self) -> None:
        if self.error is not None:
            raise HeadError(self.error)

    def _save(self, buddies: dict[str, np.ndarray]) -> None:
        document = {
            "version": FORMAT_VERSION,
            "buddies": {name: enc.round(8).tolist() for name, enc in sorted(buddies.items())},
        }
        try:
            write_private_atomically(self.path, json.dumps(document, indent=1))
        except OSError as err:
            raise HeadError(f"Could not save the buddy file {self.path}: {err}") from err
        self._buddies = buddies


def check_name(name: str) -> str:
    """A usable buddy name, or HeadError saying why not."""
    name = name.strip()
    if not name:
        raise HeadError("A buddy needs a name")
    if len(name) > MAX_NAME_LENGTH:
        raise HeadError(f"Buddy names are at most {MAX_NAME_LENGTH} characters")
    if name.casefold() == STRANGER or not name.isprintable():
        raise HeadError(f"{name!r} cannot be a buddy's name")
    return name


def write_private_atomically(path: Path, text: str) -> None:
    """Replace `path` with `text` in one rename; the file is only ever readable by us."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _read(path: Path) -> dict[str, np.ndarray]:
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ValueError(f"larger than {MAX_FILE_BYTES} bytes")
    return _parse(json.loads(path.read_text(encoding="utf-8")))


def _parse(document: object) -> dict[str, np.ndarray]:
    if not isinstance(document, dict) or document.get("version") != FORMAT_VERSION:
        raise ValueError(f"not a version {FORMAT_VERSION} buddy file")
    buddies = document.get("buddies")
    if not isinstance(buddies, dict):
        raise TypeError("'buddies' is not a mapping")
    parsed: dict[str, np.ndarray] = {}
    for name, encodings in buddies.items():
        array = np.asarray(encodings, dtype=np.float64)
        if array.ndim != 2 or array.shape[1] != ENCODING_SIZE or len(array) == 0:
            raise ValueError(f"encodings of {name!r} are not a list of 128 numbers each")
        if not np.all(np.isfinite(array)):
            raise ValueError(f"encodings of {name!r} contain non-finite numbers")
        parsed[_stored_name(name)] = array
    return parsed


def _stored_name(name: str) -> str:
    try:
        return check_name(name)
    except HeadError as err:
        raise ValueError(str(err)) from None
