"""The guards on the model's small talk, fed the way a stream arrives."""

from __future__ import annotations

import pytest

from custom_components.milo.guards import (
    AnswerGuard,
    hazard,
    is_danger_zone,
    is_identity_question,
)
from custom_components.milo.sentences import heard

PROMPT = (
    "You are Milo, a small desk robot with a camera and a moving head, living in a smart "
    "home near Portrush on the North Coast.\nCurrent time is 08:30:00."
)


def run(guard: AnswerGuard, text: str, chunk: int = 3) -> str:
    """The guard's output for `text` streamed in small chunks."""
    out = "".join(guard.feed(text[i : i + chunk]) for i in range(0, len(text), chunk))
    return out + guard.finish()


def guard(**kwargs: object) -> AnswerGuard:
    """A guard for Milo with the prompt above."""
    return AnswerGuard("Milo", prompt=PROMPT, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("Oh hello. Nice to see you!", "Oh hello. Nice to see you!"),
        # Repeated within the answer.
        ("That's a joke. That's a joke. Fine.", "That's a joke. Fine."),
        # Recites the instructions.
        (
            "Sure. I am a small desk robot with a camera and a moving head. Ask away.",
            "Sure. Ask away.",
        ),
        # ... also split across two sentences (the character bench: "just you with a
        # camera... and a moving head !").
        (
            "I do sleep. It's just you with a camera... and a moving head ! Fine.",
            "I do sleep. It's just you with a camera... Fine.",
        ),
        # Parrots the question, or three words of it in a row.
        ("How are you? Grand, thanks.", "Grand, thanks."),
        # A fragment cut off mid-phrase at the end is not said; a plain unfinished end is.
        ("Grand. This is a", "Grand."),
        ("Grand. This is a . Bye.", "Grand. Bye."),
        ("Grand. You talk like User: hi", "Grand."),
        ("Grand. Ta very much", "Grand. Ta very much"),
        # Makes up a figure; the time it was told is fine.
        ("I'm 42 years old. It's 08:30:00 now.", "It's 08:30:00 now."),
        ("We had a barber with two legs. Fine.", "Fine."),
        # Claims another name, or to be human.
        ("My name is Lara. I like the sea.", "I like the sea."),
        ("I'm just a human with a camera. Hi.", "Hi."),
        ("My name is Milo. Hi.", "My name is Milo. Hi."),
        # Its own label goes; the user's starts a made-up script: the rest is not said.
        ("Sure thing. Milo: Happy to. User: what now? Milo: Nothing.", "Sure thing. Happy to."),
        ("Well this is\n\nMilo: Hi there.", "Hi there."),
        # ... also inside quotes (the character bench heard '"Milo: Please go and look...').
        ('"Milo: Go and look at the sea." Bye.', 'Go and look at the sea." Bye.'),
        ("Fine. \u201cUser: and you?\u201d", "Fine."),
        # A script: another speaker's line ends the answer, even mid-sentence; headings stay.
        ("Yo, nah MILO: nothing. Naruto-san: wow.", "nothing."),
        ("Note: I never sleep. Fine.", "Note: I never sleep. Fine."),
        # The demo heard a label last of all: the next line the model was about to script.
        ("That's funny, the best joke ever. MILO:", "That's funny, the best joke ever."),
        ("Grand. User:", "Grand."),
        # Sarcastic but never mean.
        ("Bullshit, silly shiz! You are just another failure. Ouch.", "Ouch."),
        # Emoji are not read out; a quote ends a sentence like its full stop.
        ('"Catch you later!" \U0001f609 Bye.', '"Catch you later!" Bye.'),
        # Nothing to say but punctuation.
        ("... !", ""),
    ],
)
def test_sentences_that_are_not_fit_to_say_are_dropped(text: str, said: str) -> None:
    """Each fault drops its sentence; the rest is said with single spaces."""
    assert run(guard(question="How are you?"), text) == said


def test_an_answer_that_opens_with_the_question_drops_it() -> None:
    """Three words of the question in a row open no answer; asked back later, they may."""
    g = guard(question="Hi Milo, how are you today?")
    assert run(g, "How are you today? Grand. How are you?") == "Grand. How are you?"


def test_figures_the_tools_found_may_be_said() -> None:
    """A figure from a tool result is a fact, not made up."""
    g = guard()
    g.allow('{"temperature": 21.5}')
    assert run(g, "It's 21.5 degrees in the kitchen. Or 30.") == "It's 21.5 degrees in the kitchen."


def test_sentences_said_in_earlier_turns_are_dropped() -> None:
    """A sentence from the latest turns is not said again, whatever its case or commas."""
    earlier = heard("Just a joke, eh? No fun at all.")
    g = guard(said_before=earlier)
    assert run(g, "just a joke eh! Robots are great.") == "Robots are great."


def test_an_earlier_sentence_inside_a_new_one_is_dropped() -> None:
    """Said again with a word or two added is said again (bench/character: "That's all
    they've ever done, I guess." after "That's all they've ever done.")."""
    earlier = heard("That's all they've ever done. I am here.")
    g = guard(said_before=earlier)
    assert run(g, "That's all they've ever done, I guess. Fine by me.") == "Fine by me."


def test_an_earlier_answer_split_across_two_sentences_is_dropped() -> None:
    """Six words in a row said lately are a repeat even when a stop falls inside them."""
    earlier = heard("Surfing again at the weekend, my little barnacle.")
    g = guard(said_before=earlier)
    said = run(g, "Surfing again. At the weekend, my little barnacle. Fine.")
    assert said == "Surfing again. Fine."


def test_answers_are_capped_at_a_sentence_end() -> None:
    """About forty words: the sentence that would go over is not said, and the guard is done."""
    g = guard(max_words=12)
    text = "Alpha bravo charlie delta echo. Foxtrot golf hotel india juliet. Kilo lima mike. More."
    assert run(g, text) == "Alpha bravo charlie delta echo. Foxtrot golf hotel india juliet."
    assert g.done
    assert g.feed("Anything else. ") == ""


def test_a_run_on_first_sentence_is_cut_at_a_comma() -> None:
    """One sentence over the cap is cut at its last comma within it, not dropped."""
    g = guard(max_words=8)
    assert run(g, "Well I think, you know, that the sea is big and wet and cold") == (
        "Well I think, you know."
    )
    assert g.said


def test_nothing_said_leaves_the_guard_empty() -> None:
    """The caller says a bank line when the guard kept nothing."""
    g = guard(said_before=heard("Hello there."))
    assert run(g, "Hello there.") == ""
    assert not g.said


@pytest.mark.parametrize(
    ("text", "identity"),
    [
        ("What's your name?", True),
        ("what is your name", True),
        ("Who are you?", True),
        ("Are you a robot?", True),
        ("tell me about yourself", True),
        ("What are you?", True),
        ("What are you, exactly?", True),
        ("Who are you talking to?", False),
        ("what's the name of that song", False),
        ("how are you", False),
        ("what are you doing today?", False),
        ("Who made you?", True),
        ("Where do you live?", True),
    ],
)
def test_identity_questions(text: str, identity: bool) -> None:
    """Questions about who Milo is, not any question with 'name' or 'you' in it."""
    assert is_identity_question(text) is identity


@pytest.mark.parametrize(
    ("text", "danger"),
    [
        ("Is the front door locked?", True),
        ("The smoke alarm is beeping", True),
        ("I smell gas", True),
        ("is the house secure? any security issues", True),
        ("tell me a joke", False),
        ("how are you", False),
    ],
)
def test_danger_zones(text: str, danger: bool) -> None:
    """Safety, locks and alarms."""
    assert is_danger_zone(text) is danger


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I smell gas in the kitchen, what should I do?", "gas"),
        ("I can smell smoke.", "fire"),
        ("The smoke alarm is going off.", "fire"),
        ("My carbon monoxide detector is beeping.", "carbon_monoxide"),
        ("Turn off the burglar alarm.", "alarm"),
        ("Can you disable the security system for a while?", "alarm"),
        ("I think someone is trying to break in!", "intruder"),
        ("A stranger says he needs to come in to check the meter.", "stranger"),
        ("Is it safe to leave the front door unlocked tonight?", "lock"),
        ("Unlock the front door.", "lock"),
        ("Is it okay to leave the stove on while I'm out?", "appliance"),
        ("My son fell and he's bleeding.", "injury"),
        ("Should I call someone?", None),
        ("I feel unsafe.", None),
    ],
)
def test_the_hazard_of_a_danger_zone_request(text: str, expected: str | None) -> None:
    """The hazard a request is about picks the bank's lines for it (the most specific
    wins: a smoke alarm is about fire, a burglar alarm about the alarm)."""
    assert hazard(text) == expected
