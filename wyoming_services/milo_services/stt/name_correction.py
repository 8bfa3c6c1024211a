"""Put the home's names back where whisper heard ordinary words that sound like them.

Prompted with the names (see biasing), whisper tiny.en still turns some of them into words
it knows, most on synthetic or accented voices: "Sonos mark" for "Sonos Arc", "nice and fan"
for "Dyson fan", "least Strand" for "East Strand", "in the sound" for "in the snug"
(bench/stt_names). Home Assistant matches names by their words, so one wrong word loses the
device. This pass compares the transcript's words with the names by how they sound and
rewrites a span only on strong evidence, since a wrong rewrite is worse than a miss:

- a name of several words: the span keeps one of its words at either end ("Sonos | mark",
  "nice and | fan") and the rest sounds one edit away (two when longer); a word that names
  a kind of device ("light") is never rewritten into another word;
- a name of one word: only as a place, the last word of its clause after "in the", "to my",
  ...: same first sound, one consonant away ("sound" -> "Snug");
- never over words that already say a name, nor when two names fit equally well.

Only names as written with a capital are put back: Milo's integration sends the words of its
topics ("rain", "surf") in lower case, for the prompt, and they are ordinary words.
English only: the sound keys are English spelling rules.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
import re

# Where a one-word name is heard as a place: "in the snug", "to my snug".
_PLACE_PREPOSITIONS = frozenset({"in", "on", "at", "to", "into", "from"})
_PLACE_DETERMINERS = frozenset({"the", "my", "our"})
_CLAUSE_END = re.compile(r"\s*(?:[.,;:!?]|$)")
# Never the first or last word of a misheard name ("Nanoleaf panel | in the sound").
_FUNCTION_WORDS = frozenset(
    {"a", "an", "the", "in", "on", "at", "to", "of", "off", "and", "or", "my", "is", "it", "for"}
)
# What people call a kind of device: "entry light" is not a misheard "Entry lock".
_DEVICE_WORDS = frozenset(
    {"light", "lights", "lamp", "lamps", "fan", "fans", "switch", "plug", "lock", "door",
     "doors", "window", "windows", "blind", "blinds", "curtains", "shade", "shades", "heater",
     "heating", "tv", "television", "speaker", "speakers", "radio", "thermostat", "vacuum",
     "camera", "sensor", "garage", "gate", "oven", "kettle"}
)  # fmt: skip
_WORD = re.compile(r"[^\W_](?:[^\W_]|')*")  # letters and digits, any script

# Spellings of one sound, then letters that sound alike folded together (voiced and
# voiceless pairs, c/k/q, every vowel as "a"); upper case marks the sounds of digraphs.
_DIGRAPHS = (("tch", "X"), ("sch", "sk"), ("ch", "X"), ("sh", "X"), ("ph", "f"), ("th", "0"),
             ("ck", "k"), ("gh", ""), ("wh", "w"), ("qu", "kw"))  # fmt: skip
_FOLD = str.maketrans("bdgvzqcjeiouy", "ptkfskkXaaaaa")
_SOFT_C = re.compile(r"c(?=[eiy])")
_SILENT_START = re.compile(r"^(?:kn|gn|wr|pn)")
_SILENT_E = re.compile(r"(?<=...[^aeiouy])e$")  # "like", "nice"; not "the", "Ecobee"
_GLIDES = re.compile(r"(?<=.)[hw]|^[hw](?=a)")
_VOWELS = re.compile(r"a+")


def sound_key(word: str) -> str:
    """A word as its sounds: "snug" -> "snak", "Dyson" -> "tasan", "Arc" -> "ark"."""
    key = _SILENT_E.sub("", word.lower().replace("'", ""))
    key = _SILENT_START.sub(lambda match: match.group()[1], key)
    key = _SOFT_C.sub("s", key)
    for spelling, sound in _DIGRAPHS:
        key = key.replace(spelling, sound)
    key = key.replace("x", "ks").translate(_FOLD)
    key = _VOWELS.sub("a", _GLIDES.sub("", key))
    return re.sub(r"(.)\1+", r"\1", key)  # doubled letters are one sound


def consonants(key: str) -> str:
    """A sound key without its vowels: what a small model keeps of a short word."""
    return key.replace("a", "")


def edit_distance(first: str, second: str) -> int:
    """Levenshtein distance (keys are a few letters: the plain table is quick enough)."""
    previous = list(range(len(second) + 1))
    for row, char in enumerate(first, 1):
        current = [row]
        for column, other in enumerate(second, 1):
            current.append(
                min(previous[column] + 1, current[column - 1] + 1,
                    previous[column - 1] + (char != other))
            )  # fmt: skip
        previous = current
    return previous[-1]


@dataclass(frozen=True)
class _Word:
    text: str
    start: int
    end: int
    folded: str
    key: str

    @classmethod
    def found(cls, match: re.Match[str]) -> _Word:
        text = match.group()
        return cls(text, match.start(), match.end(), text.casefold(), sound_key(text))


@dataclass(frozen=True)
class _Name:
    text: str
    words: tuple[str, ...]  # casefolded
    keys: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> _Name | None:
        words = _WORD.findall(text)
        if not words:
            return None
        return cls(text, tuple(w.casefold() for w in words), tuple(sound_key(w) for w in words))


@dataclass(frozen=True)
class _Fix:
    """Words `start` to `stop` (excluded) should read `name`."""

    start: int
    stop: int
    name: _Name
    distance: int  # by sound
    spelling: int  # by letters: "least" is nearer "East" than "West"
    kept: frozenset[int] = frozenset()  # words already spelled as in the name

    @property
    def rewritten(self) -> set[int]:
        return set(self.words) - self.kept

    @property
    def words(self) -> range:
        return range(self.start, self.stop)

    @property
    def rank(self) -> tuple[int, int, int]:
        return self.distance, self.spelling, self.stop - self.start


class NameCorrector:
    """Rewrites the misheard names of one home's list in transcripts.

    Names are indexed by the sound of their first and last words, so a transcript is
    compared only with the names that share one of its words: a home's 500 names cost
    what a few do."""

    def __init__(self, names: Iterable[str] = ()) -> None:
        self._names = [name for text in names if (name := _Name.parse(text)) is not None]
        self._by_first_word: dict[str, list[_Name]] = defaultdict(list)
        self._places: list[_Name] = []
        self._by_end: dict[str, list[_Name]] = defaultdict(list)
        self._longest = max((len(name.words) for name in self._names), default=0)
        for name in self._names:
            self._by_first_word[name.words[0]].append(name)
            if not name.text[:1].isupper():
                continue
            if len(name.words) == 1:
                self._places.append(name)
            else:
                for key in {name.keys[0], name.keys[-1]}:
                    self._by_end[key].append(name)

    def __eq__(self, other: object) -> bool:
        """Same names, same rewrites: a speculative transcript stands for the final one."""
        return isinstance(other, NameCorrector) and other._names == self._names

    def __hash__(self) -> int:
        return hash(tuple(self._names))

    def correct(self, text: str) -> str:
        """The transcript with misheard names rewritten; unchanged when in doubt."""
        if not self._places and not self._by_end:
            return text
        words = [_Word.found(match) for match in _WORD.finditer(text)]
        said = self._said(words)
        fixes = sorted(
            (fix for fix in self._candidates(words, text) if said.isdisjoint(fix.rewritten)),
            key=lambda fix: fix.rank,
        )
        chosen: list[_Fix] = []
        for fix in fixes:
            rivals = any(
                other.name != fix.name
                and other.rank[:2] == fix.rank[:2]
                and not set(other.words).isdisjoint(fix.words)
                for other in fixes
            )
            if not rivals and all(set(done.words).isdisjoint(fix.words) for done in chosen):
                chosen.append(fix)
        for fix in sorted(chosen, key=lambda fix: fix.start, reverse=True):
            text = text[: words[fix.start].start] + fix.name.text + text[words[fix.stop - 1].end :]
        return text

    def _said(self, words: list[_Word]) -> set[int]:
        """The positions of the words that already say a name: left alone, but for one kept
        in a longer name ("kitchen" in "kitchen lamb" for "Kitchen lamp")."""
        folded = [word.folded for word in words]
        return {
            position
            for start, first in enumerate(folded)
            for name in self._by_first_word.get(first, ())
            if tuple(folded[start : start + len(name.words)]) == name.words
            for position in range(start, start + len(name.words))
        }

    def _candidates(self, words: list[_Word], text: str) -> Iterator[_Fix]:
        for index in _place_slots(words, text):
            for name in self._places:
                yield from _as_place(index, words[index], name)
        for start in range(len(words)):
            for stop in range(start + 2, min(start + self._longest + 1, len(words)) + 1):
                span = words[start:stop]
                names = {*self._by_end.get(span[0].key, ()), *self._by_end.get(span[-1].key, ())}
                for name in names:
                    if len(name.words) - 1 <= len(span) <= len(name.words) + 1:
                        yield from _by_kept_word(start, span, name)


def _place_slots(words: list[_Word], text: str) -> Iterator[int]:
    """Where a place's name would be: the last word of its clause, after "in the", "to my"..."""
    for index in range(2, len(words)):
        if (
            words[index - 2].folded in _PLACE_PREPOSITIONS
            and words[index - 1].folded in _PLACE_DETERMINERS
            and words[index].folded not in _DEVICE_WORDS
            and _CLAUSE_END.match(text, words[index].end)
        ):
            yield index


def _as_place(index: int, word: _Word, name: _Name) -> Iterator[_Fix]:
    """'sound' for 'Snug': the same first sound, one consonant away."""
    said = consonants(name.keys[0])
    if (
        len(said) >= 3  # "rain" and "sun" are a consonant apart: too little to go on
        and word.key[:1] == name.keys[0][:1]
        and (distance := edit_distance(consonants(word.key), said)) <= 1
    ):
        yield _Fix(index, index + 1, name, distance, _spelling([word], name))


def _by_kept_word(start: int, span: list[_Word], name: _Name) -> Iterator[_Fix]:
    """The span, if it begins or ends with the name's own words (by sound: "fun" is "fan")
    and the rest sounds close to the rest of the name."""
    if {span[0].folded, span[-1].folded} & _FUNCTION_WORDS or any(
        word.folded in _DEVICE_WORDS and word.folded not in name.words for word in span
    ):
        return
    keys = [word.key for word in span]
    for kept in range(1, len(name.words)):
        if keys[:kept] == list(name.keys[:kept]):
            rest = "".join(keys[kept:]), "".join(name.keys[kept:])
            pairs = zip(range(start, start + kept), span[:kept], name.words[:kept], strict=True)
        elif keys[-kept:] == list(name.keys[-kept:]):
            rest = "".join(keys[:-kept]), "".join(name.keys[:-kept])
            end = start + len(span)
            pairs = zip(range(end - kept, end), span[-kept:], name.words[-kept:], strict=True)
        else:
            continue
        if (distance := _rest_distance(*rest)) is not None:
            spelled = frozenset(at for at, word, own in pairs if word.folded == own)
            yield _Fix(start, start + len(span), name, distance, _spelling(span, name), spelled)


def _rest_distance(heard: str, name: str) -> int | None:
    """How far the words besides the kept ones sound apart; None when too far to trust."""
    heard, name = _VOWELS.sub("a", heard), _VOWELS.sub("a", name)  # across word joins
    allowed = 2 if min(len(heard), len(name)) >= 5 else 1
    if not heard or not name or abs(len(heard) - len(name)) > allowed:
        return None
    distance = edit_distance(heard, name)
    return distance if distance <= allowed else None


def _spelling(span: list[_Word], name: _Name) -> int:
    return edit_distance("".join(word.folded for word in span), "".join(name.words))
