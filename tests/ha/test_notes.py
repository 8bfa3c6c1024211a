"""The notes that ride with questions (notes.py)."""

from __future__ import annotations

from datetime import datetime

from custom_components.milo.notes import (
    SentNotes,
    ahead_of_question,
    fresh_note,
    moment_now,
    split_moment,
    with_note,
    without_time,
)


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
    system = "You are Milo.\nCurrent time is 08:30:59. Today's date is 2026-06-01.\n"
    # The date first, the time to the minute: the note's opening holds for a minute.
    moment = "Today's date is 2026-06-01. Current time is 08:30."
    assert split_moment(system) == ("You are Milo.", moment)
    assert moment_now(datetime(2026, 6, 1, 8, 30, 2)) == moment
    # A line in another format (a custom template) is kept as it says the time.
    assert split_moment("Current time is 8.30 am. Today's date is 1 June.")[1] == (
        "Today's date is 1 June. Current time is 8.30 am."
    )
    assert split_moment("You are Milo.") == ("You are Milo.", "")
    # A speculation a little earlier asks the same (speculation.py), but on another day not.
    later = moment.replace("08:30", "08:31")
    assert without_time(f"({later})\nhi") == without_time(f"({moment})\nhi")
    assert without_time(moment) != without_time(moment.replace("06-01", "06-02"))
    assert with_note("hi", "08:30") == "(08:30)\nhi"
    assert with_note("hi", "") == "hi"


def test_the_next_questions_opening_is_its_notes_beginning() -> None:
    """What milo-llm reads ahead is the message the next question will send, up to the
    bank's lines, which depend on the question."""
    room, moment = "You are in the office.", "Today's date is 2026-06-01. Current time is 08:30."
    voice = 'Milo talks like this: "Hi."'
    message = with_note("how are you?", fresh_note(room, moment, voice))
    assert message.startswith(ahead_of_question(room, moment) + " Milo talks")
    assert with_note("hi", fresh_note("", moment, "")).startswith(ahead_of_question("", moment))
    assert ahead_of_question("", "") == ""
    assert fresh_note("", "", voice) == voice
