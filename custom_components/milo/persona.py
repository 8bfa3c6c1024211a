"""Milo's voice: the system prompt, and its lines (the line bank, line_bank.py).

Milo is a sarcastic but friendly desk robot from Portrush with a surfer's vocabulary.
The prompt stays short because the embedded model is tiny; the bank's lines give it the
voice as examples, stand in when its answer is unusable, and are the easter eggs and
fast-path quips.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path
import re
from typing import Any, Literal

from . import line_bank
from .const import DEFAULT_NAME, DEFAULT_SARCASM
from .guards import hazard, is_danger_zone
from .line_bank import CONVERSATIONAL, LineBank
from .sentences import heard

SARCASM_STYLES = (
    "Be warm and plain; no sarcasm.",
    "Be friendly with a light, dry wit.",
    "Be sarcastic but friendly: tease a little, then help properly.",
    "Be gloriously sarcastic and theatrical, but never mean, and always help.",
)

OFFLINE_SENTENCE = "My brain is offline right now, so you get the short version."
# Where the user extends or overrides the shipped lines, under HA's config dir.
USER_LINES = Path("milo", "lines.yaml")
# Lines shown to the model as examples of the voice: enough to set the tone, few enough
# to cost little prompt reading. Each is about 20 tokens, read with every small-talk
# question (bench/lines: three added 0.2 s to the first token on a 2-core VM).
VOICE_EXAMPLES = 2
# Words that ask for a joke without saying what about: "Tell me a joke." may have any,
# "a joke about the fridge" one about the fridge (`bank_answer`).
_ASKING = re.compile(
    r"\b(jokes?|funny|funnier|puns?|riddles?|laugh|humou?r|one-liners?|best)\b", re.IGNORECASE
)
# A hello is answered with a hello and a goodbye with a goodbye, whatever words they use
# (the greeting lines also answer "how are you?"); a goodnight only to a "goodnight" ("Thanks,
# bye!" at noon got "Night! Sleep tight.").
_SAYS_BACK = {"greeting": "hello hi hiya hey", "goodbye": "bye goodbye see"}
# Home Assistant's weather conditions and the bank's tag for each.
WEATHER_TAGS = {
    "rainy": "rain",
    "pouring": "rain",
    "lightning": "storm",
    "lightning-rainy": "storm",
    "snowy": "snow",
    "snowy-rainy": "snow",
    "hail": "snow",
    "sunny": "sunny",
    "partlycloudy": "cloudy",
    "cloudy": "cloudy",
    "fog": "fog",
    "windy": "windy",
    "windy-variant": "windy",
    "clear-night": "clear",
}

# The shipped lines, read when the integration is imported (Home Assistant imports it in
# an executor, so the event loop never waits on the file); `use_lines` swaps in the bank
# with the user's lines when an entry is set up.
_bank: LineBank = line_bank.load([line_bank.SHIPPED])


def load_lines(config_dir: Path) -> LineBank:
    """The shipped lines plus the user's `<config>/milo/lines.yaml`, if there is one.

    Blocking (reads files): run it in an executor. Raises LineBankError naming the
    file and entry at fault.
    """
    user = config_dir / USER_LINES
    return line_bank.load([line_bank.SHIPPED, user] if user.is_file() else [line_bank.SHIPPED])


def use_lines(bank: LineBank) -> None:
    """Speak from this bank from now on."""
    global _bank  # noqa: PLW0603 - one bank per Home Assistant, like its config dir
    _bank = bank


def lines(topic: str, tag: str | None = None) -> tuple[str, ...]:
    """Every line of a topic (and tag) as the default persona says it."""
    return tuple(line_bank.fill(text, name=DEFAULT_NAME) for text in _bank.texts(topic, tag))


LOOP_LIMIT_LINE = "I went round in circles with my tools and got dizzy. Try asking me more simply."


def system_prompt(persona_name: str, sarcasm: int, extra_instructions: str) -> str:
    """The persona part of the system prompt (HA adds its own API and time parts)."""
    style = SARCASM_STYLES[max(0, min(sarcasm, len(SARCASM_STYLES) - 1))]
    prompt = (
        f"You are {persona_name}, a small desk robot with a camera and a moving head, "
        "living in a smart home near Portrush on the North Coast. "
        f"{style} Answer in one to three short spoken sentences, plain text, no lists "
        "or markdown. Never invent facts: use your tools for the home, surf and weather."
    )
    if extra_instructions.strip():
        prompt += "\n" + extra_instructions.strip()
    return prompt


def remark_prompt(persona_name: str, sarcasm: int) -> str:
    """System prompt for the one remark Milo adds after saying fetched facts."""
    style = SARCASM_STYLES[max(0, min(sarcasm, len(SARCASM_STYLES) - 1))]
    return (
        f"You are {persona_name}, a desk robot. {style} You have just told the user the "
        "facts below. Add one short spoken remark about them, in character. Use no "
        "numbers and do not repeat the facts."
    )


def buddy_prompt(person: str) -> str:
    """What the camera says about who is talking, for the system prompt."""
    if not person:
        return ""
    if person == "stranger":
        return "Your camera sees someone you don't recognise: be polite, a bit guarded."
    return f"Your camera recognises your buddy {person}: you are talking to {person}."


def surf_quip(
    rating: str | None,
    sarcasm: int,
    avoid: Collection[tuple[str, ...]] = (),
    max_words: int | None = None,
) -> str:
    """Milo's attitude about a surf rating, when the model has none to add: none said
    lately (`avoid`), and short enough to follow the facts (`max_words`; "" if none is)."""
    if sarcasm == 0:
        return ""
    return _bank.pick(
        "surf", rating or "unknown", sarcasm=sarcasm, avoid=avoid, max_words=max_words
    )


def weather_quip(
    condition: str | None,
    sarcasm: int,
    avoid: Collection[tuple[str, ...]] = (),
    max_words: int | None = None,
) -> str:
    """Milo's attitude about the weather's condition, when the model has none to add
    (`avoid` and `max_words` as for `surf_quip`).

    Each condition's lines must agree with it (agreement.py; tests/ha/test_agreement.py).
    """
    if sarcasm == 0:
        return ""
    tag = WEATHER_TAGS.get(condition or "", "any")
    return _bank.pick("weather", tag, sarcasm=sarcasm, avoid=avoid, max_words=max_words)


def no_data_quip(kind: Literal["surf", "weather"], sarcasm: int) -> str:
    """Attitude after saying there is no surf or weather data, never a guess at it."""
    return "" if sarcasm == 0 else _bank.pick(kind, "unknown", sarcasm=sarcasm)


def command_answer(speech: str, sarcasm: int) -> str:
    """Home Assistant's confirmation of a device command, with a little attitude.

    Never about locks or alarms: no jokes in the persona's danger zones.
    """
    if sarcasm < 2 or is_danger_zone(speech):
        return speech
    return f"{_bank.pick('command', sarcasm=sarcasm)} {speech}"


def milk_line(sarcasm: int = DEFAULT_SARCASM, persona_name: str = DEFAULT_NAME) -> str:
    """One of Milo's milk obsessions."""
    return _bank.pick("milk", sarcasm=sarcasm, name=persona_name)


def troggs_line(sarcasm: int = DEFAULT_SARCASM, persona_name: str = DEFAULT_NAME) -> str:
    """One of Milo's Troggs loyalties."""
    return _bank.pick("troggs", sarcasm=sarcasm, name=persona_name)


def buddy_greeting(person: str, sarcasm: int, persona_name: str = DEFAULT_NAME) -> str:
    """Hello to a buddy the camera sees arriving, by name (greeting.py)."""
    return _bank.pick("buddy_greeting", sarcasm=sarcasm, name=persona_name, person=person)


def trick_line(
    topic: Literal["dance", "beat", "disco", "no_dance"],
    sarcasm: int = DEFAULT_SARCASM,
    persona_name: str = DEFAULT_NAME,
) -> str:
    """Milo's line for one of its tricks (tricks.py), or for a show it cannot put on."""
    return _bank.pick(topic, sarcasm=sarcasm, name=persona_name)


def offline_answer(sarcasm: int = DEFAULT_SARCASM) -> str:
    """An answer while the model is unreachable, with the one sentence that says so."""
    return f"{_bank.pick('offline', sarcasm=sarcasm)} {OFFLINE_SENTENCE}"


def too_slow_answer(
    sarcasm: int, persona_name: str, avoid: Collection[tuple[str, ...]] = ()
) -> str:
    """Said when the model has not started an answer within the agent's time budget."""
    return _bank.pick("too_slow", sarcasm=sarcasm, avoid=avoid, name=persona_name)


def identity_answer(
    asked: Sequence[str],
    persona_name: str,
    sarcasm: int,
    avoid: Collection[tuple[str, ...]] = (),
) -> str:
    """Who Milo is, from the bank: a tiny model asked its name answers Lara or Alex. The
    line nearest to the question ("who built you?", "are you a robot?"), else any."""
    return _nearest_or_any(asked, "identity", sarcasm=sarcasm, avoid=avoid, name=persona_name)


def is_line(topic: str, text: str, persona_name: str) -> bool:
    """Whether `text` is one of the topic's lines, as this persona says it."""
    return any(
        line_bank.fill(line, name=persona_name) == text.strip() for line in _bank.texts(topic)
    )


def bank_answer(
    topic: Literal["joke", "comeback", "greeting", "goodbye"],
    asked: Sequence[str],
    persona_name: str,
    sarcasm: int,
    avoid: Collection[tuple[str, ...]] = (),
) -> str:
    """A joke asked for, a comeback to an insult, a hello or a goodbye, from the bank: near
    the newest question (and less, the one before: "Another one!"), none said in `avoid`.
    The tiny model's own jokes were "That's a joke." six times in a row, it met "You're
    useless" with "You'll be my friend next time" and "Good morning!" with "YAY!"."""
    return _bank.choose(
        f"{_ASKING.sub(' ', asked[-1]) if asked else ''} {_SAYS_BACK.get(topic, '')}",
        topic,
        before=_ASKING.sub(" ", asked[-2]) if len(asked) > 1 else "",
        sarcasm=sarcasm,
        avoid=avoid,
        name=persona_name,
        asked=asked[-1] if asked else "",
    )


def sight_answer(
    camera_on: bool | None,
    person: str,
    sarcasm: int,
    persona_name: str,
    avoid: Collection[tuple[str, ...]] = (),
) -> str:
    """ "Can you see me?" answered from what the camera says (`person`: a buddy's name,
    "stranger" or "" for nobody), or that it is off, or (`camera_on` None: a text chat, a
    satellite with no head) that there is no camera to see with. The tiny model answered
    "I'll take your word for it." and talked about the other side of the world."""
    if camera_on is None:
        tag = "no_camera"
    elif not camera_on:
        tag = "camera_off"
    elif not person:
        tag = "nobody"
    elif person == "stranger":
        tag = "stranger"
    else:
        tag = "buddy"
    return _bank.pick("sight", tag, sarcasm=sarcasm, avoid=avoid, name=persona_name, person=person)


def own_answer(
    topic: Literal["bored", "favourite", "favourite_why", "be_friends"],
    subject: str | None,
    sarcasm: int,
    persona_name: str,
    avoid: Collection[tuple[str, ...]] = (),
) -> str:
    """Something to do when the user is bored (the surf, a joke, a trick), a favourite of
    the persona's by subject or the reason for it, or friendship: the bank's, so Milo's
    band is the same every time and the tiny model's "I'm a cow that swoops around" is not
    said."""
    return _bank.pick(topic, subject, sarcasm=sarcasm, avoid=avoid, name=persona_name)


def favourite_said(text: str, persona_name: str) -> str | None:
    """The subject of the favourite (or its reason) that `text` is, for "Why them?"."""
    return next(
        (
            line.tag
            for line in _bank.lines
            if line.topic in ("favourite", "favourite_why")
            and line_bank.fill(line.text, name=persona_name) == text.strip()
        ),
        None,
    )


def is_about_safety(asked: Sequence[str]) -> bool:
    """Whether the newest question is in a danger zone: it names one, or it follows a
    question that did and is nearer to the bank's safety lines than to any other, or to
    none ("I can smell smoke." "I think it's coming from the kitchen."; not "Thanks,
    bye!")."""
    if not asked:
        return False
    if is_danger_zone(asked[-1]):
        return True
    return any(map(is_danger_zone, asked[:-1])) and _bank.closest_topic(asked[-1]) in {
        "danger",
        None,  # "What should I do now?"
    }


def safety_answer(
    asked: Sequence[str], persona_name: str, avoid: Collection[tuple[str, ...]] = ()
) -> str:
    """A plain answer in the persona's danger zones (safety, locks, alarms): of the bank's
    lines about the hazard of the latest question that names one (`asked`, the newest
    last), the nearest to them; when none is left unsaid, a general safety line. The tiny
    model answered "I smell gas" with "You're right, you've got it exactly right", so it
    is not asked."""
    about = next(filter(None, map(hazard, reversed(asked))), None)
    said = set(avoid)
    if about is not None and any(
        not said & set(heard(line_bank.fill(text, name=persona_name)))
        for text in _bank.texts("danger", about)
    ):
        return _nearest_or_any(asked, "danger", sarcasm=0, avoid=said, name=persona_name, tag=about)
    return _nearest_or_any(asked, "danger", sarcasm=0, avoid=said, name=persona_name, tag="general")


def fallback_line(
    asked: Sequence[str],
    persona_name: str,
    sarcasm: int,
    avoid: Collection[tuple[str, ...]] = (),
) -> str:
    """Said when the model's answer is empty or all of it was dropped: the bank's line
    nearest to the latest questions, else a general fallback."""
    return _nearest_or_any(
        asked, "fallback", CONVERSATIONAL, sarcasm=sarcasm, avoid=avoid, name=persona_name
    )


def voice_note(
    asked: Sequence[str],
    persona_name: str,
    sarcasm: int,
    avoid: Collection[tuple[str, ...]] = (),
) -> str:
    """The bank's lines nearest to the latest questions, as examples for the model.

    They go in the note before the question, not in the system prompt, which must stay
    the same for every request (a server caches its prefix). Lines said lately are left
    out: the model copies what it is shown.
    """
    examples = _near(asked, sarcasm=sarcasm, count=VOICE_EXAMPLES, avoid=avoid, name=persona_name)
    if not examples:
        return ""
    quoted = " ".join(f'"{line}"' for line in examples)
    return f"{persona_name} talks like this: {quoted}"


def _nearest_or_any(
    asked: Sequence[str],
    topic: str,
    topics: Collection[str] = (),
    *,
    sarcasm: int,
    avoid: Collection[tuple[str, ...]],
    name: str,
    tag: str | None = None,
) -> str:
    """The line of `topics` (default: `topic`; with this tag, if any) nearest to the
    latest questions, else any line of `topic` and tag."""
    nearest = _near(
        asked, sarcasm=sarcasm, count=1, topics=topics or {topic}, tag=tag, avoid=avoid, name=name
    )
    if nearest:
        return nearest[0]
    return _bank.pick(
        topic, tag, sarcasm=sarcasm, avoid=avoid, name=name, request=asked[-1] if asked else ""
    )


def _near(asked: Sequence[str], **kwargs: Any) -> list[str]:
    """The bank's lines nearest to the newest question, and less to the one before."""
    before = asked[-2] if len(asked) > 1 else ""
    return _bank.nearest(asked[-1] if asked else "", before=before, **kwargs)
