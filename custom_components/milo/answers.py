"""Fast-path answers: the facts behind a surf or weather question, and how Milo says them.

The facts come first, as a short line Milo says at once: Home Assistant starts speaking a
streamed answer from its first 60 characters, so the answer's audio starts without
waiting for the model. The model then adds one remark in character (`keep_remark`), and
never gets to say a number: the embedded model is tiny, and asked to word a forecast it
drops the rating or makes up a wave height. So:
- unavailable data is answered from a template, in character, and no model is asked;
- available data is said as the facts line (a recorded, not live, forecast labelled
  first), then the model's remark, or the template's quip when the model has none.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping, Sequence
from dataclasses import dataclass
import random
import re
from typing import TYPE_CHECKING, Any

from homeassistant.components.conversation import AssistantContentDeltaDict
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError

from . import persona
from .const import LOGGER
from .spoken import number
from .surf import RATING_ORDER, Rating, describe_day, describe_days, recorded_note
from .weather import async_weather_report, describe_weather

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
_NUMBER = re.compile(r"\d")
# A sentence ends at . ! or ? followed by white space (not the dot in "1.2").
_SENTENCE_END = re.compile(r"[.!?]+\s+")
# A sentence sharing this many consecutive words with the prompt is recited, not said.
RECITED_WORDS = 5
# A remark is attitude, not a second report.
MAX_REMARK_SENTENCES = 2


@dataclass(frozen=True, slots=True)
class Facts:
    """What a fast-path tool found, said as one line before any model is asked."""

    line: str  # said first: the recorded label if any, then the facts in brief
    # The tool result for HA's chat log (what its debug view shows): the summary only, not
    # the hour-by-hour report.
    data: dict[str, Any]
    quip: str = ""  # the template's attitude, said when the model has no remark
    available: bool = True
    # Words a remark must not use: the surf ratings the facts do not have.
    contradictions: frozenset[str] = frozenset()

    @property
    def answer(self) -> str:
        """The whole answer without a model."""
        return f"{self.said}{self.quip}".strip()

    @property
    def said(self) -> str:
        """The facts line as streamed. The trailing space tells a streaming TTS that its
        last sentence is complete, so its audio starts before the model's remark comes."""
        return f"{self.line} "

    @classmethod
    def unavailable(cls, text: str, sarcasm: int, quips: Sequence[str]) -> Facts:
        """No data: the explanation, plus a quip in character; no model involved."""
        quip = random.choice(quips) if sarcasm else ""
        return cls(line=text, data={"error": text}, quip=quip, available=False)


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
    ratings = {Rating(r["rating"]) for r in reports if r["rating"]}
    best = max(ratings, key=RATING_ORDER.__getitem__) if ratings else None
    label = RECORDED_LABEL if recorded_note(reports) else ""
    brief = " ".join(_surf_brief(report) for report in reports)
    return Facts(
        line=f"{label} {brief}".strip(),
        data={"summary": describe_days(reports)},
        quip=persona.surf_quip(best, sarcasm),
        contradictions=frozenset(str(r) for r in Rating if r not in ratings),
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
    return Facts(line=text, data={"summary": text}, quip=persona.weather_quip(sarcasm))


async def keep_remark(
    deltas: AsyncGenerator[Mapping[str, Any]], facts: Facts, prompt: str, question: str
) -> AsyncGenerator[AssistantContentDeltaDict]:
    """The model's remark after the facts line, sentence by sentence, kept to attitude.

    Tiny models like to repeat the facts with a figure changed ("Six foot and glassy!"),
    to contradict the rating, to recite their instructions (`prompt`: "You are Milo, a
    desk robot...") or to parrot the `question`. Whole sentences are held back until they
    end, so such a sentence is never spoken; a sentence with a number is always dropped,
    since the facts line said every number there is to say. Only content passes: the
    remark continues the facts line's message, which ends in a space (see `Facts.said`).
    """
    recited = _word_runs(_words(prompt)) | _word_runs(_words(facts.line))
    asked = _words(question)
    kept = 0

    def keep(sentence: str) -> bool:
        words = _words(sentence)
        if not words:
            return False
        if _NUMBER.search(sentence) or facts.contradictions & set(words):
            LOGGER.debug("Dropped a remark that restates the facts: %r", sentence)
            return False
        if recited & _word_runs(words) or words == asked:
            LOGGER.debug("Dropped a remark that recites the prompt or question: %r", sentence)
            return False
        return True

    buffer = ""
    try:
        async for delta in deltas:
            if not (content := delta.get("content")):
                continue
            *sentences, buffer = _split_sentences(buffer + str(content))
            for sentence in filter(keep, sentences):
                yield {"content": f"{' ' if kept else ''}{sentence.strip()}"}
                kept += 1
                if kept == MAX_REMARK_SENTENCES:
                    return  # the rest is not said, so the model need not write it
        if keep(buffer):
            yield {"content": f"{' ' if kept else ''}{buffer.strip()}"}
            kept += 1
    finally:
        await deltas.aclose()  # stops the model's stream when the remark is long enough
    if not kept:
        yield {"content": facts.quip}


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
    spread = number(heights[0])
    if len(heights) > 1:
        spread += f" to {number(heights[-1])}"
    return (
        f"{report['spot']} {report['day']}: {report['rating']}, "
        f"waves {spread} {SPOKEN_UNITS.get(unit, unit)}."
    )
