"""From replies to verdicts and figures: what the rubric is given, and the pass rates.

The rubric (rubric.py) judges one answer; this module gives it the context from the run
(what the model was told, the facts, the conversation so far) and adds up the results,
the same way for Milo and for the baseline.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass
import math
import re
import statistics
from typing import Any

from .conversations import Request
from .rubric import CHECKS, Turn

# The agent's note before the newest question: "(Current time is ... )\nWhat's up?"
_NOTE = re.compile(r"^\((.*)\)\n", re.DOTALL)
# Quoted lines in a prompt are examples of what to say (the line bank's voice), not
# instructions: saying one is in character, not a recital.
_QUOTED = re.compile(r"\"[^\"\n]{3,}\"")


@dataclass
class Record:
    """One scored answer."""

    agent: str
    seed: int
    conversation: str
    topic: str
    turn: int  # 1-based
    multi_turn: bool
    request: str
    answer: str
    first_text_s: float | None
    total_s: float
    verdicts: dict[str, bool | None]
    error: str = ""

    def as_json(self) -> dict[str, Any]:
        """The record for results JSON."""
        return asdict(self)


def told(model_requests: Iterable[dict[str, Any]]) -> tuple[str, str]:
    """What the model was told, from the recorded requests: (the instructions: system
    prompts, tool descriptions and the agent's notes; the rest it was given: the user
    messages without their notes, and tool results). Its own earlier answers are neither."""
    instructions: list[str] = []
    given: list[str] = []
    for body in model_requests:
        for message in body.get("messages") or []:
            content = message.get("content")
            if not isinstance(content, str):
                continue
            role = message.get("role")
            if role in ("system", "developer"):
                instructions.append(content)
            elif role == "user" and (note := _NOTE.match(content)):
                instructions.append(note.group(1))
                given.append(content[note.end() :])
            elif role in ("user", "tool"):
                given.append(content)
        for tool in body.get("tools") or []:
            instructions.append(str((tool.get("function") or {}).get("description") or ""))
    return _QUOTED.sub(" / ", "\n".join(instructions)), "\n".join(given)


def judge(
    request: Request,
    answer: str,
    *,
    model_requests: list[dict[str, Any]],
    facts: str,
    user_texts: tuple[str, ...],
    earlier_answers: tuple[str, ...],
) -> dict[str, bool | None]:
    """The rubric's verdicts on one answer in its conversation."""
    instructions, given = told(model_requests)
    turn = Turn(
        request=request.say,
        answer=answer,
        expect=request.expect,
        identity=request.identity,
        tone=request.tone,
        earlier_answers=earlier_answers,
        prompt=instructions,
        facts=f"{facts}\n{given}",
        user_texts=user_texts,
    )
    return {name: check(turn) for name, check in CHECKS.items()}


def percentile(values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def _times(records: list[Record]) -> dict[str, Any]:
    values = [r.first_text_s for r in records if r.first_text_s is not None]
    return {
        "median": statistics.median(values) if values else None,
        "p90": percentile(values, 0.9),
        "n": len(values),
    }


def _rate(records: list[Record]) -> dict[str, Any]:
    verdicts = [v for r in records for v in r.verdicts.values() if v is not None]
    passed = sum(verdicts)
    return {
        "passed": passed,
        "checked": len(verdicts),
        "rate": passed / len(verdicts) if verdicts else None,
    }


def summarize(records: list[Record]) -> dict[str, Any]:
    """Pass rates per rubric line, overall, per topic, and the times, for one agent."""
    checks = {}
    for name in CHECKS:
        verdicts = [r.verdicts[name] for r in records if r.verdicts[name] is not None]
        checks[name] = {
            "passed": sum(bool(v) for v in verdicts),
            "checked": len(verdicts),
            "rate": sum(bool(v) for v in verdicts) / len(verdicts) if verdicts else None,
        }
    by_topic: dict[str, list[Record]] = defaultdict(list)
    for record in records:
        by_topic[record.topic].append(record)
    return {
        "answers": len(records),
        "overall": _rate(records),
        "answers_passing_every_check": (
            sum(all(v is not False for v in r.verdicts.values()) for r in records) / len(records)
            if records
            else None
        ),
        "checks": checks,
        "by_topic": {topic: _rate(items) for topic, items in sorted(by_topic.items())},
        "multi_turn": _rate([r for r in records if r.multi_turn]),
        "first_text_s": _times(records),
        "first_text_s_by_topic": {
            topic: _times(items) for topic, items in sorted(by_topic.items())
        },
        "goal_counts": {
            "repeated_sentences": checks["no_repeat"]["checked"] - checks["no_repeat"]["passed"],
            "recitals": checks["no_recital"]["checked"] - checks["no_recital"]["passed"],
            "silent_or_offline": checks["non_empty"]["checked"] - checks["non_empty"]["passed"],
            "errors": sum(bool(r.error) for r in records),
        },
    }
