"""Which of the home's own names a sentence says: devices, lists, areas and floors.

Milo's word rules answer surf, weather and milk without a model, but "turn on the Surface
lamp", "add milk to the Shopping list" and "how warm is the Bedroom" are requests about the
home, for Home Assistant's intents or the model with the Assist tools. This module knows no
Home Assistant: the names come in as strings (see `exposed_names` for where from).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
import re


def words(text: str) -> tuple[str, ...]:
    """The words of a text as a rule or a name sees them: "Kitchen's light-strip" is
    ("kitchen", "light", "strip")."""
    text = re.sub(r"'s\b", "", text.casefold())
    return tuple(re.findall(r"[^\W_]+", text))


@dataclass(frozen=True, slots=True)
class HomeNames:
    """The names of the home's things and places, each as its tuple of words."""

    names: frozenset[tuple[str, ...]] = frozenset()

    @classmethod
    def of(cls, names: Iterable[str]) -> HomeNames:
        """From names as people write them; empty ones are left out."""
        return cls(frozenset(found for name in names if (found := words(name))))

    def named_in(self, text: str) -> list[str]:
        """The names `text` says as whole words (a plural counts), longest first.

        "Turn off the surface lamps" says "surface lamp"; "surfing" says no "surf" name.
        """
        said = words(text)
        lengths = {len(name) for name in self.names}
        found: set[tuple[str, ...]] = set()
        for length in lengths:
            for start in range(len(said) - length + 1):
                window = said[start : start + length]
                found.update(name for name in (window, *_singulars(window)) if name in self.names)
        return [" ".join(name) for name in sorted(found, key=len, reverse=True)]


NO_NAMES = HomeNames()


def _singulars(window: tuple[str, ...]) -> list[tuple[str, ...]]:
    """The window with its last word made singular the crude ways: "lamps", "switches"."""
    last = window[-1]
    if not last.endswith("s") or last.endswith("ss") or len(last) < 4:
        return []
    return [(*window[:-1], stem) for stem in (last[:-1], last[:-2]) if len(stem) > 2]
