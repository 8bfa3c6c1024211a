"""Milo's line bank: lines in its voice, loaded from YAML, checked, picked and searched.

The embedded model is too small to hold a character on its own. The bank gives it one
three ways: the lines nearest to a request are shown to the model as examples of the
voice; a line stands in when the model's answer is unusable; and the easter eggs and
fast-path quips are said straight from it. The shipped file can be extended or overridden
by the user's own (see `load`). Pure Python, no Home Assistant, so loading runs in an
executor and tests need no `hass`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
import random
import string
from typing import Any

import yaml

from .agreement import NUMBER_WORDS
from .bm25 import BM25, stem
from .sentences import REPEATED_WORDS, heard, word_runs, words

SHIPPED = Path(__file__).parent / "lines" / "milo_lines.yaml"
SURF_RATINGS = frozenset({"gnarly", "mid", "trash", "unknown"})
WEATHER_CONDITIONS = frozenset(
    {
        "rain",
        "sunny",
        "cloudy",
        "windy",
        "cold",
        "warm",
        "fog",
        "snow",
        "storm",
        "clear",
        "any",
        "unknown",
    }
)
# What the danger zone's lines are about (guards.HAZARDS); "general" fits any hazard.
DANGER_HAZARDS = frozenset(
    {
        "gas",
        "fire",
        "carbon_monoxide",
        "intruder",
        "stranger",
        "lock",
        "alarm",
        "appliance",
        "injury",
        "general",
    }
)
# What the camera of the Milo that heard "Can you see me?" makes of the room: a buddy it
# knows, a stranger, nobody, its privacy switch off, or no Milo with a camera at all.
SIGHTS = frozenset({"buddy", "stranger", "nobody", "camera_off", "no_camera"})
# Milo's favourites and friends, as the persona has them (fast_path.FAVOURITES).
FAVOURITE_SUBJECTS = frozenset(
    {
        "band",
        "music",
        "food",
        "drink",
        "spot",
        "shop",
        "colour",
        "film",
        "animal",
        "friends",
        "hobby",
    }
)
# Each topic and the tags its lines must carry (empty: no tag).
TOPICS: Mapping[str, frozenset[str]] = {
    "identity": frozenset(),
    "greeting": frozenset(),
    "buddy_greeting": frozenset(),
    "goodbye": frozenset(),
    "comeback": frozenset(),
    "compliment": frozenset(),
    "joke": frozenset(),
    "self": frozenset(),
    "chat": frozenset(),
    "surf": SURF_RATINGS,
    "weather": WEATHER_CONDITIONS,
    "fallback": frozenset(),
    "thinking": frozenset(),
    "offline": frozenset(),
    "too_slow": frozenset(),
    "milk": frozenset(),
    "troggs": frozenset(),
    "dance": frozenset(),
    "beat": frozenset(),
    "disco": frozenset(),
    "no_dance": frozenset(),
    "command": frozenset(),
    "danger": DANGER_HAZARDS,
    "sight": SIGHTS,
    "bored": frozenset(),
    "favourite": FAVOURITE_SUBJECTS,
    "favourite_why": FAVOURITE_SUBJECTS,
    "be_friends": frozenset(),
}
# Lines the model may be shown as examples of the voice, or say for a request it could not
# answer. The rest belong to one moment (a command done, the server down, a buddy arriving,
# a dance or a beat starting: their lines promise a show).
CONVERSATIONAL = frozenset(
    {
        "identity",
        "greeting",
        "goodbye",
        "comeback",
        "compliment",
        "joke",
        "self",
        "chat",
        "milk",
        "troggs",
        "disco",
    }
)
PLACEHOLDERS: Mapping[str, frozenset[str]] = {
    "buddy_greeting": frozenset({"name", "person"}),
    "sight": frozenset({"name", "person"}),
}
DEFAULT_PLACEHOLDERS = frozenset({"name"})
MAX_SARCASM = 3
# A group without a sarcasm level is at the agent's default.
DEFAULT_LEVEL = 2
# A voice line is short: the whole spoken answer is capped at about forty words.
MAX_LINE_WORDS = 30
# How much the question before counts when finding lines near a question.
BEFORE_WEIGHT = 0.4
# How many of its latest picks a topic avoids repeating (fewer when it has fewer lines).
RECENT_PICKS = 8
# A line scoring at least this share of the nearest line's score is as near (`choose`).
NEAR_BEST = 0.9
GROUP_KEYS = frozenset({"topic", "tag", "sarcasm", "about", "lines", "replace"})
LINE_KEYS = frozenset({"text", "sarcasm", "only_for"})


class LineBankError(ValueError):
    """A line bank file that cannot be used, with the entry at fault."""


@dataclass(frozen=True, slots=True)
class Line:
    """One line and its tags."""

    text: str
    topic: str
    tag: str | None
    sarcasm: int
    about: str = ""
    # A line that echoes one ask ("A roast? ...", "Useless? ...") answers only a request
    # saying one of these word runs (as stems; `fits`). Empty: any request of the topic.
    only_for: tuple[tuple[str, ...], ...] = ()


class LineBank:
    """Lines by topic and tag: picked at random without repeats, or ranked by a request."""

    def __init__(self, lines: Sequence[Line]) -> None:
        """Index the lines for retrieval."""
        if not lines:
            raise LineBankError("The line bank has no lines")
        if only_asked := {(ln.topic, ln.tag) for ln in lines} - {
            (ln.topic, ln.tag) for ln in lines if not ln.only_for
        }:
            named = ", ".join(sorted(f"{topic} {tag or ''}".strip() for topic, tag in only_asked))
            raise LineBankError(
                f"Every line of {named} has only_for: a topic (and tag) needs a line for any "
                "request too"
            )
        self.lines = tuple(lines)
        # A group's `about` words say what its lines answer: they weigh as much as the text.
        self._index = BM25(
            [f"{line.text} {line.about} {line.about} {line.topic}" for line in self.lines]
        )
        # The words of the lines alone: what a joke or comeback is about (`choose`).
        self._texts = BM25([line.text for line in self.lines])
        self._recent: dict[tuple[str, str | None], deque[str]] = {}

    def texts(self, topic: str, tag: str | None = None) -> list[str]:
        """The raw texts of a topic (and tag; None: any), as written, placeholders unfilled."""
        return [
            line.text
            for line in self.lines
            if line.topic == topic and (tag is None or line.tag == tag)
        ]

    def pick(
        self,
        topic: str,
        tag: str | None = None,
        *,
        sarcasm: int,
        avoid: Collection[tuple[str, ...]] = (),
        name: str = "Milo",
        person: str = "",
        max_words: int | None = None,
        request: str = "",
    ) -> str:
        """A line of the topic at about this sarcasm, not one of the topic's latest picks.

        `avoid` holds sentences said lately (as `sentences.heard` gives them): a line
        containing one is not picked while another is left. With `max_words`, only a line
        that short, or "" when there is none. A line with `only_for` only when `request`
        says its ask.
        """
        asked = stems(request)
        pool = _at_level(
            [ln for ln in self.lines if ln.topic == topic and ln.tag == tag and fits(ln, asked)],
            sarcasm,
        )
        if not pool:
            raise LineBankError(f"No lines for topic {topic!r}, tag {tag!r}")
        if max_words is not None:
            pool = [ln for ln in pool if len(words(fill(ln.text, name=name))) <= max_words]
            if not pool:
                return ""
        recent = self._recent.setdefault((topic, tag), deque(maxlen=RECENT_PICKS))
        said = _Said.of(avoid)
        fresh = [ln for ln in pool if ln.text not in recent and not _said(ln, said, name, person)]
        unsaid = [ln for ln in pool if not _said(ln, said, name, person)]
        # Lines of one hazard share their phrases ("the gas emergency line"): when every
        # line repeats some, one not said whole.
        unrepeated = [ln for ln in pool if not _said(ln, said, name, person, runs=False)]
        choice = random.choice(fresh or unsaid or unrepeated or pool)
        recent.append(choice.text)
        while len(recent) >= len(pool):  # keep a choice open for the next pick
            recent.popleft()
        return fill(choice.text, name=name, person=person)

    def choose(
        self,
        request: str,
        topic: str,
        *,
        sarcasm: int,
        before: str = "",
        avoid: Collection[tuple[str, ...]] = (),
        name: str = "Milo",
        asked: str | None = None,
    ) -> str:
        """A line of the topic whose own words are near `request` (and less, `before`;
        "surfing jokes" are about surfing): at random among those scoring almost as well
        as the nearest, so "Tell me a joke." is not answered with the same joke every time;
        not a line containing a sentence of `avoid`, nor one of the topic's latest picks,
        while another is left. Any line of the topic when none shares a word with it.
        `asked` is the request as said (default: `request`): a line with `only_for` only
        when it says the line's ask ("A roast?" for "Roast me", not for "Tell me a joke")."""
        said = _Said.of(avoid)
        asked = request if asked is None else asked
        said_words = stems(asked)
        pool = [
            line
            for line in _at_level(
                (ln for ln in self.lines if ln.topic == topic and fits(ln, said_words)), sarcasm
            )
            if not _said(line, said, name, "")
        ]
        if not pool:
            return self.pick(topic, sarcasm=sarcasm, avoid=avoid, name=name, request=asked)
        wanted = {id(line) for line in pool}
        scored = {
            index: now + BEFORE_WEIGHT * then
            for index, (now, then) in enumerate(
                zip(self._texts.scores(request), self._texts.scores(before), strict=True)
            )
            if id(self.lines[index]) in wanted
        }
        recent = self._recent.setdefault((topic, None), deque(maxlen=RECENT_PICKS))
        fresh = {i: score for i, score in scored.items() if self.lines[i].text not in recent}
        if fresh and (max(fresh.values()) > 0 or max(scored.values()) == 0):
            scored = fresh
        best = max(scored.values())
        choice = random.choice(
            [self.lines[i] for i, score in scored.items() if score >= best * NEAR_BEST]
        )
        recent.append(choice.text)
        return fill(choice.text, name=name)

    def closest_topic(self, request: str) -> str | None:
        """The topic of the line nearest to `request`, at any level (None: no word shared)."""
        best, index = max(
            ((score, index) for index, score in enumerate(self._index.scores(request))),
            default=(0.0, 0),
        )
        return self.lines[index].topic if best > 0 else None

    def nearest(
        self,
        request: str,
        *,
        sarcasm: int,
        count: int,
        before: str = "",
        topics: Collection[str] = CONVERSATIONAL,
        tag: str | None = None,
        avoid: Collection[tuple[str, ...]] = (),
        name: str = "Milo",
    ) -> list[str]:
        """Up to `count` lines of the topics (with this tag, if any) nearest to `request`
        (none that share no word).

        `before` is the question before it, which counts for less: a follow-up ("Another
        one, please.") is about what was asked before. A line with `only_for` only when
        `request` says its ask: the model copies the examples it is shown.
        """
        said = _Said.of(avoid)
        asked = stems(request)
        allowed = {id(line) for line in _at_level(self.lines, sarcasm)}
        scores = [
            now + BEFORE_WEIGHT * then
            for now, then in zip(
                self._index.scores(request), self._index.scores(before), strict=True
            )
        ]
        ranked = sorted(
            (
                (score, index)
                for index, score in enumerate(scores)
                if score > 0
                and self.lines[index].topic in topics
                and (tag is None or self.lines[index].tag == tag)
                and id(self.lines[index]) in allowed
                and fits(self.lines[index], asked)
                and not _said(self.lines[index], said, name, "")
            ),
            key=lambda item: (-item[0], item[1]),
        )
        return [fill(self.lines[index].text, name=name) for _score, index in ranked[:count]]


def _at_level(lines: Iterable[Line], sarcasm: int) -> list[Line]:
    """Lines at the agent's sarcasm or one below; failing that, the mildest there are."""
    lines = list(lines)
    near = [line for line in lines if sarcasm - 1 <= line.sarcasm <= sarcasm]
    if near:
        return near
    milder = [line for line in lines if line.sarcasm <= sarcasm]
    if milder:
        return milder
    mildest = min((line.sarcasm for line in lines), default=0)
    return [line for line in lines if line.sarcasm == mildest]


def stems(text: str) -> tuple[str, ...]:
    """The stems of every word of a text, in order ("roasting me" and "roast me" alike)."""
    return tuple(stem(word) for word in words(text))


def fits(line: Line, asked: Sequence[str]) -> bool:
    """Whether the line may answer a request of these stems (`stems`): any line without
    `only_for`; one with it when the request says one of its word runs."""
    return not line.only_for or any(
        tuple(asked[i : i + len(ask)]) == ask
        for ask in line.only_for
        for i in range(len(asked) - len(ask) + 1)
    )


@dataclass(frozen=True)
class _Said:
    """Sentences said lately and their runs of words, indexed once per pick."""

    sentences: frozenset[tuple[str, ...]]
    runs: frozenset[tuple[str, ...]]

    @classmethod
    def of(cls, avoid: Collection[tuple[str, ...]]) -> _Said:
        said = frozenset(avoid)
        runs = frozenset().union(*(word_runs(sentence, REPEATED_WORDS) for sentence in said))
        return cls(said, runs)


def _said(line: Line, said: _Said, name: str, person: str, *, runs: bool = True) -> bool:
    """Whether the line says again a sentence said lately, or (with `runs`) a run of its
    words, as the guard judges the model's repeats ("Same name as the best surf shop in
    Portrush." then "Because they share a name with the best surf shop in Portrush.")."""
    if not said.sentences:
        return False
    return any(
        sentence in said.sentences or (runs and word_runs(sentence, REPEATED_WORDS) & said.runs)
        for sentence in heard(fill(line.text, name=name, person=person))
    )


def fill(text: str, *, name: str = "Milo", person: str = "") -> str:
    """A line with its placeholders filled in."""
    return text.format_map({"name": name, "person": person or "buddy"})


def load(paths: Iterable[Path]) -> LineBank:
    """The bank from YAML files, in order: the shipped file, then the user's.

    A later file adds its groups' lines to the topic (and tag); a group with
    `replace: true` first removes what earlier files had for that topic and tag.
    Raises LineBankError naming the file and entry for anything malformed.
    """
    lines: list[Line] = []
    for path in paths:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
            raise LineBankError(f"{path}: cannot read the line bank: {err}") from err
        for replaced, group in parse(data, str(path)):
            if replaced:
                lines = [ln for ln in lines if (ln.topic, ln.tag) != (group[0].topic, group[0].tag)]
            lines.extend(group)
    return LineBank(lines)


def parse(data: Any, source: str) -> list[tuple[bool, list[Line]]]:
    """The groups of one file: whether each replaces earlier lines, and its lines."""
    if not isinstance(data, list):
        raise LineBankError(f"{source}: expected a list of line groups, got {type(data).__name__}")
    return [_group(entry, f"{source}, group {number}") for number, entry in enumerate(data, 1)]


def _group(entry: Any, where: str) -> tuple[bool, list[Line]]:
    if not isinstance(entry, dict):
        raise LineBankError(f"{where}: expected a mapping with topic and lines")
    if unknown := set(entry) - GROUP_KEYS:
        raise LineBankError(f"{where}: unknown keys {sorted(unknown)}")
    topic = entry.get("topic")
    if not isinstance(topic, str) or topic not in TOPICS:
        raise LineBankError(f"{where}: topic {topic!r} is not one of {sorted(TOPICS)}")
    where = f"{where} ({topic})"
    tag = entry.get("tag")
    tags = TOPICS[topic]
    if tags and tag not in tags:
        raise LineBankError(f"{where}: tag {tag!r} is not one of {sorted(tags)}")
    if not tags and tag is not None:
        raise LineBankError(f"{where}: topic {topic!r} takes no tag, got {tag!r}")
    sarcasm = _sarcasm(entry.get("sarcasm", DEFAULT_LEVEL), where)
    about = entry.get("about", "")
    if not isinstance(about, str):
        raise LineBankError(f"{where}: about must be text")
    raw = entry.get("lines")
    if not isinstance(raw, list) or not raw:
        raise LineBankError(f"{where}: lines must be a non-empty list")
    lines = []
    for number, item in enumerate(raw, 1):
        at = f"{where}, line {number}"
        only_for: tuple[tuple[str, ...], ...] = ()
        if isinstance(item, dict):
            if unknown := set(item) - LINE_KEYS:
                raise LineBankError(f"{at}: unknown keys {sorted(unknown)}")
            text, level = item.get("text"), _sarcasm(item.get("sarcasm", sarcasm), at)
            only_for = _only_for(item.get("only_for", []), at)
        else:
            text, level = item, sarcasm
        lines.append(Line(_text(text, topic, at), topic, tag, level, about, only_for))
    replace = entry.get("replace", False)
    if not isinstance(replace, bool):
        raise LineBankError(f"{where}: replace must be true or false")
    return replace, lines


def _only_for(value: Any, where: str) -> tuple[tuple[str, ...], ...]:
    """The asks a line answers (`Line.only_for`): a list of words or word runs."""
    if not isinstance(value, list) or not all(isinstance(ask, str) and stems(ask) for ask in value):
        raise LineBankError(f"{where}: only_for must be a list of words or phrases")
    return tuple(stems(ask) for ask in value)


def _sarcasm(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SARCASM:
        raise LineBankError(f"{where}: sarcasm must be a whole number from 0 to {MAX_SARCASM}")
    return value


def _text(value: Any, topic: str, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise LineBankError(f"{where}: the line must be non-empty text")
    text = " ".join(value.split())
    allowed = PLACEHOLDERS.get(topic, DEFAULT_PLACEHOLDERS)
    try:
        fields = {field for _lit, field, _spec, _conv in string.Formatter().parse(text) if field}
    except ValueError as err:
        raise LineBankError(f"{where}: {err} in {text!r} (write a brace as {{{{ or }}}})") from err
    if unknown := fields - allowed:
        raise LineBankError(
            f"{where}: unknown placeholder {sorted(unknown)} in {text!r}; use {sorted(allowed)}"
        )
    if len(words(text)) > MAX_LINE_WORDS:
        raise LineBankError(f"{where}: more than {MAX_LINE_WORDS} words: {text!r}")
    if any(char.isdigit() for char in text) or NUMBER_WORDS & set(words(text)):
        raise LineBankError(f"{where}: no figures in a line (Milo never makes one up): {text!r}")
    if any(char in text for char in "()[]*"):
        raise LineBankError(f"{where}: no brackets or asterisks, they are not spoken: {text!r}")
    if '"' in text:
        raise LineBankError(f"{where}: no double quotes: the model is shown lines in them")
    return text
