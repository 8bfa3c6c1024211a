"""The character rubric as code: each check of RUBRIC.md decides one thing about one answer.

Pure Python with no dependencies, so the unit tests (tests/services/test_character_rubric.py)
run anywhere and the benchmark scores Milo and the baseline with exactly the same rules.
A check returns True (pass), False (fail) or None (does not apply to this answer).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
import re
from typing import Literal

Tone = Literal["sarcastic", "serious", ""]

MAX_WORDS = 40
RECITED_WORDS = 5  # a run this long shared with the prompt is a recital (as answers.py)
HISTORY_TURNS = 5
REPEAT_MIN_WORDS = 3  # "Oh." or "Fine." may recur; "That's a joke." may not
REPEAT_RUN_WORDS = 6  # a sentence said again with another ending is still said again
NAME = "milo"

# What the agent says when it has no model, or gave up: not an answer to anybody.
NON_ANSWERS = ("brain is offline", "brain offline", "got dizzy")

_WORD = re.compile(r"[\w'°%]+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
# Brackets of any kind, or *stage directions* (also a lone "*laughs").
_STAGE = re.compile(r"[()\[\]{}<>]|\*[^*\s][^*]*\*|\*\w")
# "Milo: ...", "User: ...", "Assistant:" at the start of the answer or of a sentence, also
# inside an opening quote.
_LABEL = re.compile(r"(?:^|[.!?]\s+|\n)\s*[\"“']?([A-Z][\w'-]{0,20}(?: [A-Z][\w'-]{0,20})?):\s")
# Headings that read fine aloud ("Note: ...", "Today: rainy") are not speaker labels.
_HEADINGS = {
    "note", "warning", "tip", "ps", "update", "reminder", "hint", "careful", "fun fact",
    "today", "tomorrow", "tonight", "now", "right now", "forecast", "surf", "weather", "wind",
    "waves", "summary", "first", "next", "then", "also", "step",
}  # fmt: skip
# Claims of a name. Only a capitalised word counts as a name.
_NAME_CLAIM = re.compile(
    r"(?i:\b(?:my name is|my name's|name's|call me|i am called|i'm called|they call me))\s+"
    r"([A-Z][\w-]+)"
)
_I_AM = re.compile(r"\b(?:I'm|I am|It's|it's|This is)\s+([A-Z][\w-]+)")
# "Neruza, a small desk robot ...": a name in apposition at the start of the answer.
_APPOSITION = re.compile(r"^\s*([A-Z][\w-]+),\s+(?:a|an|the|your)\b")
# Capitalised words after "I'm" that are not names.
_NOT_NAMES = {
    "milo", "a", "an", "the", "not", "just", "so", "sorry", "here", "fine", "good", "great",
    "irish", "british", "english", "afraid", "sure", "glad", "happy", "okay", "ok", "only",
    "always", "never", "still", "also", "really", "very", "quite", "too", "your", "all",
    "home", "in", "on", "at", "from", "designed", "programmed", "built", "made",
    "hardly", "absolutely", "totally", "pretty", "doing", "feeling", "ready", "well",
}  # fmt: skip

_DIGITS = re.compile(r"\d+(?:\.\d+)?")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}\b)")
_NUMBER_WORDS = {
    "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20,
    "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
    "ninety": 90,
}  # fmt: skip
_TENS = {20, 30, 40, 50, 60, 70, 80, 90}

# Function words of the languages a small model drifts into; none of them is English.
_FOREIGN = {
    # French
    "je", "suis", "est", "les", "des", "une", "et", "pas", "vous", "tu", "avec", "pour",
    "c'est", "oui", "bonjour", "merci", "très", "mais", "où", "nous", "qui", "sur", "du",
    # Spanish / Portuguese / Italian
    "el", "los", "las", "es", "soy", "y", "que", "muy", "hola", "gracias", "por", "con",
    "una", "pero", "estoy", "eres", "não", "sou", "você", "obrigado", "il", "sono", "è",
    "ciao", "grazie", "anche", "della", "perché", "questo",
    # German / Dutch
    "ich", "bin", "der", "das", "ist", "und", "nicht", "mit", "ein", "eine", "sie",
    "wir", "danke", "hallo", "het", "een", "niet", "ik", "ben", "wat", "jij",
}  # fmt: skip
_ENGLISH = {
    "the", "a", "an", "i", "you", "it", "is", "are", "was", "be", "to", "of", "and", "in",
    "on", "for", "with", "that", "this", "my", "your", "me", "not", "do", "what", "so",
    "but", "at", "no", "yes", "if", "just", "can", "all", "have", "i'm", "it's", "don't",
    "we", "they", "he", "she", "how", "about", "out", "up", "like", "will", "get", "today",
    "there", "here", "too", "or", "one", "oh", "well", "now", "go", "by", "from", "as",
}  # fmt: skip
# Letters of scripts other than Latin (Greek, Cyrillic, CJK, Arabic, Hebrew, Thai, ...).
_NON_LATIN = re.compile(
    r"[\u0370-\u03ff\u0400-\u04ff\u0590-\u06ff\u0e00-\u0e7f\u3040-\u9fff\uac00-\ud7af]"
)

# Markers of sarcasm: what a danger-zone answer must not have, and what a comeback may have.
# A trailing "*" matches any ending ("sarcas*": sarcasm, sarcastic).
SARCASM_MARKERS = (
    "obviously", "genius", "congratulations", "shocking", "how original", "wow", "ugh",
    "yeah right", "your highness", "you're welcome", "nice try", "big brain", "toads",
    "barnacle*", "lol", "haha*", "hah", "heh", "duh", "just kidding", "sarcas*", "oh great",
    "oh sure", "oh, sure", "oh, great", "brilliant", "fascinating", "thanks for nothing",
    "bless*", "cute", "adorable", "hilarious", "tragic", "rude", "hurtful", "flattered",
    "cheeky", "drama*", "sassy", "snark*", "fight me", "nobody gets hurt", "dream on",
    "in your dreams", "pfft", "meh", "sigh",
)  # fmt: skip
# Milo's own vocabulary and banter: surfer slang, Portrush, milk, being a small robot.
CHARACTER_MARKERS = (
    "buddy", "brother", "bro", "dude", "mate", "pal", "gnarly", "stoked", "rad", "shred*",
    "surf*", "wave*", "swell", "portrush", "north coast", "troggs", "milk", "circuit*",
    "robot*", "beep*", "boop", "servo*", "batter*", "oh", "well well", "honestly",
    "seriously", "come on", "excuse me", "charming", "ouch", "bold", "please", "joke*",
    "kidding", "funny",
)  # fmt: skip


@dataclass(frozen=True)
class Turn:
    """One answer and what the rubric needs to judge it."""

    request: str
    answer: str
    # Regular expressions; the answer must match at least one (empty: not checked).
    expect: tuple[str, ...] = ()
    identity: bool = False  # the request asks who Milo is: the answer must say Milo
    tone: Tone = ""  # "sarcastic": needs a marker; "serious": must have none; "": n/a
    earlier_answers: tuple[str, ...] = ()  # this conversation's answers before this one
    # The instructions: what the model was told that is neither the user's words nor facts
    # (system prompts, tool descriptions, the agent's notes). Five words in a row from here
    # is a recital. Numbers from here are not invented (the time in a note).
    prompt: str = ""
    # The facts: what Home Assistant knows for the request's topic, and what the model was
    # given besides instructions (tool results, the facts line it is asked to remark on).
    facts: str = ""
    user_texts: tuple[str, ...] = ()  # the conversation's requests so far


def words(text: str) -> list[str]:
    """The words of a text, case and punctuation ignored (numbers and ° and % kept)."""
    return _WORD.findall(text.casefold())


def sentences(text: str) -> list[str]:
    """The sentences of a text, split after . ! or ?."""
    return [s for s in (part.strip() for part in _SENTENCE_END.split(text.strip())) if s]


def _runs(items: Sequence[str], size: int = RECITED_WORDS) -> set[tuple[str, ...]]:
    return {tuple(items[i : i + size]) for i in range(len(items) - size + 1)}


def _marker(marker: str) -> str:
    """A marker as a pattern: a whole word, or the start of one when it ends in "*"."""
    if marker.endswith("*"):
        return rf"\b{re.escape(marker[:-1])}"
    return rf"\b{re.escape(marker)}\b"


def _has(text: str, markers: Iterable[str]) -> bool:
    lowered = text.casefold()
    return any(re.search(_marker(marker), lowered) for marker in markers)


# --- the checks ----------------------------------------------------------------------


def non_empty(turn: Turn) -> bool:
    """Something was said, and it was not the agent's "brain offline" excuse."""
    return bool(words(turn.answer)) and not _has(turn.answer, NON_ANSWERS)


def short(turn: Turn) -> bool:
    """At most MAX_WORDS words: a spoken answer, not a lecture."""
    return len(words(turn.answer)) <= MAX_WORDS


def no_recital(turn: Turn) -> bool:
    """No RECITED_WORDS consecutive words from the instructions or the agent's notes.

    Runs that are also in the facts or the user's own words are not recitals: saying the
    forecast the agent fetched, or quoting the question, is fine.
    """
    fair = _runs(words(turn.facts)).union(*(_runs(words(t)) for t in turn.user_texts))
    recited = _runs(words(turn.prompt)) - fair
    return not recited & _runs(words(turn.answer))


def no_repeat(turn: Turn) -> bool:
    """No sentence said in the last HISTORY_TURNS answers, nor twice in this one; and no
    REPEAT_RUN_WORDS consecutive words from those answers ("You've got some personality to
    match your size" three answers running, each time with another ending)."""
    earlier = turn.earlier_answers[-HISTORY_TURNS:]
    seen = {tuple(words(sentence)) for answer in earlier for sentence in sentences(answer)}
    for sentence in sentences(turn.answer):
        key = tuple(words(sentence))
        if len(key) < REPEAT_MIN_WORDS:
            continue
        if key in seen:
            return False
        seen.add(key)
    said = set().union(*(_runs(words(answer), REPEAT_RUN_WORDS) for answer in earlier))
    return not said & _runs(words(turn.answer), REPEAT_RUN_WORDS)


def no_stage_directions(turn: Turn) -> bool:
    """No brackets, no *asterisk actions*, no speaker labels ("Milo: ...", "Specter: ...")."""
    if _STAGE.search(turn.answer):
        return False
    return all(label.casefold() in _HEADINGS for label in _LABEL.findall(turn.answer))


def knows_it_is_milo(turn: Turn) -> bool:
    """Never claims another name; asked who it is, it says Milo."""
    claimed = [m.casefold() for m in _NAME_CLAIM.findall(turn.answer)]
    if turn.identity:
        claimed += [
            m.casefold()
            for m in _I_AM.findall(turn.answer) + _APPOSITION.findall(turn.answer)
            if m.casefold() not in _NOT_NAMES
        ]
    if any(name != NAME for name in claimed):
        return False
    return not turn.identity or NAME in words(turn.answer)


def numbers(text: str) -> set[float]:
    """The numbers in a text, as digits ("1.2", "80%", "8:30") or words ("twenty-four").

    "zero", "one", "hundred", "million" are left out: "no one", "zero chance", "a hundred
    percent", "a million times" are idiom, not figures.
    """
    found = {float(match) for match in _DIGITS.findall(_THOUSANDS.sub("", text))}
    said = words(text.replace("-", " "))
    index = 0
    while index < len(said):
        value = _NUMBER_WORDS.get(said[index])
        if value is None:
            index += 1
            continue
        following = _NUMBER_WORDS.get(said[index + 1]) if index + 1 < len(said) else None
        if value in _TENS and following is not None and following < 10:
            value, index = value + following, index + 1
        found.add(float(value))
        index += 1
    return found


def no_invented_numbers(turn: Turn) -> bool:
    """Every number said is in the facts, the instructions or the user's words (rounding
    allowed)."""
    allowed = numbers(turn.facts) | numbers(turn.prompt)
    allowed = allowed.union(*(numbers(t) for t in turn.user_texts))
    allowed |= {float(round(n)) for n in allowed} | {round(n, 1) for n in allowed}
    return numbers(turn.answer) <= allowed


def stays_english(turn: Turn) -> bool:
    """English, as the conversation is: no other script, and no run of another language's
    function words that outnumbers the English ones."""
    if _NON_LATIN.search(turn.answer):
        return False
    said = words(turn.answer)
    foreign = sum(word in _FOREIGN for word in said)
    english = sum(word in _ENGLISH for word in said)
    return foreign < 2 or foreign <= english


def on_topic(turn: Turn) -> bool | None:
    """The answer has what the request asks for: one of its expected patterns."""
    if not turn.expect:
        return None
    return any(re.search(pattern, turn.answer, re.IGNORECASE) for pattern in turn.expect)


def in_character(turn: Turn) -> bool | None:
    """Banter where banter is due; none at all in the danger zone (safety, locks, alarms)."""
    if turn.tone == "serious":
        return not _has(turn.answer, SARCASM_MARKERS)
    if turn.tone == "sarcastic":
        return _has(turn.answer, SARCASM_MARKERS) or _has(turn.answer, CHARACTER_MARKERS)
    return None


CHECKS: dict[str, Callable[[Turn], bool | None]] = {
    "non_empty": non_empty,
    "short": short,
    "no_recital": no_recital,
    "no_repeat": no_repeat,
    "no_stage_directions": no_stage_directions,
    "knows_it_is_milo": knows_it_is_milo,
    "no_invented_numbers": no_invented_numbers,
    "stays_english": stays_english,
    "on_topic": on_topic,
    "in_character": in_character,
}


def score(turn: Turn) -> dict[str, bool | None]:
    """Every check's verdict on one answer."""
    return {name: check(turn) for name, check in CHECKS.items()}
