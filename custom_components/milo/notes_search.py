"""Search the user's own notes: text files in `<config>/milo_notes/` and HA's to-do lists.

The original robot (seed 002) answered from its owner's files with an embedding index. A
home's notes are a few hundred paragraphs at most, so BM25 (bm25.py) over paragraphs finds
them with no model and no network. The folder is scanned on each search (a stat per file,
in the executor) and the index rebuilt only when a file's size or mtime changed: no
watcher thread, and an edit is found by the next question.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
import re
from typing import Any

from homeassistant.components.homeassistant.exposed_entities import async_should_expose
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.util.hass_dict import HassKey

from .bm25 import BM25
from .const import LOGGER

NOTES_FOLDER = "milo_notes"
NOTE_SUFFIXES = frozenset((".md", ".markdown", ".txt"))
# Bigger files are not notes (a log, an export): skipped, with a warning.
MAX_NOTE_BYTES = 512 * 1024
# A paragraph longer than this is cut at line ends, so one hit is a sayable passage.
PASSAGE_WORDS = 60
DEFAULT_LIMIT = 3
TODO = "todo"
# How a to-do list's name is given as the source of an item.
TODO_SOURCE = "to-do list {}"
TODO_STATUSES = ["needs_action", "completed"]

_MARKUP = re.compile(r"^\s*(#{1,6}\s+|[-*+]\s+(\[[ xX]\]\s+)?|\d+[.)]\s+|>\s*)")
_HEADING = re.compile(r"\s*#{1,6}\s")
_EMPHASIS = re.compile(r"(\*\*|__|`)")
_DATA: HassKey[NotesIndex] = HassKey("milo_notes_index")


@dataclass(frozen=True, slots=True)
class Passage:
    """A paragraph of a note, or a to-do item; `source` is the file or the list."""

    source: str
    text: str


@dataclass(frozen=True, slots=True)
class Hit:
    """A passage that matched a search, with its BM25 score."""

    source: str
    text: str
    score: float

    def as_dict(self) -> dict[str, Any]:
        """The hit as a tool result gives it."""
        return {"source": self.source, "text": self.text}


class NotesIndex:
    """The notes folder's paragraphs, re-read when a file changes."""

    def __init__(self, folder: Path) -> None:
        """Index this folder; nothing is read until the first search."""
        self.folder = folder
        self._signature: tuple[tuple[str, int, int], ...] = ()
        self._passages: list[Passage] = []
        self._todo: list[Passage] = []
        self._bm25 = BM25([])

    def search(self, query: str, todo: list[Passage], limit: int = DEFAULT_LIMIT) -> list[Hit]:
        """The passages nearest to `query`, best first. Blocking: run in the executor."""
        signature = self._scan()
        if signature != self._signature or todo != self._todo:
            if signature != self._signature:
                self._passages = [p for name, *_ in signature for p in self._read(name)]
                self._signature = signature
            self._todo = todo
            self._bm25 = BM25([f"{p.source} {p.text}" for p in self._all])
        scored = sorted(
            zip(self._bm25.scores(query), self._all, strict=True), key=lambda pair: -pair[0]
        )
        return [Hit(p.source, p.text, score) for score, p in scored[:limit] if score > 0]

    @property
    def _all(self) -> list[Passage]:
        return [*self._passages, *self._todo]

    def _scan(self) -> tuple[tuple[str, int, int], ...]:
        """Each note file's name (relative to the folder), size and mtime, sorted."""
        if not self.folder.is_dir():
            return ()
        found = []
        for path in self.folder.rglob("*"):
            if path.suffix.casefold() not in NOTE_SUFFIXES or not path.is_file():
                continue
            stat = path.stat()
            found.append((path.relative_to(self.folder).as_posix(), stat.st_size, stat.st_mtime_ns))
        return tuple(sorted(found))

    def _read(self, name: str) -> list[Passage]:
        path = self.folder / name
        try:
            if path.stat().st_size > MAX_NOTE_BYTES:
                LOGGER.warning("Skipped note %s: bigger than %d bytes", path, MAX_NOTE_BYTES)
                return []
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError as err:  # unreadable, or deleted since the scan
            LOGGER.warning("Cannot read note %s: %s", path, err)
            return []
        return [Passage(name, passage) for passage in passages(text)]


def passages(text: str) -> list[str]:
    """A note's paragraphs as plain sentences: markdown marks gone, a heading leading the
    paragraphs under it, and long paragraphs cut at line ends."""
    out: list[str] = []
    heading = ""
    for block in re.split(r"\n\s*\n", text):
        lines = [_plain(line) for line in block.splitlines() if line.strip()]
        if _HEADING.match(block):
            heading = lines.pop(0)
        chunk: list[str] = []
        for line in lines:
            if chunk and len(" ".join([*chunk, line]).split()) > PASSAGE_WORDS:
                out.append(_sentences([heading, *chunk]))
                chunk = []
            chunk.append(line)
        if chunk:
            out.append(_sentences([heading, *chunk]))
    return out


def _plain(line: str) -> str:
    return _EMPHASIS.sub("", _MARKUP.sub("", line)).strip()


def _sentences(lines: list[str]) -> str:
    """Lines joined as sentences, so a list is said as one item after another."""
    return " ".join(line if line[-1] in ".!?:;" else f"{line}." for line in lines if line)


def notes_folder(hass: HomeAssistant) -> Path:
    """Where the user's notes live."""
    return Path(hass.config.path(NOTES_FOLDER))


def has_notes(hass: HomeAssistant) -> bool:
    """Whether the notes folder exists: only then is the search offered to a model."""
    return notes_folder(hass).is_dir()


async def async_search_notes(
    hass: HomeAssistant, query: str, limit: int = DEFAULT_LIMIT
) -> list[Hit]:
    """The notes and exposed to-do items nearest to `query`, best first."""
    index = hass.data.get(_DATA)
    if index is None:
        index = hass.data[_DATA] = NotesIndex(notes_folder(hass))
    todo = await _async_todo_passages(hass)
    return await hass.async_add_executor_job(index.search, query, todo, limit)


async def _async_todo_passages(hass: HomeAssistant) -> list[Passage]:
    """The items of the to-do lists exposed to Assist, one passage each."""
    lists = [
        state
        for state in hass.states.async_all(TODO)
        if async_should_expose(hass, "conversation", state.entity_id)
    ]
    if not lists or not hass.services.has_service(TODO, "get_items"):
        return []
    try:
        response: Any = await hass.services.async_call(
            TODO,
            "get_items",
            {"entity_id": [state.entity_id for state in lists], "status": TODO_STATUSES},
            blocking=True,
            return_response=True,
        )
    except HomeAssistantError as err:
        # The notes still answer without the lists.
        LOGGER.warning("Cannot read the to-do lists for a notes search: %s", err)
        return []
    out = []
    for state in lists:
        source = TODO_SOURCE.format(state.name)
        for item in response.get(state.entity_id, {}).get("items", []):
            text = " ".join(str(item.get(key) or "") for key in ("summary", "description"))
            if text.strip():
                out.append(Passage(source, _sentences([text.strip()])))
    return out
