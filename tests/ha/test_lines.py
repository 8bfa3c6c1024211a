"""Milo's line bank: the shipped lines, the user's own, and how lines are picked and found."""

from __future__ import annotations

from collections import Counter
import itertools
from pathlib import Path
import re
import time
from typing import Literal

from homeassistant.core import HomeAssistant
import pytest

from custom_components.milo import line_bank, persona
from custom_components.milo.line_bank import (
    CONVERSATIONAL,
    TOPICS,
    Line,
    LineBank,
    LineBankError,
    load,
)
from custom_components.milo.sentences import heard

from .conftest import agent_subentry
from .test_conversation import ask, speech

SHIPPED = load([line_bank.SHIPPED])


def write(path: Path, text: str) -> Path:
    """A YAML file with `text`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_the_shipped_bank_covers_every_topic_tag_and_level() -> None:
    """Over 300 original lines; each topic and tag has lines, most at several levels."""
    assert len(SHIPPED.lines) >= 300
    groups = Counter((line.topic, line.tag) for line in SHIPPED.lines)
    for topic, tags in TOPICS.items():
        for tag in tags or {None}:
            assert groups[topic, tag] >= 4, (topic, tag)
    for topic in CONVERSATIONAL | {"surf", "weather", "fallback"}:
        levels = {line.sarcasm for line in SHIPPED.lines if line.topic == topic}
        assert {0, 2} <= levels, topic
    texts = [line.text for line in SHIPPED.lines]
    assert len(texts) == len(set(texts)), "every line once"
    # Danger-zone lines are plain.
    assert {line.sarcasm for line in SHIPPED.lines if line.topic == "danger"} == {0}


def test_the_shipped_bank_loads_quickly() -> None:
    """Parsing and indexing happen once, in an executor; a few lines' worth of time."""
    start = time.perf_counter()
    load([line_bank.SHIPPED])
    assert time.perf_counter() - start < 2  # generous: CI machines are slow and shared


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("topic: milk", "expected a list of line groups"),
        ("- topic: milky\n  lines: [Hi]", "group 1: topic 'milky' is not one of"),
        ("- topic: surf\n  tag: epic\n  lines: [Hi]", "group 1 (surf): tag 'epic' is not one of"),
        ("- topic: milk\n  tag: cold\n  lines: [Hi]", "topic 'milk' takes no tag"),
        ("- topic: milk\n  sarcasm: 4\n  lines: [Hi]", "sarcasm must be a whole number"),
        ("- topic: milk\n  lines: []", "lines must be a non-empty list"),
        ("- topic: milk\n  colour: red\n  lines: [Hi]", "unknown keys ['colour']"),
        ("- topic: milk\n  lines: ['Hi', '']", "group 1 (milk), line 2: the line must be"),
        ("- topic: milk\n  lines: ['Hi {person}']", "unknown placeholder ['person']"),
        ("- topic: milk\n  lines: ['Hi {name']", "write a brace as"),
        ("- topic: milk\n  lines: ['I drink 3 litres']", "no figures in a line"),
        ("- topic: milk\n  lines: ['Two out of three glasses']", "no figures in a line"),
        ("- topic: milk\n  lines: ['*slurps* milk']", "no brackets or asterisks"),
        ("- topic: milk\n  lines: ['Say \"milk\"']", "no double quotes"),
        ("- topic: milk\n  lines: [{text: Hi, sarcasm: -1}]", "line 1: sarcasm must be"),
        ("- topic: milk\n  lines: [{text: Hi, mood: sad}]", "line 1: unknown keys ['mood']"),
        ("- topic: milk\n  lines: ['" + "milk " * 31 + "']", "more than 30 words"),
        ("- topic: milk\n  lines: [Hi\n", "cannot read the line bank"),
        ("- topic: milk\n  replace: yes please\n  lines: [Hi]", "replace must be true or false"),
    ],
)
def test_a_bad_file_names_the_entry_at_fault(tmp_path: Path, text: str, error: str) -> None:
    """Every mistake is reported with the file, the group and the line."""
    path = write(tmp_path / "lines.yaml", text)
    with pytest.raises(LineBankError, match=re.escape(error)) as raised:
        load([path])
    assert str(path) in str(raised.value)


def test_user_lines_extend_or_replace(tmp_path: Path) -> None:
    """A user's group adds to a topic; with `replace: true` it stands alone."""
    user = write(
        tmp_path / "lines.yaml",
        "- topic: milk\n  sarcasm: 2\n  lines: ['Oat milk is a lie, {name}.']\n"
        "- topic: troggs\n  replace: true\n  sarcasm: 2\n  lines: ['Troggs. Nothing else.']\n",
    )
    bank = load([line_bank.SHIPPED, user])
    assert "Oat milk is a lie, {name}." in bank.texts("milk")
    assert len(bank.texts("milk")) == len(SHIPPED.texts("milk")) + 1
    assert bank.texts("troggs") == ["Troggs. Nothing else."]
    assert bank.pick("troggs", sarcasm=0) == "Troggs. Nothing else."


def test_picks_do_not_repeat_soon() -> None:
    """The same topic gives a different line each time until it runs out of fresh ones."""
    bank = LineBank(
        [Line(f"Line {word}.", "milk", None, 2) for word in (["one", "two", "three", "four"])]
    )
    picks = [bank.pick("milk", sarcasm=2) for _ in range(12)]
    assert all(a != b for a, b in itertools.pairwise(picks))
    assert set(picks[:4]) == {"Line one.", "Line two.", "Line three.", "Line four."}


def test_picks_avoid_what_was_said_lately() -> None:
    """A line whose sentence was said in the latest turns is not picked while others are."""
    said = set(heard("Line one. Line two. Line three."))
    bank = LineBank([Line(f"Line {w}.", "milk", None, 2) for w in ["one", "two", "three", "four"]])
    assert {bank.pick("milk", sarcasm=2, avoid=said) for _ in range(5)} == {"Line four."}


def test_picks_avoid_six_words_said_lately() -> None:
    """ "Why them?" after "Same name as the best surf shop in Portrush." does not get the
    reason that says those six words again (the character bench's one repeat)."""
    said = set(heard("The Troggs, obviously. Same name as the best surf shop in Portrush."))
    reasons = [
        "Because they share a name with the best surf shop in Portrush.",
        "Because Wild Thing is the only song my head can keep time to.",
    ]
    bank = LineBank([Line(text, "why", "band", 2) for text in reasons])
    picks = {bank.pick("why", "band", sarcasm=2, avoid=said) for _ in range(5)}
    assert picks == {reasons[1]}


@pytest.mark.parametrize(("sarcasm", "levels"), [(0, {0}), (1, {0, 1}), (2, {1, 2}), (3, {2, 3})])
def test_picks_match_the_sarcasm_setting(sarcasm: int, levels: set[int]) -> None:
    """The agent's sarcasm, or one below; never more."""
    by_text = {line.text: line.sarcasm for line in SHIPPED.lines if line.topic == "comeback"}
    picked = {by_text[SHIPPED.pick("comeback", sarcasm=sarcasm)] for _ in range(40)}
    assert picked <= levels


def test_placeholders_are_filled() -> None:
    """`{name}` is the agent's persona name; `{person}` the buddy greeted."""
    line = SHIPPED.pick("identity", sarcasm=2, name="Specter")
    assert "Specter" in line
    assert "{" not in line
    greeting = SHIPPED.pick("buddy_greeting", sarcasm=2, person="Eileen")
    assert "Eileen" in greeting


@pytest.mark.parametrize(
    ("request_text", "topic"),
    [
        ("Tell me something funny about robots.", "joke"),
        # Not the milk line for sharing "give me" (the character bench, three times in three).
        ("Give me your best pun.", "joke"),
        ("You're useless and stupid", "comeback"),
        ("Thank you, you're brilliant", "compliment"),
        ("Good night Milo, see you tomorrow", "goodbye"),
        # The robot-dance joke; not "Music? Anything you can dance to.", which echoes
        # another ask (`only_for`).
        ("What's your favourite dance?", "joke"),
        ("What are your plans today?", "chat"),
        ("Do you have legs?", "self"),
    ],
)
def test_nearest_lines_fit_the_request(request_text: str, topic: str) -> None:
    """BM25 over the lines and their `about` words finds lines of the request's topic."""
    found = SHIPPED.nearest(request_text, sarcasm=2, count=3)
    topics = {line.text: line.topic for line in SHIPPED.lines}
    assert found
    assert topics[found[0]] == topic


def test_a_follow_up_is_about_the_question_before() -> None:
    """ "Another one, please." after a joke asks for a joke; the newest question counts most."""
    topics = {line.text: line.topic for line in SHIPPED.lines}
    again = SHIPPED.nearest("Another one, please.", before="Tell me a joke.", sarcasm=2, count=3)
    assert again
    assert {topics[line] for line in again} == {"joke"}
    turned = SHIPPED.nearest("You're useless.", before="Tell me a joke.", sarcasm=2, count=3)
    assert {topics[line] for line in turned} == {"comeback"}


def test_nearest_lines_keep_to_their_topics_and_skip_what_was_said() -> None:
    """Only the topics asked for, only lines sharing a word, none said lately."""
    assert SHIPPED.nearest("zzz qqq", sarcasm=2, count=3) == []
    danger = SHIPPED.nearest("I smell gas in the kitchen", sarcasm=0, count=3, topics={"danger"})
    assert danger
    assert "gas" in danger[0]
    first = SHIPPED.nearest("I smell gas", sarcasm=0, count=1, topics={"danger"})
    again = SHIPPED.nearest(
        "I smell gas", sarcasm=0, count=1, topics={"danger"}, avoid=set(heard(first[0]))
    )
    assert again != first


def test_the_bank_has_jokes_about_milos_world() -> None:
    """At least 40 more jokes than the first bank's 22: robots, surfing, Portrush, the weather
    and the home's devices each have several."""
    jokes = " ".join(SHIPPED.texts("joke")).casefold()
    assert len(SHIPPED.texts("joke")) >= 62
    for subject in ("robot", "surf", "portrush", "weather", "fridge", "kettle", "light"):
        assert jokes.count(subject) >= 2, subject


@pytest.mark.parametrize(
    ("asked", "expected"),
    [
        (["Tell me a joke about the fridge."], "fridge"),
        (["Know any surfing jokes?"], "surf"),
        (["Tell me a joke about the weather."], "weather"),
        (["Tell me a joke about robots.", "Another one!"], "robot"),
    ],
)
def test_jokes_are_about_what_was_asked(asked: list[str], expected: str) -> None:
    """The joke's own words are near the request ("joke" itself says nothing), and the
    question before counts for a follow-up."""
    for _ in range(10):
        assert expected in persona.bank_answer("joke", asked, "Milo", 2).casefold()


def test_chosen_lines_vary_and_skip_what_was_said() -> None:
    """ "Tell me a joke." gets many different jokes; one said lately is never chosen while
    another is left, and a topic with every line said still answers."""
    jokes = {persona.bank_answer("joke", ["Tell me a joke."], "Milo", 2) for _ in range(40)}
    assert len(jokes) >= 10
    said = {s for text in SHIPPED.texts("comeback") if "low" not in text for s in heard(text)}
    for _ in range(5):
        assert "low" in SHIPPED.choose("You're slow.", "comeback", sarcasm=2, avoid=said)
    every = {s for text in SHIPPED.texts("comeback") for s in heard(text)}
    assert SHIPPED.choose("You're slow.", "comeback", sarcasm=2, avoid=every)


def _line_said(text: str) -> Line:
    """The shipped line that `text` is, as Milo says it."""
    return next(line for line in SHIPPED.lines if line_bank.fill(line.text) == text)


@pytest.mark.parametrize(
    ("topic", "request_text", "must_say"),
    [
        # The pipeline bench's "A roast? ..." to this; only the plain jokes fit.
        ("joke", "Tell me something funny about robots.", "robot"),
        ("joke", "Tell me a joke.", ""),
        ("joke", "Roast me.", "roast"),
        ("joke", "Make me laugh.", ""),
        ("joke", "Say something sarcastic.", "sarcas"),
        ("joke", "What's the funniest thing about humans?", ""),
        ("joke", "Give me your best pun.", ""),
        ("comeback", "You're useless.", "useless"),
        ("comeback", "You're pathetic.", ""),
        ("comeback", "Shut up!", ""),
        ("comeback", "My toaster is smarter than you.", ""),
        ("greeting", "Hi Milo!", ""),
        ("greeting", "How are you doing, Milo?", ""),
        ("goodbye", "Thanks, bye!", ""),
        ("goodbye", "Goodnight, Milo.", ""),
    ],
)
def test_each_ask_gets_only_lines_that_answer_it(
    topic: Literal["joke", "comeback", "greeting", "goodbye"], request_text: str, must_say: str
) -> None:
    """A line that echoes one ask ("A roast? ...", "Useless? ...", "Doing grand, thanks for
    asking.") is said only to a request with that ask, over many picks; the bank's
    examples and fallbacks keep to the same rule. `must_say`: every answer has it."""
    asked = line_bank.stems(request_text)
    for _ in range(60):
        answer = persona.bank_answer(topic, [request_text], "Milo", 2)
        assert line_bank.fits(_line_said(answer), asked), answer
        assert must_say in answer.casefold(), answer
    for text in SHIPPED.nearest(request_text, sarcasm=2, count=len(SHIPPED.lines)):
        assert line_bank.fits(_line_said(text), asked), text


def test_lines_for_one_ask_are_kept_from_every_other() -> None:
    """The lines with `only_for` are said to their ask, and only to it."""
    answers = {
        request: {persona.bank_answer("joke", [request], "Milo", 3) for _ in range(60)}
        for request in ("Tell me a joke.", "Roast me.")
    }
    echoes = {line_bank.fill(line.text) for line in SHIPPED.lines if line.only_for}
    assert not answers["Tell me a joke."] & echoes
    assert answers["Roast me."] <= echoes
    for request, other, start in (
        ("Tell me something funny.", "Tell me a joke.", "Funny?"),
        ("Good night!", "Bye for now!", "Night"),
        ("How are you?", "Hello there!", "How am I?"),
    ):
        lines = [line for line in SHIPPED.lines if line.only_for and start in line.text]
        assert lines, start
        assert all(line_bank.fits(line, line_bank.stems(request)) for line in lines), request
        assert not any(line_bank.fits(line, line_bank.stems(other)) for line in lines), other


def test_a_topic_needs_a_line_for_any_request(tmp_path: Path) -> None:
    """Lines that answer one ask only cannot be a topic's every line; a bad `only_for` is
    named."""
    only = write(
        tmp_path / "lines.yaml",
        "- topic: troggs\n  replace: true\n"
        "  lines: [{text: 'Troggs? Legends.', only_for: [troggs]}]\n",
    )
    with pytest.raises(LineBankError, match="Every line of troggs has only_for"):
        load([line_bank.SHIPPED, only])
    bad = write(tmp_path / "bad.yaml", "- topic: milk\n  lines: [{text: Hi, only_for: milk}]\n")
    with pytest.raises(LineBankError, match="line 1: only_for must be a list"):
        load([bad])


def test_voice_note_is_short() -> None:
    """A few lines, about sixty tokens."""
    note = persona.voice_note(["tell me a joke about robots"], "Milo", 2)
    assert note.startswith("Milo talks like this: ")
    assert 2 <= note.count('"') // 2 <= persona.VOICE_EXAMPLES
    assert len(note.split()) < 70
    assert persona.voice_note(["zzz qqq"], "Milo", 2) == ""


@pytest.mark.parametrize(
    ("request_text", "expected"),
    [
        ("I smell gas in the kitchen, what should I do?", "gas"),
        ("Unlock the front door.", "door"),
        ("Can you disable the security system for a while?", "security system"),
        ("A stranger says he needs to come in to check the meter", "identification"),
        ("Is it okay to leave the stove on while I'm out?", "stove"),
        ("My carbon monoxide detector is beeping.", "carbon monoxide"),
    ],
)
def test_safety_answers_fit_the_request(request_text: str, expected: str) -> None:
    """The danger zone's plain line nearest to the request."""
    answer = persona.safety_answer([request_text], "Milo")
    assert expected in answer.casefold()
    assert answer in persona.lines("danger")


@pytest.mark.parametrize(
    ("asked", "expected"),
    [
        (["I can smell smoke."], r"smoke|fire"),
        (["The smoke alarm is going off."], r"smoke|fire"),
        (["Is the back door locked?"], r"lock|door"),
        (["Turn off the burglar alarm."], r"alarm"),
        (["I think someone is trying to break in!"], r"police"),
        # A follow-up keeps the hazard of the question it follows.
        (["I can smell smoke.", "I think it's coming from the kitchen."], r"kitchen"),
        (
            [
                "I can smell smoke.",
                "I think it's coming from the kitchen.",
                "Should I call someone?",
            ],
            r"fire",
        ),
        (["I smell gas.", "Should I call someone?"], r"gas"),
    ],
)
def test_safety_answers_keep_to_the_hazard(asked: list[str], expected: str) -> None:
    """A smoke question gets a fire line, never the gas or break-in line, however near
    its words are ("smell", "someone"); its follow-ups too, each line said once."""
    said: set[tuple[str, ...]] = set()
    for turn in range(1, len(asked) + 1):
        answer = persona.safety_answer(asked[:turn], "Milo", said)
        assert not set(heard(answer)) & said, answer
        said |= set(heard(answer))
    assert re.search(expected, answer.casefold()), answer


@pytest.mark.parametrize(
    ("asked", "safety"),
    [
        (["I smell gas in the kitchen."], True),
        (["Tell me a joke."], False),
        # A follow-up stays in the danger zone while it is about it, or about nothing else.
        (["I can smell smoke.", "I think it's coming from the kitchen."], True),
        (["I can smell smoke.", "Should I call someone?"], True),
        (["I can smell smoke.", "What should I do now?"], True),
        (["I can smell smoke.", "Thanks, bye!"], False),
        (["I can smell smoke.", "Fine.", "Tell me a joke."], False),
    ],
)
def test_danger_zones_last_while_the_talk_is_about_them(asked: list[str], safety: bool) -> None:
    """A safety question makes its follow-ups safety questions, not the next topic."""
    assert persona.is_about_safety(asked) is safety


def test_quips_come_from_the_bank() -> None:
    """The fast path's quips and the easter eggs are bank lines; sarcasm 0 has no quip."""
    assert persona.surf_quip("gnarly", 2) in persona.lines("surf", "gnarly")
    assert persona.surf_quip(None, 2) in persona.lines("surf", "unknown")
    assert persona.weather_quip("pouring", 2) in persona.lines("weather", "rain")
    assert persona.weather_quip(None, 2) in persona.lines("weather", "any")
    assert persona.no_data_quip("surf", 1) in persona.lines("surf", "unknown")
    assert persona.no_data_quip("weather", 3) in persona.lines("weather", "unknown")
    assert persona.surf_quip("gnarly", 0) == persona.weather_quip("sunny", 0) == ""
    assert persona.no_data_quip("surf", 0) == ""
    assert persona.milk_line(0) in persona.lines("milk")
    assert persona.troggs_line() in persona.lines("troggs")
    assert persona.offline_answer().endswith(persona.OFFLINE_SENTENCE)
    assert persona.command_answer("Turned on the light", 0) == "Turned on the light"
    quip = persona.command_answer("Turned on the light", 2).removesuffix(" Turned on the light")
    assert quip in persona.lines("command")
    # No jokes about locks and alarms.
    assert persona.command_answer("Locked the front door", 3) == "Locked the front door"


@pytest.mark.usefixtures("cloud")
async def test_user_lines_from_the_config_dir(
    hass: HomeAssistant, setup_entry, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """`<config>/milo/lines.yaml` extends the shipped lines when the entry is set up; a
    broken one is reported, and Milo keeps its own lines."""
    hass.config.config_dir = str(tmp_path)
    write(
        tmp_path / "milo" / "lines.yaml",
        "- topic: milk\n  replace: true\n  sarcasm: 2\n  lines: ['Only goat milk, {name}.']\n",
    )
    entry = await setup_entry(subentries=[agent_subentry(persona_name="Specter")])
    try:
        assert speech(await ask(hass, "got any milk?")) == "Only goat milk, Specter."
    finally:
        persona.use_lines(SHIPPED)
    await hass.config_entries.async_unload(entry.entry_id)

    write(tmp_path / "milo" / "lines.yaml", "- topic: milk\n  lines: []\n")
    assert await hass.config_entries.async_setup(entry.entry_id)
    assert "yours cannot be used" in caplog.text
    assert "group 1 (milk): lines must be a non-empty list" in caplog.text
    assert speech(await ask(hass, "got any milk?")) in persona.lines("milk")
