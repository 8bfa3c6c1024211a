"""The benchmark's conversations (requests.toml), read and checked before anything starts.

A typo in the data file should stop the run with the file, the conversation and the field
named, not half an hour later with a KeyError.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
import re
import tomllib
from typing import Any, cast

from .rubric import Tone

DEFAULT_FILE = Path(__file__).with_name("requests.toml")
TOPICS = ("identity", "small_talk", "joke", "insult", "surf", "weather", "danger")
TONES: tuple[Tone, ...] = ("sarcastic", "serious", "")
FACTS = ("weather", "surf", "")
DEFAULT_TONE: dict[str, Tone] = {"joke": "sarcastic", "insult": "sarcastic", "danger": "serious"}
DEFAULT_FACTS = {"weather": "weather", "surf": "surf"}
MAX_TURNS = 5
_TURN_KEYS = {"say", "expect", "identity", "tone", "facts"}
_CONVERSATION_KEYS = {"id", "topic", "turns", "tone", "facts"}


class RequestsError(ValueError):
    """The data file is wrong; the message says where."""


@dataclass(frozen=True)
class Request:
    """One thing the user says, and what the rubric wants of the answer."""

    say: str
    expect: tuple[str, ...]
    identity: bool
    tone: Tone
    facts: str


@dataclass(frozen=True)
class Conversation:
    """One chat: a conversation id of its own, one or more turns."""

    id: str
    topic: str
    turns: tuple[Request, ...]


def load(path: Path = DEFAULT_FILE) -> list[Conversation]:
    """The conversations in a data file; RequestsError says what is wrong and where."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise RequestsError(f"{path}: {err}") from err
    raw = data.get("conversation")
    if not isinstance(raw, list) or not raw:
        raise RequestsError(f"{path}: no [[conversation]] tables")
    conversations = [_conversation(path, index, item) for index, item in enumerate(raw)]
    seen: set[str] = set()
    for conversation in conversations:
        if conversation.id in seen:
            raise RequestsError(f"{path}: conversation id {conversation.id!r} is used twice")
        seen.add(conversation.id)
    return conversations


def _conversation(path: Path, index: int, item: Any) -> Conversation:
    where = f"{path}: conversation #{index + 1}"
    item = _table(where, item, _CONVERSATION_KEYS)
    conv_id = item.get("id")
    if not isinstance(conv_id, str) or not conv_id.strip():
        raise RequestsError(f"{where}: needs an id")
    where = f"{path}: conversation {conv_id!r}"
    topic = item.get("topic")
    if topic not in TOPICS:
        raise RequestsError(f"{where}: topic must be one of {TOPICS}, not {topic!r}")
    turns = item.get("turns")
    if not isinstance(turns, list) or not 1 <= len(turns) <= MAX_TURNS:
        raise RequestsError(f"{where}: turns must be a list of 1 to {MAX_TURNS} turns")
    defaults = {
        "tone": item.get("tone", DEFAULT_TONE.get(topic, "")),
        "facts": item.get("facts", DEFAULT_FACTS.get(topic, "")),
    }
    return Conversation(
        conv_id,
        topic,
        tuple(_turn(f"{where}, turn {n + 1}", turn, defaults) for n, turn in enumerate(turns)),
    )


def _table(where: str, item: Any, allowed: set[str]) -> dict[str, Any]:
    """`item` as a TOML table with no fields but the `allowed` ones."""
    if not isinstance(item, dict):
        raise RequestsError(f"{where}: not a table")
    if unknown := set(item) - allowed:
        raise RequestsError(f"{where}: unknown field(s) {sorted(unknown)}")
    return item


def _turn(where: str, item: Any, defaults: dict[str, Any]) -> Request:
    item = _table(where, item, _TURN_KEYS)
    say = item.get("say")
    if not isinstance(say, str) or not say.strip():
        raise RequestsError(f"{where}: needs a non-empty 'say'")
    expect = item.get("expect")
    if not isinstance(expect, list) or not expect or not all(isinstance(e, str) for e in expect):
        raise RequestsError(f"{where}: 'expect' must be a non-empty list of regular expressions")
    for pattern in expect:
        try:
            re.compile(pattern)
        except re.error as err:
            raise RequestsError(f"{where}: bad regular expression {pattern!r}: {err}") from err
    identity = item.get("identity", False)
    if not isinstance(identity, bool):
        raise RequestsError(f"{where}: 'identity' must be true or false")
    tone = item.get("tone", defaults["tone"])
    if tone not in TONES:
        raise RequestsError(f"{where}: tone must be one of {TONES}, not {tone!r}")
    facts = item.get("facts", defaults["facts"])
    if facts not in FACTS:
        raise RequestsError(f"{where}: facts must be one of {FACTS}, not {facts!r}")
    return Request(say.strip(), tuple(expect), identity, cast("Tone", tone), facts)
