"""Guards on what the model says in small talk, sentence by sentence as it streams.

The embedded model is tiny. Left alone it repeats its earlier answers word for word,
rambles for two hundred words, reads its own instructions back, calls itself Lara, makes
up figures, swears, and writes the user's next line as a script ("User: ..."). Each
sentence is held until it ends and then kept or dropped; what is left is capped at about
forty words, cut at a sentence end. When nothing is left, the caller says a line from the
bank, so Milo is never silent. Who Milo is and the danger zones are not the model's to
answer at all (`is_identity_question`, `is_danger_zone`).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
import logging
import re
import unicodedata

from .sentences import RECITED_WORDS, REPEATED_WORDS, split_sentences, word_runs, words

_LOGGER = logging.getLogger(__package__)
# About fifteen seconds of speech: longer is a lecture, not a chat.
MAX_WORDS = 40
# How many earlier turns a sentence must not repeat.
REPEAT_TURNS = 5
# "What's your name?", "who are you": answered from the bank, so always as Milo.
IDENTITY = re.compile(
    r"\b(what(?:'s| is) (?:your|ur) name|your name\b|"
    r"who (?:are|r) (?:you|u)\b(?! (?:talking|speaking|looking|with|calling|waiting))|"
    r"what are you,?(?: exactly)?\W*$|introduce yourself|tell me about yourself|"
    r"are you (?:a |an )?(?:robot|human|person|real|alive|machine|ai)\b|"
    r"who (?:made|built|created|designed|programmed) (?:you|u)\b|"
    r"where (?:do you live|are you from|do you come from))"
)
# A danger-zone question this many turns back still makes a follow-up about it one ("I can
# smell smoke." "Should I call someone?"; persona.is_about_safety).
DANGER_TURNS = 3
# Safety, locks and alarms: plain answers, no jokes (the persona's danger zones).
DANGER = re.compile(
    r"\b(locks?|locked|unlock\w*|doors?|alarms?|smoke|fire|gas|leak\w*|burglar\w*|"
    r"intruders?|break[- ]?in|broken in|secure|security|emergency|carbon monoxide|injur\w*|"
    r"hurt|bleeding|police|ambulance|safe|unsafe|safety|stove|oven|hob|stranger)\b"
)
# What a danger-zone request is about, the most specific first ("smoke alarm" is fire,
# "carbon monoxide alarm" the gas): the bank's danger lines carry these tags, so a smoke
# question never gets the gas line however many words they share.
HAZARDS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (tag, re.compile(rf"\b({pattern})\b"))
    for tag, pattern in (
        ("carbon_monoxide", r"carbon monoxide|co (alarm|detector)"),
        ("gas", r"gas"),
        ("fire", r"smoke|smoky|fire|burn\w*|flames?"),
        ("intruder", r"burglar(?! alarm)\w*|intruders?|break[- ]?in|broken in|breaking in"),
        ("stranger", r"strangers?|let (him|her|them) in"),
        ("lock", r"locks?|locked|unlock\w*|doors?"),
        ("alarm", r"alarms?|security|siren"),
        ("appliance", r"stove|oven|hob|cooker|iron|heater"),
        ("injury", r"injur\w*|hurt|bleeding|ambulance|fell|fallen"),
    )
)
# A label ("User: ...", "MILO: ...") starts a line of a script: the model is writing both
# sides of a dialogue, also inside quotes. Milo's own label is dropped and its line kept;
# anyone else's ends the answer. Headings that read fine aloud stay. A label last of all
# ("... the best joke ever. MILO:") is the next line the model was about to script.
_LABEL = re.compile(
    r"(?:^|(?<=[\s\"\u201c]))((?i:heads up|fun fact)|[A-Za-z][\w'-]{0,19}):(?:\s+|$)"
)
OWN_LABELS = frozenset({"assistant", "ai", "bot", "robot"})
HEADINGS = frozenset({"note", "warning", "heads up", "fun fact", "tip", "ps", "update"})
# Another name, or being human, is not who Milo is.
_NAME_CLAIM = re.compile(
    r"\b(?:my name is|my name's|name's|call me|i am called|i'm called)\s+(\w+)"
)
_HUMAN_CLAIM = re.compile(
    r"\bi(?:'m| am) (?:just |only |really |actually )?(?:a |an )?(?:human|person|man|woman|girl|"
    r"boy|lady|guy)\b"
)
# Words a phrase cannot end on: a fragment ending in one was cut off mid-phrase.
_DANGLING = {
    "a", "an", "the", "to", "and", "but", "or", "of", "in", "on", "at", "for", "with", "by",
    "from", "about", "as", "is", "are", "was", "were", "be", "my", "your", "his", "her",
    "their", "our", "its", "this", "that", "i", "i'll", "i'm", "i'd", "you", "we", "they",
    "he", "she", "if", "so", "because", "than", "then", "some", "another", "what", "how",
    "not", "no", "just", "very", "like", "own",
}  # fmt: skip
# ... and the words even a finished sentence cannot end on ("This is a [beep]." said as
# "This is a."): questions may end on "to" or "from", but not on "the".
_BROKEN_END = {
    "a", "an", "the", "my", "your", "their", "our", "and", "but", "or", "because", "than",
    "i'll", "i'm", "i'd", "if",
}  # fmt: skip
_ENDED = re.compile(r"[.!?][\"'\u201d\u2019)\]]*$")
# An earlier sentence this long said inside a new one ("That's all they've ever done, I
# guess." after "That's all they've ever done.") is said again.
CONTAINED_WORDS = 5
# A sentence made of this many words of the question in a row parrots it.
PARROTED_WORDS = 3
# Sarcastic but never mean: no swearing, and no calling the user names.
_RUDE = re.compile(
    r"\b(\w*shit\w*|\w*fuck\w*|shiz|crap|damn|bitch\w*|bastard\w*|dumbass|ass|asshole|piss\w*|"
    r"dick|wank\w*|bollocks|sucks?)\b|"
    r"\byou(?:'re| are)(?: just| such)?(?: a| an| another)? (?:\w+ )?(?:failure|loser|idiot|moron|"
    r"dumb|stupid|pathetic|worthless|useless|fat|ugly)\b"
)
# Figures in digits, and in words from two up ("one" and "hundred" are idiom more often).
_FIGURE = re.compile(
    r"\d+(?:[.,:]\d+)*|\b(?:two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|"
    r"\w+teen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)\b",
    re.IGNORECASE,
)


@dataclass
class AnswerGuard:
    """Keeps the sentences of one streamed answer that are fit to say.

    `feed` takes text as it streams and returns what may be spoken now; `finish` judges
    the unfinished rest at the end of a stream (or before a tool call). `done` turns true
    once the answer is long enough: the caller can stop the model there.
    """

    persona_name: str
    # Sentences of the latest turns, each as its words (`sentences.heard`).
    said_before: Collection[tuple[str, ...]] = ()
    # Everything the model was given (instructions, notes, examples it may copy are
    # excluded by the caller): sentences sharing a run of words with it are recited.
    prompt: str = ""
    question: str = ""
    max_words: int = MAX_WORDS
    kept: list[str] = field(default_factory=list)
    done: bool = False
    _buffer: str = ""
    _count: int = 0
    # The last words said: a run of the prompt or of an earlier answer split across two
    # sentences ("with a camera... and a moving head") is a recital or repeat all the same.
    _tail: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        """Index the prompt once."""
        self._recited = word_runs(words(self.prompt))
        self._figures = set(_FIGURE.findall(f"{self.prompt} {self.question}".casefold()))
        self._asked = words(self.question)
        self._heard = set(self.said_before)
        self._heard_runs = set().union(
            *(word_runs(sentence, REPEATED_WORDS) for sentence in self._heard)
        )
        self._heard_sizes = {len(sentence) for sentence in self._heard}

    def allow(self, facts: str) -> None:
        """Let the answer say the figures in `facts` (what its tools found)."""
        self._figures |= set(_FIGURE.findall(facts.casefold()))

    @property
    def said(self) -> bool:
        """Whether any sentence was kept."""
        return bool(self.kept)

    def feed(self, text: str) -> str:
        """What may be said of the text streamed so far: only complete sentences."""
        if self.done:
            return ""
        *sentences, self._buffer = split_sentences(self._buffer + text)
        return "".join(self._say(sentence) for sentence in sentences)

    def finish(self) -> str:
        """What may be said of the unfinished rest: not a fragment that stops mid-phrase
        ("This is a"), as it does when the model runs out of tokens or into an aside that
        never closes."""
        rest, self._buffer = self._buffer, ""
        return "" if self.done else self._say(rest)

    def _say(self, sentence: str) -> str:
        if self.done:
            return ""
        kept = self._judge(sentence.strip())
        if not kept:
            return ""
        sentence_words = words(kept)
        if self._count + len(sentence_words) > self.max_words:
            self.done = True
            if self.kept:
                return ""
            kept = _cut(kept, self.max_words)
        self._count += len(sentence_words)
        self._heard.add(tuple(sentence_words))
        self._tail = (*self._tail, *sentence_words)[-(max(REPEATED_WORDS, RECITED_WORDS) - 1) :]
        prefix = " " if self.kept else ""
        self.kept.append(kept)
        return prefix + kept

    def _judge(self, sentence: str) -> str:
        """The sentence as it may be said, or "" to drop it."""
        sentence = self._unscripted(_symbols_dropped(sentence))
        sentence_words = words(sentence)
        if not sentence_words or not any(c.isalpha() for c in sentence):
            return ""
        # Unfinished (the end of the stream, or cut where a script starts): it must not stop
        # mid-phrase; finished, it must not end on an article either.
        broken = _BROKEN_END if _ENDED.search(sentence) else _DANGLING
        if sentence_words[-1] in broken:
            reason = "cut off"
        else:
            reason = self._fault(sentence, sentence_words)
        if reason:
            _LOGGER.debug("Not said (%s): %r", reason, sentence)
            return ""
        return sentence

    def _unscripted(self, sentence: str) -> str:
        """The sentence from Milo's own last label on, and cut where another speaker's
        starts (which also ends the answer). Text before a label inside a sentence was
        cut off by the model switching to a script, so it goes too."""
        own = {*OWN_LABELS, self.persona_name.casefold()}
        for label in reversed(list(_LABEL.finditer(sentence))):
            who = label.group(1).casefold()
            if who in own:
                sentence = sentence[label.end() :]
                break
            if who not in HEADINGS:
                self.done = True  # the model writes the user's lines too: stop listening
                sentence = sentence[: label.start()]
        return sentence.strip()

    def _fault(self, sentence: str, sentence_words: list[str]) -> str:
        """Why a sentence is not said ("" when it is fine)."""
        joined = [*self._tail, *sentence_words]
        if (
            tuple(sentence_words) in self._heard
            or word_runs(joined, REPEATED_WORDS) & self._heard_runs
            or self._contains_said(sentence_words)
        ):
            return "repeated"
        # An answer that opens with the question said back; later, asking it back is fine.
        opening = not self.kept
        if self._recited & word_runs(joined) or _parrots(
            sentence_words, self._asked, anywhere=opening
        ):
            return "recited"
        if set(_FIGURE.findall(sentence.casefold())) - self._figures:
            return "made-up figure"
        lowered = sentence.casefold()
        if _RUDE.search(lowered):
            return "rude"
        claim = _NAME_CLAIM.search(lowered)
        if (claim and claim.group(1) != self.persona_name.casefold()) or _HUMAN_CLAIM.search(
            lowered
        ):
            return "not Milo"
        return ""

    def _contains_said(self, sentence_words: list[str]) -> bool:
        """Whether an earlier sentence of CONTAINED_WORDS or more is inside this one."""
        return any(
            size in self._heard_sizes and run in self._heard
            for size in range(CONTAINED_WORDS, REPEATED_WORDS)
            for run in word_runs(sentence_words, size)
        )


def _cut(sentence: str, max_words: int) -> str:
    """A run-on sentence cut at its last comma within the limit, else at the limit."""
    spans = list(re.finditer(r"\S+", sentence))[:max_words]
    head = sentence[: spans[-1].end()]
    if (comma := head.rfind(",")) > len(head) // 3:
        head = head[:comma]
    return head.rstrip(",;: ") + "."


def _parrots(sentence_words: list[str], asked: list[str], *, anywhere: bool) -> bool:
    """Whether the sentence is the question, or (`anywhere`) three or more words of it in
    a row."""
    if sentence_words == asked:
        return True
    size = len(sentence_words)
    if not anywhere or size < PARROTED_WORDS:
        return False
    return any(asked[i : i + size] == sentence_words for i in range(len(asked) - size + 1))


def _symbols_dropped(sentence: str) -> str:
    """Emoji and other symbols, which TTS reads out by name or skips, are not said."""
    return "".join(c for c in sentence if unicodedata.category(c) != "So")


def is_identity_question(text: str) -> bool:
    """Whether the user asks who or what Milo is."""
    return bool(IDENTITY.search(text.casefold()))


def is_danger_zone(text: str) -> bool:
    """Whether the request touches safety, locks or alarms."""
    return bool(DANGER.search(text.casefold()))


def hazard(text: str) -> str | None:
    """The danger zone's hazard `text` is about (a tag of `HAZARDS`), or None."""
    lowered = text.casefold()
    return next((tag for tag, pattern in HAZARDS if pattern.search(lowered)), None)
