"""The judge of whole requests on its own (turn_complete.py): a table of what people say
before a pause, and whether the satellite may end the turn there."""

from __future__ import annotations

import pytest

from custom_components.milo.turn_complete import dangles, is_whole


@pytest.mark.parametrize(
    "text",
    [
        "Turn on the desk lamp.",
        "Turn off the kitchen lights",
        "What's the surf like at West Strand tomorrow?",
        "Set the living room to twenty one degrees.",
        "Is the front door locked?",
        "Dim the bedroom lights to thirty percent.",
        "Will it rain tomorrow morning?",
        "Tell me a joke.",
        "Turn the lights off",
        "What\u2019s the weather today?",  # a typographic apostrophe
        "Lock the back door please",
    ],
)
def test_whole_requests(text: str) -> None:
    assert not dangles(text)
    assert is_whole(text, handled_whole=True)
    assert not is_whole(text, handled_whole=False)  # small talk: only the silence decides


@pytest.mark.parametrize(
    "text",
    [
        "Turn on the",
        "Turn on the...",  # whisper's dots: the voice trailed off
        "Turn on the desk lamp,",
        "Turn on the desk lamp and",
        "What's the surf like at",
        "What's the surf like",  # "like" waits for more, and so does a request
        "What's the weather going to be",
        "What's the weather going to",
        "Set the living room to",
        "Set the living room to twenty",  # "twenty one"?
        "Dim the bedroom lights to 30",  # 30 what?
        "Set a timer for",
        "Turn on the kitchen light um",
        "Play some music in the",
        "Is the",
        "Could you turn on the",
        "What's on my",
        "Turn off the lights in the kitchen and the",
        "Remind me to",
        "Close the blinds —",
        "",
        "   ",
    ],
)
def test_requests_that_leave_something_hanging(text: str) -> None:
    assert dangles(text)
    assert not is_whole(text, handled_whole=True)


@pytest.mark.parametrize(
    ("text", "whole"),
    [
        ("How are you today?", True),  # whisper heard a question end
        ("What do you think of the surf?", True),
        ("Do you ever think about?", False),  # a question mark, but "about" what?
        ("I had a long day.", False),  # a statement: only the silence decides
        ("Can you tell me?", True),  # why `fast` never gets these: its 0.6 s cut it off
    ],
)
def test_questions_for_the_model(text: str, whole: bool) -> None:
    assert is_whole(text, handled_whole=False, questions=True) is whole
    assert not is_whole(text, handled_whole=False)  # not asked to judge questions
