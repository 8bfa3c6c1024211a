"""Fast-path answers: the facts behind a surf or weather question, and how Milo says them.

The facts come first, as a short line Milo says at once: Home Assistant starts speaking a
streamed answer from its first 60 characters, so the answer's audio starts without
waiting for the model. The model then adds one remark in character (`keep_remark`), and
never gets to say a number: the embedded model is tiny, and asked to word a forecast it
drops the rating or makes up a wave height. So:
- unavailable data is answered from a template, in character, and no model is asked;
- available data is said as the facts line (a recorded, not live, forecast labelled
  first), then the model's remark if it agrees with the facts (agreement.py), else a
  line written for the rating or the weather (persona's quips).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from homeassistant.components.conversation import AssistantContentDeltaDict
from homeassistant.const import UnitOfLength, UnitOfSpeed, UnitOfTemperature
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.util.unit_conversion import (
    DistanceConverter,
    SpeedConverter,
    TemperatureConverter,
)

from . import persona
from .agreement import RemarkCheck, Truths, surf_truths, weather_truths
from .const import DEFAULT_NAME, LOGGER
from .guards import MAX_WORDS, AnswerGuard
from .notes_search import async_search_notes, has_notes
from .sentences import REPEATED_WORDS, split_sentences, word_runs, words
from .spoken import number
from .surf import RATING_ORDER, Rating, clock, describe_day, describe_days, recorded_note
from .weather_report import async_weather_report, describe_weather, main_condition, recap_weather

# Sentences said lately, each as its words (`sentences.heard`).
Said = Collection[tuple[str, ...]]

if TYPE_CHECKING:
    from .coordinator import SurfCoordinator

NO_SPOTS = "No surf spots are set up; add one in the Milo integration."
SURF_DOWN = "The surf forecast service is not answering right now. No surf report from me, then."
NO_WEATHER_ENTITY = (
    "There is no weather entity in this home; add a forecast, such as Met.no, to Home Assistant."
)
WEATHER_DOWN = "The weather entity is not answering right now. No forecast from me, then."
NO_NOTES = (
    "You have no notes yet: put text or markdown files in the milo_notes folder of Home "
    "Assistant's configuration."
)
NOTHING_NOTED = "Nothing in your notes about {topic}."
FROM_NOTES = "From your notes: {text} That's in {source}."
RECORDED_LABEL = "Recorded forecast, not live."
SPOKEN_UNITS = {"m": "metres", "ft": "feet"}
# A remark is attitude, not a second report.
MAX_REMARK_SENTENCES = 2
# Spots said in full (the best first); the others by name, rating and best time only, so
# the facts leave room for a remark within the answer's forty words (guards.MAX_WORDS).
SPOTS_IN_FULL = 1
# Waves and wind said for another spot in the latest turns are not said again.
SAME_CONDITIONS = "same conditions"


@dataclass(frozen=True, slots=True)
class Facts:
    """What a fast-path tool found, said as one line before any model is asked."""

    line: str  # said first: the recorded label if any, then the facts in brief
    # The tool result for HA's chat log (what its debug view shows): the full detail.
    data: dict[str, Any]
    quip: str = ""  # the line for this rating or weather, said when the model has none
    available: bool = True
    # What a remark may claim (agreement.py).
    truths: Truths = field(default_factory=lambda: Truths(claims={}))

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
    def unavailable(cls, text: str, quip: str) -> Facts:
        """No data: the explanation, plus a quip in character; no model involved."""
        return cls(line=text, data={"error": text}, quip=quip, available=False)


async def async_surf_facts(
    coordinator: SurfCoordinator | None, spot: str | None, day: str, sarcasm: int, said: Said = ()
) -> Facts:
    """Surf facts for a spot (None: all spots) from the hourly cache."""
    if coordinator is None or not coordinator.spots:
        return Facts.unavailable(NO_SPOTS, persona.no_data_quip("surf", sarcasm))
    try:
        reports = await coordinator.async_reports(spot, day)
    except HomeAssistantError as err:
        LOGGER.warning("Surf forecast failed: %s", err)
        return Facts.unavailable(SURF_DOWN, persona.no_data_quip("surf", sarcasm))
    return surf_facts(reports, sarcasm, said)


def surf_facts(reports: Sequence[Mapping[str, Any]], sarcasm: int, said: Said = ()) -> Facts:
    """The facts line and quip for surf reports already fetched; nothing `said` in the
    latest turns is said again (the recorded label, waves said for another spot)."""
    ratings = {Rating(r["rating"]) for r in reports if r["rating"]}
    best = max(ratings, key=RATING_ORDER.__getitem__) if ratings else None
    labelled = recorded_note(reports) and tuple(words(RECORDED_LABEL)) not in said
    line = f"{RECORDED_LABEL if labelled else ''} {surf_brief(reports, said)}".strip()
    return Facts(
        line=line,
        data={"summary": describe_days(reports)},
        quip=persona.surf_quip(best, sarcasm, said, max_words=_room(line)),
        truths=_surf_truths(reports),
    )


async def async_weather_facts(
    hass: HomeAssistant, entity_id: str | None, day: str, sarcasm: int, said: Said = ()
) -> Facts:
    """Weather facts from the agent's weather entity (or the home's forecast)."""
    if not entity_id:
        return Facts.unavailable(NO_WEATHER_ENTITY, persona.no_data_quip("weather", sarcasm))
    try:
        report = await async_weather_report(hass, entity_id, day)
    except HomeAssistantError as err:
        LOGGER.warning("Weather lookup failed: %s", err)
        return Facts.unavailable(WEATHER_DOWN, persona.no_data_quip("weather", sarcasm))
    return weather_facts(report, sarcasm, said)


def weather_facts(report: Mapping[str, Any], sarcasm: int, said: Said = ()) -> Facts:
    """The facts line and quip for a weather report already fetched; a report `said` in
    the latest turns is said again as its gist ("Will I need a coat?")."""
    text = describe_weather(report)
    line = recap_weather(report) if _repeats(text, said) else text
    return Facts(
        line=line,
        data={"summary": text, "weather": report},
        quip=persona.weather_quip(main_condition(report), sarcasm, said, max_words=_room(line)),
        truths=_weather_truths(report),
    )


async def async_notes_facts(hass: HomeAssistant, topic: str) -> Facts:
    """The passage of the user's notes nearest to `topic`, said with where it is from."""
    hits = await async_search_notes(hass, topic)
    data = {"results": [hit.as_dict() for hit in hits]}
    if not hits:
        line = NOTHING_NOTED.format(topic=topic) if has_notes(hass) else NO_NOTES
        return Facts(line=line, data=data)
    return Facts(line=FROM_NOTES.format(text=hits[0].text, source=hits[0].source), data=data)


async def keep_remark(
    deltas: AsyncGenerator[Mapping[str, Any]],
    facts: Facts,
    prompt: str,
    question: str,
    *,
    persona_name: str = DEFAULT_NAME,
    situation: str = "",
    said_before: Said = (),
) -> AsyncGenerator[AssistantContentDeltaDict]:
    """The model's remark after the facts line, sentence by sentence, if it agrees.

    Tiny models like to repeat the facts with a figure changed ("Six foot and glassy!"),
    to contradict the forecast ("light rain" at 20 %), to recite their instructions
    (`prompt`) or to parrot the `question`, and they swear or stop mid-phrase like in any
    answer. Whole sentences are held back until they end, pass the guards of every answer
    (`AnswerGuard`) and are checked against the facts (`RemarkCheck`), so such a sentence
    is never spoken, and the remark stops at the first one: what follows a wrong claim is
    not trusted either. Nor is a sentence `said_before` (in the latest turns), or one that
    takes the answer past its forty words. Nothing said: the facts' own quip. Only content
    passes: the remark continues the facts line's message, which ends in a space (see
    `Facts.said`).
    """
    guard = AnswerGuard(persona_name, said_before=said_before, prompt=prompt, question=question)
    room = _room(facts.line)
    check = RemarkCheck(facts.truths, facts.line, prompt, question, (persona_name, situation))
    heard: list[str] = []
    sentences = _sentences(deltas, heard)
    kept = 0
    try:
        async for piece, last in sentences:
            said = (guard.feed(piece) + (guard.finish() if last else "")).strip()
            # The guard is done when another speaker's line starts: a script, not a remark.
            unfit = not said or guard.done
            fault = "what no answer may say (guards.py)" if unfit else check.fault(said)
            if fault is None and not check.about_the_forecast(said):
                fault = "nothing about the sea or the sky"
            room -= len(words(said))
            if fault is None and room < 0:
                fault = "more than the answer has room for"
            if fault is not None:
                LOGGER.debug("Dropped a remark with %s: %r", fault, piece)
                break
            yield {"content": f"{' ' if kept else ''}{said}"}
            kept += 1
            if kept == MAX_REMARK_SENTENCES:
                break  # the rest is not said, so the model need not write it
    finally:
        await sentences.aclose()
        await deltas.aclose()  # stops the model's stream when the remark is done
    if not kept:
        if not "".join(heard).strip():
            LOGGER.warning("The model had no remark to add to %r", facts.line)
        if facts.quip:
            yield {"content": facts.quip}


async def _sentences(
    deltas: AsyncGenerator[Mapping[str, Any]], heard: list[str]
) -> AsyncGenerator[tuple[str, bool]]:
    """The streamed text's sentences as each one ends, then the unfinished rest (marked
    True); every piece of text is also added to `heard`."""
    buffer = ""
    async for delta in deltas:
        if content := delta.get("content"):
            heard.append(str(content))
            *complete, buffer = split_sentences(buffer + str(content))
            for sentence in complete:
                if sentence.strip():
                    yield sentence, False
    if buffer.strip():
        yield buffer, True


def surf_brief(reports: Sequence[Mapping[str, Any]], said: Said = ()) -> str:
    """The spots' surf in at most two spoken sentences, best spot first when many."""
    if len(reports) <= SPOTS_IN_FULL:
        return " ".join(_spot_brief(report, said) for report in reports)
    ranked = sorted(reports, key=lambda r: -RATING_ORDER.get(r["rating"], -1))
    others = ", ".join(f"{r['spot']} {_rating_brief(r)}" for r in ranked[1:])
    return f"{_spot_brief(ranked[0], said)} Also: {others}."


def _rating_brief(report: Mapping[str, Any]) -> str:
    """'mid at 6pm', 'gnarly all day', 'trash': the rating and when it is best."""
    rating = report["rating"]
    if rating is None:
        return "no forecast"
    if rating == Rating.TRASH:
        return str(rating)
    times = report["key_times"]
    best = [t for t in times if t["rating"] == rating]
    if len(best) == len(times) > 1:
        return f"{rating} all day"
    return f"{rating} at {' and '.join(clock(t['time']) for t in best)}"


def _spot_brief(report: Mapping[str, Any], said: Said = ()) -> str:
    """One spot in one sentence: rating and best time, waves, period, wind (or "same
    conditions" when they were `said` lately), and the next good session when the day is
    trash."""
    if report["rating"] is None:
        return describe_day(report)
    times = report["key_times"]
    rating = report["rating"]
    text = f"{report['spot']} {report['day']}: {_rating_brief(report)}"
    if rating != Rating.TRASH:
        times = [t for t in times if t["rating"] == rating]
    unit = times[0]["wave_height_unit"]
    conditions = (
        f"waves {_spread(t['wave_height'] for t in report['key_times'])} "
        f"{SPOKEN_UNITS.get(unit, unit)}, "
        f"{_spread(t['wave_period_s'] for t in times)} second period, "
        f"{' then '.join(dict.fromkeys(t['wind'] for t in times))} wind"
    )
    text += f", {SAME_CONDITIONS if _repeats(conditions, said) else conditions}"
    if rating == Rating.TRASH and (session := report.get("next_good_session")):
        text += f"; next {session['rating']} session {_when(session['time'], report)}"
    return text + "."


def _spread(values: Any) -> str:
    """'0.8 to 1.2', or one figure when they are all the same."""
    ordered = sorted(set(values))
    if len(ordered) == 1:
        return number(ordered[0])
    return f"{number(ordered[0])} to {number(ordered[-1])}"


def _when(iso: str, report: Mapping[str, Any]) -> str:
    """'today at 6pm', 'tomorrow at 6am': relative to when the question was asked."""
    asked = date.fromisoformat(report["date"])
    today = asked - timedelta(days=1) if report["day"] == "tomorrow" else asked
    moment = datetime.fromisoformat(iso)
    day = "today" if moment.date() == today else "tomorrow"
    return f"{day} at {clock(iso)}"


def _surf_truths(reports: Sequence[Mapping[str, Any]]) -> Truths:
    """What the surf reports let a remark claim, in feet and km/h."""
    times = [t for report in reports for t in report["key_times"]]
    return surf_truths(
        ratings={str(r["rating"]) for r in reports if r["rating"]},
        wave_heights_ft=[
            DistanceConverter.convert(t["wave_height"], t["wave_height_unit"], UnitOfLength.FEET)
            for t in times
        ],
        winds={t["wind"] for t in times},
        wind_speeds_kmh=[_kmh(t["wind_speed"], t["wind_speed_unit"]) for t in times],
    )


def _weather_truths(report: Mapping[str, Any]) -> Truths:
    """What the weather report lets a remark claim, in °C and km/h."""
    now, forecast = report.get("now", {}), report.get("forecast", {})
    periods = list(report.get("periods", {}).values())
    conditions = [p.get("condition") for p in (now, forecast, *periods)]
    temperatures = [p.get("temperature") for p in (now, forecast, *periods)]
    unit = report.get("temperature_unit") or UnitOfTemperature.CELSIUS
    wind = now.get("wind_speed", forecast.get("wind_speed"))
    return weather_truths(
        conditions=[c for c in conditions if c],
        temperatures_c=[
            TemperatureConverter.convert(t, unit, UnitOfTemperature.CELSIUS)
            for t in temperatures
            if isinstance(t, int | float)
        ],
        rain_chance=report.get("rain_chance"),
        wind_kmh=_kmh(wind, report.get("wind_speed_unit")) if wind is not None else None,
    )


def _kmh(speed: float, unit: str | None) -> float:
    return SpeedConverter.convert(
        speed, unit or UnitOfSpeed.KILOMETERS_PER_HOUR, UnitOfSpeed.KILOMETERS_PER_HOUR
    )


def _room(line: str) -> int:
    """How many words an answer starting with `line` has left for a remark."""
    return MAX_WORDS - len(words(line))


def _repeats(text: str, said: Said) -> bool:
    """Whether `text` says again REPEATED_WORDS words in a row of a sentence `said`."""
    heard = set().union(*(word_runs(sentence, REPEATED_WORDS) for sentence in said))
    return bool(word_runs(words(text), REPEATED_WORDS) & heard)
