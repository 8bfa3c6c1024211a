"""Fast-path answers: the facts behind a surf or weather question, and how Milo says them.

The embedded model is tiny. Asked to word "the forecast is unavailable" it often drops that
one fact; asked to word a forecast it can drop the rating or make up a wave height. So:
- unavailable data is answered from a template, in character, and no model is asked;
- available data is worded by the model through `keep_facts`, which drops every sentence
  holding a number the facts do not have, and adds a short facts line when the model left
  out the rating or the figures (or the template, when the model said nothing usable);
- a recorded (not live) forecast gets a label sentence before anything else is said.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
import random
import re
from typing import TYPE_CHECKING, Any, TypeVar

from homeassistant.components.conversation import AssistantContentDeltaDict
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError

from . import persona
from .const import LOGGER
from .surf import RATING_ORDER, Rating, describe_day, describe_days, recorded_note
from .weather import async_weather_report, describe_weather, weather_key_numbers

if TYPE_CHECKING:
    from .coordinator import SurfCoordinator

NO_SPOTS = "No surf spots are set up; add one in the Milo integration."
SURF_DOWN = "The surf forecast service is not answering right now. No surf report from me, then."
NO_WEATHER_ENTITY = "No weather entity is set up for me; pick one in my agent settings."
WEATHER_DOWN = "The weather entity is not answering right now. No forecast from me, then."
RECORDED_LABEL = "Heads up: this is a recorded forecast, not a live one."
# Said after an unavailable answer from sarcasm 1 up: attitude, never a guess at the data.
SURF_QUIPS = (
    "I'm not going to make waves up. I have standards. Low ones, but standards.",
    "The ocean has ghosted me.",
    "Go and look at the sea yourself. It's the big wet thing.",
)
WEATHER_QUIPS = (
    "Look out of a window. It's free.",
    "Assume rain. This is the North Coast.",
    "I refuse to guess. Guessing is how weather presenters get famous.",
)
SPOKEN_UNITS = {"m": "metres", "ft": "feet"}
_NUMBER = re.compile(r"(?<![\d.])\d+(?:\.\d+)?")
# A sentence ends at . ! or ? followed by white space (not the dot in "1.2").
_SENTENCE_END = re.compile(r"[.!?]+\s+")
_Delta = TypeVar("_Delta", bound=Mapping[str, Any])
# A sentence sharing this many consecutive words with the prompt is recited, not said.
RECITED_WORDS = 5


@dataclass(frozen=True, slots=True)
class Facts:
    """What a fast-path tool found, and what any answer about it must and must not say."""

    text: str  # the facts, for the model to word
    answer: str  # the whole in-character answer without a model
    # The tool result for HA's chat log (what its debug view shows): the summary only, not
    # the hour-by-hour report.
    data: dict[str, Any]
    available: bool = True
    must_say: tuple[str, ...] = ()  # words every answer contains (the ratings)
    figures: frozenset[str] = frozenset()  # an answer quotes at least one of these numbers
    brief: str = ""  # short facts line, added when the model left something out
    label: str = ""  # said before the model's words (a recorded forecast)
    allowed_numbers: frozenset[str] = frozenset()  # numbers a sentence may quote

    @classmethod
    def unavailable(cls, text: str, sarcasm: int, quips: Sequence[str]) -> Facts:
        """No data: the explanation, plus a quip in character; no model involved."""
        answer = text if sarcasm == 0 else f"{text} {random.choice(quips)}"
        return cls(text=text, answer=answer, data={"error": text}, available=False)

    def complete(self, said: str) -> bool:
        """Whether `said` has every rating and, when there are figures, one of them."""
        lowered = said.casefold()
        if not all(re.search(rf"\b{re.escape(w.casefold())}\b", lowered) for w in self.must_say):
            return False
        return not self.figures or bool(self.figures & _numbers(said))

    def invents_numbers(self, sentence: str) -> bool:
        """Whether a sentence quotes a number that is not in the facts."""
        return not _numbers(sentence) <= self.allowed_numbers


async def async_surf_facts(
    coordinator: SurfCoordinator | None, spot: str | None, day: str, sarcasm: int
) -> Facts:
    """Surf facts for a spot (None: all spots) from the hourly cache."""
    if coordinator is None or not coordinator.spots:
        return Facts.unavailable(NO_SPOTS, sarcasm, SURF_QUIPS)
    try:
        reports = await coordinator.async_reports(spot, day)
    except HomeAssistantError as err:
        LOGGER.warning("Surf forecast failed: %s", err)
        return Facts.unavailable(SURF_DOWN, sarcasm, SURF_QUIPS)
    text = " ".join(describe_day(report) for report in reports)
    ratings = [Rating(r["rating"]) for r in reports if r["rating"]]
    best = max(ratings, key=RATING_ORDER.__getitem__) if ratings else None
    label = RECORDED_LABEL if recorded_note(reports) else ""
    answer = persona.surf_template(text, best, sarcasm)
    return Facts(
        text=text,
        answer=f"{label} {answer}".strip(),
        data={"summary": describe_days(reports)},
        must_say=tuple(dict.fromkeys(str(r) for r in ratings)),
        figures=frozenset(_num(h["wave_height"]) for r in reports for h in r["key_times"]),
        brief=" ".join(_surf_brief(report) for report in reports),
        label=label,
        allowed_numbers=_numbers(text),
    )


async def async_weather_facts(
    hass: HomeAssistant, entity_id: str | None, day: str, sarcasm: int
) -> Facts:
    """Weather facts from the agent's weather entity."""
    if not entity_id:
        return Facts.unavailable(NO_WEATHER_ENTITY, sarcasm, WEATHER_QUIPS)
    try:
        report = await async_weather_report(hass, entity_id, day)
    except HomeAssistantError as err:
        LOGGER.warning("Weather lookup failed: %s", err)
        return Facts.unavailable(WEATHER_DOWN, sarcasm, WEATHER_QUIPS)
    text = describe_weather(report)
    return Facts(
        text=text,
        answer=persona.weather_template(text, sarcasm),
        data={"summary": text},
        figures=frozenset(weather_key_numbers(report)),
        brief=text,
        allowed_numbers=_numbers(text),
    )


async def keep_facts(
    deltas: AsyncIterator[_Delta], facts: Facts, prompt: str = "", question: str = ""
) -> AsyncGenerator[_Delta | AssistantContentDeltaDict]:
    """Pass the model's wording on sentence by sentence, keeping it to the facts.

    Tiny models like to drop the one thing that was asked ("A surf at East Strand today!"),
    to invent one ("Six foot and glassy!"), to recite their instructions (`prompt`: "You
    are Milo, a desk robot...") or to parrot the `question`. Whole sentences are held back
    until they end, so such a sentence is never spoken; streaming TTS still starts at the
    first good sentence.
    """
    kept: list[str] = []
    buffer = ""
    recited = _word_runs(_words(prompt))
    asked = _words(question)

    def accept(sentence: str) -> list[AssistantContentDeltaDict]:
        if not sentence.strip():
            return []
        if facts.invents_numbers(sentence):
            LOGGER.debug("Dropped a sentence with numbers not in the facts: %r", sentence)
            return []
        words = _words(sentence)
        if recited & _word_runs(words) or (asked and words == asked):
            LOGGER.debug("Dropped a sentence that recites the prompt or question: %r", sentence)
            return []
        out: list[AssistantContentDeltaDict] = []
        if not kept and facts.label:
            out.append({"content": f"{facts.label} "})
        kept.append(sentence)
        out.append({"content": sentence})
        return out

    async for delta in deltas:
        content = delta.get("content")
        if not content:
            yield delta
            continue
        buffer += str(content)
        *sentences, buffer = _split_sentences(buffer)
        for sentence in sentences:
            for part in accept(sentence):
                yield part
    for part in accept(buffer):
        yield part

    said = "".join(kept)
    if not said.strip():
        yield {"content": facts.answer}
    elif not facts.complete(said):
        stop = "" if said.rstrip().endswith((".", "!", "?")) else "."
        yield {"content": f"{stop} {facts.brief}"}


def _words(text: str) -> list[str]:
    """The words of a text, case and punctuation ignored."""
    return re.findall(r"[\w'°%]+", text.casefold())


def _word_runs(words: list[str]) -> set[tuple[str, ...]]:
    """Every run of `RECITED_WORDS` consecutive words."""
    return {tuple(words[i : i + RECITED_WORDS]) for i in range(len(words) - RECITED_WORDS + 1)}


def _split_sentences(text: str) -> list[str]:
    """Complete sentences (with their trailing space), then the unfinished rest."""
    parts: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        parts.append(text[start : match.end()])
        start = match.end()
    parts.append(text[start:])
    return parts


def _surf_brief(report: Mapping[str, Any]) -> str:
    """One short spoken line per spot: the rating and the wave heights of the key times."""
    if report["rating"] is None:
        return describe_day(report)
    heights = sorted({h["wave_height"] for h in report["key_times"]})
    unit = report["key_times"][0]["wave_height_unit"]
    spread = _num(heights[0]) if len(heights) == 1 else f"{_num(heights[0])} to {_num(heights[-1])}"
    return (
        f"{report['spot']} {report['day']}: {report['rating']}, "
        f"waves {spread} {SPOKEN_UNITS.get(unit, unit)}."
    )


def _numbers(text: str) -> frozenset[str]:
    """The numbers in a text, normalised ("10.50" and "10.5" are the same)."""
    return frozenset(_num(float(n)) for n in _NUMBER.findall(text))


def _num(value: float) -> str:
    return f"{value:g}"
