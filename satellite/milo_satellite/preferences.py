"""Settings changed from HA that must survive a restart (ESPHome's `restore_value`).

The wake word, end of speech, mute, clean audio, volume and whether the status light is on are kept
in a small JSON file, replaced atomically on every change. A file that cannot be read is logged and
ignored (the config's values apply); it is never deleted.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from pathlib import Path
import tempfile
from typing import Any

_LOGGER = logging.getLogger(__name__)


class Preferences:
    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._values: dict[str, Any] = {}
        if path is None or not path.exists():
            return
        try:
            loaded = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            _LOGGER.warning("Ignoring unreadable preferences %s: %s", path, err)
            return
        if isinstance(loaded, dict):
            self._values = loaded
        else:
            _LOGGER.warning("Ignoring preferences %s: not a JSON object", path)

    def get(self, key: str, default: Any = None) -> Any:
        return self._values.get(key, default)

    def update(self, **values: Any) -> None:
        if all(self._values.get(k) == v for k, v in values.items()):
            return
        self._values.update(values)
        if self.path is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".prefs-")
            with os.fdopen(fd, "w") as file:
                json.dump(self._values, file, indent=1)
            os.replace(tmp, self.path)
        except OSError as err:
            _LOGGER.warning("Cannot save preferences to %s: %s", self.path, err)
            with contextlib.suppress(OSError, UnboundLocalError):
                os.unlink(tmp)
