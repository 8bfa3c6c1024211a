"""Which exposed device a command or a state question is about, for what HA's intents miss.

HA's sentence templates want the words in their order ("turn off the kitchen plug"); people
say "switch off the plug in the kitchen", "start Roborock downstairs vacuum" or "are the
outdoor speakers playing, paused, or stopped?". Here a name matches when all its words are
said, in any order, a near-miss word counting less than the word itself; the area said
picks between devices of the same name. This module knows no Home Assistant: devices come in
as plain names (see `local_commands` for where from and how the command runs).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher
import re
from typing import Literal

from .home_names import words

Action = Literal[
    "turn_on", "turn_off", "lock", "unlock", "open", "close", "start", "return", "pause",
    "resume", "set", "state",
]  # fmt: skip

# The words that may come before the verb: "Milo, could you please unlock the door".
LEAD_INS = frozenset(
    {"hey", "hi", "ok", "okay", "milo", "please", "can", "could", "would", "will", "you",
     "just", "go", "ahead", "and", "kindly"}
)  # fmt: skip
# A verb said first and the action it asks for; "turn" and "switch" need an on or off.
VERBS: dict[str, Action] = {
    "unlock": "unlock",
    "lock": "lock",
    "open": "open",
    "close": "close",
    "shut": "close",
    "start": "start",
    "dock": "return",
    "return": "return",
    "pause": "pause",
    "resume": "resume",
    "unpause": "resume",
    "activate": "turn_on",
    "enable": "turn_on",
    "deactivate": "turn_off",
    "disable": "turn_off",
    "kill": "turn_off",
    "set": "set",
    "dim": "set",
}
ON_OFF_VERBS = frozenset({"turn", "switch", "power", "shut"})
# Words that name nothing: "open the garage" names only an area.
FILLER = LEAD_INS | set(VERBS) | ON_OFF_VERBS | {
    "the", "a", "an", "in", "on", "off", "of", "my", "to", "at", "all", "up", "now", "send",
    "home",
}  # fmt: skip
# A question about how something is: "is the door locked", "what's the lock battery".
QUESTION_WORDS = frozenset({"is", "are", "was", "what", "whats", "how", "hows", "which", "does"})
# What a question about a state may say besides the device: "is it on or off right now".
STATE_WORDS = frozenset(
    {"on", "off", "or", "open", "opened", "closed", "locked", "unlocked", "playing", "paused",
     "stopped", "idle", "docked", "cleaning", "running", "state", "status", "battery", "level",
     "temperature", "set", "doing", "it", "its", "much", "left", "have", "has", "do",
     "currently", "right", "still", "charged", "charging", "percent", "there", "be"}
)  # fmt: skip
ON_OFF_DOMAINS = frozenset(
    {"light", "switch", "fan", "input_boolean", "media_player", "climate", "humidifier",
     "siren", "automation", "script", "scene", "button", "input_button"}
)  # fmt: skip
DOMAINS: dict[Action, frozenset[str] | None] = {
    "turn_on": ON_OFF_DOMAINS,
    "turn_off": ON_OFF_DOMAINS - {"scene", "script", "button", "input_button"},
    "lock": frozenset({"lock"}),
    "unlock": frozenset({"lock"}),
    "open": frozenset({"cover", "valve"}),
    "close": frozenset({"cover", "valve"}),
    "start": frozenset({"vacuum"}),
    "return": frozenset({"vacuum"}),
    "pause": frozenset({"media_player"}),
    "resume": frozenset({"media_player"}),
    "set": frozenset({"light", "cover", "valve", "climate", "media_player"}),
    "state": None,  # any
}
# The words for a kind of device: "start the vacuum", "turn off the fan".
KIND_WORDS = {
    "vacuum": {"vacuum", "hoover", "robot"},
    "fan": {"fan"},
    "light": {"light", "lights", "lamp"},
    "media_player": {"tv", "music", "speaker", "speakers"},
}
# Doors, windows and alarms: acted on only for a name said word for word, and only one.
SENSITIVE_DOMAINS = frozenset({"lock", "cover", "valve", "alarm_control_panel"})
# A near-miss word ("roborok", "speaker" for "speakers") counts this much of a word.
NEAR_MISS = 0.85


@dataclass(frozen=True, slots=True)
class Device:
    """An exposed entity as a request may name it."""

    entity_id: str
    names: tuple[str, ...]  # its name first, then its aliases
    areas: tuple[str, ...] = ()  # its area's name and aliases, then its floor's

    @property
    def domain(self) -> str:
        return self.entity_id.split(".", 1)[0]

    @property
    def name(self) -> str:
        return self.names[0]


WHOLE, PARTIAL, KIND = 2, 1, 0


@dataclass(frozen=True, slots=True, order=True)
class Fit:
    """How well a sentence names a device: the better tier first, then the score."""

    tier: int
    score: float
    exact: bool = field(compare=False)


@dataclass(frozen=True, slots=True)
class Command:
    """What was asked: an action, with its number for "set", for one device or a choice."""

    action: Action
    devices: tuple[Device, ...]  # one: do it; several equally good: ask which
    value: int | None = None


def match(
    text: str, devices: Iterable[Device], places: Iterable[str] = (), *, whole_names: bool = False
) -> Command | None:
    """The command `text` gives about one of `devices` (`places`: every area's and floor's
    names), or None when it names no verb Milo knows or no device that verb fits.

    `whole_names`: only a device whose whole name is said (not "turn on the kitchen" for
    the kitchen light: the end of turn asks it, and the user may be about to say "light").
    """
    said = list(words(text))
    action, value = _action(said)
    if action is None:
        return None
    domains = DOMAINS[action]
    place_words = [words(place) for place in places]
    scored: list[tuple[Fit, Device]] = []
    for device in devices:
        if domains is not None and device.domain not in domains:
            continue
        fit = _fit(device, said, place_words, loose=action != "state" and not whole_names)
        if fit is not None:
            scored.append((fit, device))
    if not scored:
        return None
    best = max(fit for fit, _ in scored)
    found = tuple(device for fit, device in scored if fit == best)
    if action == "state" and _asks_more(said, found[0]):
        return None  # "is the kitchen lamp good enough for reading?" is the model's
    if any(device.domain in SENSITIVE_DOMAINS for device in found) and not (
        best.exact and len(found) == 1 and best.tier != PARTIAL
    ):
        return None  # a near miss or half a name never opens or unlocks anything
    return Command(action, found, value)


def _action(said: list[str]) -> tuple[Action | None, int | None]:
    """The action the sentence's first real word asks for, and the number for "set"."""
    start = 0
    while start < len(said) and said[start] in LEAD_INS:
        start += 1
    rest = said[start:]
    if not rest:
        return None, None
    verb = rest[0]
    if verb in ON_OFF_VERBS and ("on" in rest or "off" in rest):
        on = "on" in rest and ("off" not in rest or rest.index("on") < rest.index("off"))
        return ("turn_on" if on else "turn_off"), None
    if verb == "send" and "home" in rest:
        return "return", None
    if verb in QUESTION_WORDS:
        return "state", None
    action = VERBS.get(verb)
    if action == "set":
        numbers = [int(word) for word in rest if word.isdigit()]
        return (action, numbers[-1]) if numbers else (None, None)
    return action, None


def _fit(
    device: Device, said: Sequence[str], places: list[tuple[str, ...]], *, loose: bool
) -> Fit | None:
    """How well the sentence names `device`; None when it doesn't, or names another area.

    A name said in full is best, then (for a command, not a question) part of a name, then
    the device's area or its kind ("start the vacuum"); the area said counts on top.
    """
    whole = max((_said_in(words(name), said) for name in device.names), default=0)
    part = max((_part_said(words(name), said) for name in device.names), default=0)
    own = [area for area in map(words, device.areas) if area]
    in_area = any(_said_in(area, said) == len(area) for area in own)
    named = {word for name in device.names for word in words(name)}
    if not in_area and any(
        place and _said_in(place, said) == len(place) and not set(place) <= named
        for place in places
    ):
        return None  # "the plug in the office" is not the kitchen's plug
    if whole:
        return Fit(WHOLE, whole + in_area, whole.is_integer())
    if not loose:
        return None
    # "Open the garage": only the area is said (the garage door's name is half said too).
    if in_area and not set(said) - FILLER - {word for area in own for word in area}:
        return Fit(KIND, 1, exact=True)
    if part:
        return Fit(PARTIAL, part + in_area, exact=True)
    if KIND_WORDS.get(device.domain, set()) & set(said):
        return Fit(KIND, float(in_area), exact=True)
    return None


def _asks_more(said: Sequence[str], device: Device) -> bool:
    """Whether a question says more than the device and its state: "is the lamp on" asks
    its state, "is the lamp good enough for reading" more than that."""
    own = {word for name in (*device.names, *device.areas) for word in words(name)}
    return bool(set(said) - own - FILLER - QUESTION_WORDS - STATE_WORDS)


def _part_said(name: tuple[str, ...], said: Sequence[str]) -> float:
    """The share of a name of two words or more said word for word: "the roborock"."""
    if len(name) < 2:
        return 0
    return sum(word in said for word in name) / len(name)


def _said_in(name: tuple[str, ...], said: Sequence[str]) -> float:
    """The words of `name` found in `said`, each once, in any order (a near miss counts
    NEAR_MISS); 0 unless every word of the name is there."""
    free = list(said)
    total = 0.0
    for word in name:
        weight, at = max(((_like(word, other), i) for i, other in enumerate(free)), default=(0, 0))
        if weight == 0:
            return 0
        total += weight
        del free[at]
    return total


def _like(word: str, other: str) -> float:
    """1 for the same word (a plural is the same), NEAR_MISS for a near miss, else 0."""
    if word == other or _singular(word) == _singular(other):
        return 1
    if min(len(word), len(other)) >= 5 and SequenceMatcher(None, word, other).ratio() >= 0.8:
        return NEAR_MISS
    return 0


def _singular(word: str) -> str:
    return re.sub(r"(?<=[^s])s$", "", word) if len(word) > 3 else word
