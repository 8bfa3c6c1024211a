"""The notes that ride with questions (notes.py)."""

from __future__ import annotations

from custom_components.milo.notes import SentNotes, split_moment, with_note


def test_a_question_keeps_the_note_it_was_sent_with() -> None:
    notes = SentNotes()
    assert notes.note("c1", 1, "hi", "08:31") == "08:31"
    # The next message: the earlier question goes with its own note, not the new one's.
    assert notes.note("c1", 1, "hi", "") == "08:31"
    assert notes.note("c1", 3, "joke?", "08:32") == "08:32"
    # A second tool round of the same message sends the same note.
    assert notes.note("c1", 3, "joke?", "08:33") == "08:32"


def test_a_new_chat_log_under_the_same_id_gets_new_notes() -> None:
    """A client that picks its own conversation ids gets a new chat log once HA forgot it."""
    notes = SentNotes()
    notes.note("kitchen", 1, "hi", "08:31")
    assert notes.note("kitchen", 1, "what's up?", "09:40") == "09:40"


def test_old_conversations_are_forgotten() -> None:
    notes = SentNotes(max_conversations=2)
    for conversation in ("a", "b", "c"):
        notes.note(conversation, 1, "hi", f"note {conversation}")
    assert notes.note("a", 1, "hi", "new") == "new"
    assert notes.note("c", 1, "hi", "new") == "note c"


def test_moment_and_note() -> None:
    system = "You are Milo.\nCurrent time is 08:30:00. Today's date is 2026-06-01.\n"
    assert split_moment(system) == (
        "You are Milo.",
        "Current time is 08:30:00. Today's date is 2026-06-01.",
    )
    assert with_note("hi", "08:30") == "(08:30)\nhi"
    assert with_note("hi", "") == "hi"
