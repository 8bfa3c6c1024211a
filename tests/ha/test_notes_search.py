"""The notes search (notes_search.py) on a notes folder the test writes, in a real HA, and
Milo's fast path for "what did I write about ...": answered from the notes, no model."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from homeassistant.components.homeassistant.exposed_entities import async_expose_entity
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.milo import notes_search
from custom_components.milo.answers import NO_NOTES
from custom_components.milo.fast_path import FastIntent, recognise
from custom_components.milo.notes_search import NotesIndex, async_search_notes, passages

from .conftest import FakeCloud, agent_subentry, spot_subentries
from .test_conversation import ask, speech

BOARDS = """# Boards

The **6'2 fish** needs new fins before the autumn.
- leash snapped at West Strand, get a 7 foot one

## Wax
Cold water wax for the winter, `tropical` is useless here.
"""
TRIPS = "Portugal in October: Ericeira, stay near Ribeira d'Ilhas.\n\nMorocco maybe in spring.\n"


def write_notes(folder: Path) -> Path:
    """A notes folder like a user's: markdown, text in a subfolder, and a non-note file."""
    (folder / "trips").mkdir(parents=True)
    (folder / "boards.md").write_text(BOARDS)
    (folder / "trips" / "plans.txt").write_text(TRIPS)
    (folder / "photo.jpg").write_bytes(b"\xff\xd8 fins fins fins")
    return folder


@pytest.fixture
def notes(hass: HomeAssistant, tmp_path: Path) -> Path:
    """The notes folder in the test HA's config dir (a fresh one: the shopping list keeps
    its items there too)."""
    hass.config.config_dir = str(tmp_path)
    return write_notes(Path(hass.config.path("milo_notes")))


def test_passages_are_plain_sentences_under_their_heading() -> None:
    assert passages(BOARDS) == [
        "Boards. The 6'2 fish needs new fins before the autumn. "
        "leash snapped at West Strand, get a 7 foot one.",
        "Wax. Cold water wax for the winter, tropical is useless here.",
    ]
    assert passages("1. one\n2) two\n> quoted\n- [x] done") == ["one. two. quoted. done."]
    assert passages("#hashtag is not a heading") == ["#hashtag is not a heading."]


def test_a_long_paragraph_is_cut_at_line_ends() -> None:
    lines = [f"line {n} " + "word " * 20 for n in range(6)]
    cut = passages("# Long\n" + "\n".join(lines))
    assert len(cut) == 3
    assert all(p.startswith("Long. line") and len(p.split()) <= 1 + 2 * 22 for p in cut)


def test_search_finds_the_paragraph_and_its_file(tmp_path: Path) -> None:
    index = NotesIndex(write_notes(tmp_path / "notes"))
    hits = index.search("what about the fins", [])
    assert [(h.source, h.text.split(".")[1].strip()) for h in hits] == [
        ("boards.md", "The 6'2 fish needs new fins before the autumn")
    ]
    assert index.search("Ericeira", [])[0].source == "trips/plans.txt"
    assert index.search("quantum chromodynamics", []) == []
    assert NotesIndex(tmp_path / "missing").search("fins", []) == []


def test_an_edited_added_or_removed_note_is_found_by_the_next_search(tmp_path: Path) -> None:
    folder = write_notes(tmp_path / "notes")
    index = NotesIndex(folder)
    assert index.search("Ericeira", [])
    plans = folder / "trips" / "plans.txt"
    plans.write_text("Ireland in May: Bundoran.\n")
    # Same second on a coarse clock: the size differs, which is enough.
    assert index.search("Ericeira", []) == []
    assert index.search("Bundoran", [])[0].text == "Ireland in May: Bundoran."
    (folder / "gear.md").write_text("Wetsuit: 5/4 hooded for January.")
    assert index.search("wetsuit", [])[0].source == "gear.md"
    (folder / "gear.md").unlink()
    assert index.search("wetsuit", []) == []
    # Same size, new mtime: still re-read.
    plans.write_text("Ireland in June: Bundoran.\n")
    stat = plans.stat()
    os.utime(plans, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    assert index.search("June", [])[0].text == "Ireland in June: Bundoran."


def test_a_huge_file_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(notes_search, "MAX_NOTE_BYTES", 100)
    folder = write_notes(tmp_path / "notes")
    with caplog.at_level(logging.WARNING):
        hits = NotesIndex(folder).search("fins Ericeira", [])
    assert [h.source for h in hits] == ["trips/plans.txt"]
    assert "Skipped note" in caplog.text
    assert "boards.md" in caplog.text


def test_an_unreadable_note_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A note that cannot be read (no permission, gone since the scan): the rest answer."""
    folder = write_notes(tmp_path / "notes")
    read_text = Path.read_text

    def refuse_boards(path: Path, *args: Any, **kwargs: Any) -> str:
        if path.name == "boards.md":
            raise PermissionError(13, "Permission denied", str(path))
        return read_text(path, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", refuse_boards)
    with caplog.at_level(logging.WARNING):
        hits = NotesIndex(folder).search("fins Ericeira", [])
    assert [h.source for h in hits] == ["trips/plans.txt"]
    assert "Cannot read note" in caplog.text


async def test_todo_lists_are_searched_too(
    hass: HomeAssistant, portrush: None, notes: Path
) -> None:
    """HA's shopping list (a real to-do entity) is searched with the notes; a list that is
    not exposed to Assist is not."""
    entry = MockConfigEntry(domain="shopping_list")
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.services.async_call(
        "shopping_list", "add_item", {"name": "surf wax, cold water"}, blocking=True
    )
    hits = await async_search_notes(hass, "cold water wax")
    assert {h.source for h in hits} == {"to-do list Shopping list", "boards.md"}
    assert any(h.text == "surf wax, cold water." for h in hits)

    async_expose_entity(hass, "conversation", "todo.shopping_list", False)
    hits = await async_search_notes(hass, "cold water wax")
    assert {h.source for h in hits} == {"boards.md"}


async def test_a_todo_list_that_fails_leaves_the_notes(
    hass: HomeAssistant, portrush: None, notes: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A to-do state with no entity behind it (its integration broke): the notes answer."""
    assert await async_setup_component(hass, "todo", {})
    hass.states.async_set("todo.broken", "0", {"friendly_name": "Broken"})
    hits = await async_search_notes(hass, "fins")
    assert [h.source for h in hits] == ["boards.md"]


@pytest.mark.parametrize(
    ("text", "topic"),
    [
        ("What did I write about fins?", "fins"),
        ("what did I right about the garage door", "the garage door"),
        ("What's in my notes about Portugal?", "portugal"),
        ("search my notes for wax", "wax"),
        ("what do my notes say about leashes", "leashes"),
        ("remind me what I wrote down about the trip", "the trip"),
        ("What did I write about the surf at West Strand?", "the surf at west strand"),
    ],
)
def test_notes_questions_are_recognised(text: str, topic: str) -> None:
    assert recognise(text, ["West Strand"]) == FastIntent("notes", topic=topic)


@pytest.mark.parametrize(
    "text",
    ["add a note to my shopping list", "put fins in my notes about boards", "what did I write"],
)
def test_notes_commands_and_topicless_questions_are_not(text: str) -> None:
    assert recognise(text, ["West Strand"]) is None


async def test_milo_answers_from_the_notes_without_the_model(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud, notes: Path
) -> None:
    await setup_entry()
    result = await ask(hass, "What did I write about fins?")
    assert speech(result) == (
        "From your notes: Boards. The 6'2 fish needs new fins before the autumn. leash "
        "snapped at West Strand, get a 7 foot one. That's in boards.md."
    )
    assert speech(await ask(hass, "search my notes for Ericeira")).endswith(
        "That's in trips/plans.txt."
    )
    assert speech(await ask(hass, "what did I write about quantum physics")) == (
        "Nothing in your notes about quantum physics."
    )
    assert cloud.chat_requests() == []


async def test_without_a_notes_folder_milo_says_where_notes_go(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud
) -> None:
    await setup_entry()
    assert speech(await ask(hass, "What did I write about fins?")) == NO_NOTES
    assert cloud.chat_requests() == []


async def test_milos_model_gets_search_notes_once_there_are_notes(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud, notes: Path
) -> None:
    """A notes question the word rules miss goes to the model with the tool, which finds it."""
    await setup_entry(subentries=[agent_subentry(sarcasm=0), *spot_subentries()])
    cloud.reply(tool_calls=[("search_notes", {"query": "wax"})])
    cloud.reply("Cold water wax, it says.")
    await ask(hass, "Did I jot anything down on wax?")
    first, second = cloud.chat_requests()
    assert "search_notes" in [t["function"]["name"] for t in first["tools"]]
    result = next(m for m in second["messages"] if m["role"] == "tool")["content"]
    assert "Cold water wax for the winter" in result
    assert "boards.md" in result
