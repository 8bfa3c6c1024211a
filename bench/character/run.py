"""Milo's character benchmark: the real agent against a plain-persona baseline, same model.

Starts milo-llm (the embedded SmolLM2-135M) and a real Home Assistant with Milo configured
as `script/demo` configures it, then sends every request of requests.toml to Milo's agent
(an Assist pipeline run from text) and to the baseline (the same model with only "You are
Milo, a sarcastic but friendly desk robot." as its system prompt), once per seed.
Every answer is scored with the rubric (RUBRIC.md); pass rates per rubric line and
overall, and the time to first text, go to bench/results/character.json.

    .venv-ha/bin/python bench/character/run.py                # all requests, 3 seeds
    .venv-ha/bin/python bench/character/run.py --limit 12 --seeds 1   # a quick look
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
import itertools
import json
import os
from pathlib import Path
import platform
import subprocess
import sys
import time
from typing import Any

REPO = Path(__file__).resolve().parents[2]
# The repository and the demo package, instead of this folder (its module names are generic).
sys.path[0:1] = [str(REPO), str(REPO / "demo")]

import aiohttp  # noqa: E402
from milo_demo.errors import StageError  # noqa: E402

from bench.character.agents import BaselineAgent, MiloAgent, Reply  # noqa: E402
from bench.character.conversations import (  # noqa: E402
    DEFAULT_FILE,
    Conversation,
    RequestsError,
    load,
)
from bench.character.scoring import Record, judge, summarize  # noqa: E402
from bench.character.stack import CharacterStack  # noqa: E402

AGENTS = ("milo", "baseline")
ANSWER_PREVIEW = 70
TICK_S = 10.0


def pick(conversations: Sequence[Conversation], limit: int | None) -> list[Conversation]:
    """At most `limit` requests in whole conversations, taken from each topic in turn, so a
    small run still covers every topic (None: all of them, in file order)."""
    if limit is None:
        return list(conversations)
    by_topic: dict[str, list[Conversation]] = {}
    for conversation in conversations:
        by_topic.setdefault(conversation.topic, []).append(conversation)
    picked: list[Conversation] = []
    total = 0
    for conversation in itertools.chain.from_iterable(itertools.zip_longest(*by_topic.values())):
        if conversation is None or total + len(conversation.turns) > limit:
            continue
        picked.append(conversation)
        total += len(conversation.turns)
    return picked or [min(conversations, key=lambda c: len(c.turns))]


class Bench:
    """One benchmark run: every conversation, every seed, both agents."""

    def __init__(self, stack: CharacterStack, conversations: list[Conversation], seeds: int):
        self.stack = stack
        self.conversations = conversations
        self.seeds = seeds
        self.records: list[Record] = []
        self.total = sum(len(c.turns) for c in conversations) * seeds * len(AGENTS)

    async def run(self, agents: Sequence[str], after_conversation: Callable[[], object]) -> None:
        """Each seed in turn; per conversation the agents alternate who goes first, so
        neither always finds the model's caches warmed by the other."""
        async with aiohttp.ClientSession() as session:
            milo, baseline = MiloAgent(self.stack), BaselineAgent(self.stack, session)
            for seed in range(1, self.seeds + 1):
                self.stack.recorder.seed = seed
                for index, conversation in enumerate(self.conversations):
                    order = list(agents) if (index + seed) % 2 else list(reversed(agents))
                    for name in order:
                        if name == "milo":
                            await self._milo(milo, conversation, seed)
                        else:
                            await self._baseline(baseline, conversation, seed)
                    after_conversation()

    async def _milo(self, agent: MiloAgent, conversation: Conversation, seed: int) -> None:
        conversation_id: str | None = None
        answers: list[str] = []
        for number, request in enumerate(conversation.turns, 1):
            try:
                reply = await agent.ask(request.say, conversation_id)
            except (TimeoutError, StageError) as err:
                reply = Reply("", None, 0.0, error=f"no answer: {err}")
            conversation_id = reply.conversation_id or conversation_id
            self._score(
                "milo",
                seed=seed,
                conversation=conversation,
                number=number,
                reply=reply,
                answers=answers,
            )
            answers.append(reply.text)

    async def _baseline(self, agent: BaselineAgent, conversation: Conversation, seed: int) -> None:
        history: list[dict[str, Any]] = []
        answers: list[str] = []
        for number, request in enumerate(conversation.turns, 1):
            reply = await agent.ask(history, request.say)
            history += [
                {"role": "user", "content": request.say},
                {"role": "assistant", "content": reply.text},
            ]
            self._score(
                "baseline",
                seed=seed,
                conversation=conversation,
                number=number,
                reply=reply,
                answers=answers,
            )
            answers.append(reply.text)

    def _score(
        self,
        agent: str,
        *,
        seed: int,
        conversation: Conversation,
        number: int,
        reply: Reply,
        answers: list[str],
    ) -> None:
        request = conversation.turns[number - 1]
        verdicts = judge(
            request,
            reply.text,
            model_requests=reply.model_requests,
            facts=self.stack.facts.of(request.facts),
            user_texts=tuple(turn.say for turn in conversation.turns[:number]),
            earlier_answers=tuple(answers),
        )
        record = Record(
            agent=agent,
            seed=seed,
            conversation=conversation.id,
            topic=conversation.topic,
            turn=number,
            multi_turn=len(conversation.turns) > 1,
            request=request.say,
            answer=reply.text,
            first_text_s=reply.first_text_s,
            total_s=reply.total_s,
            verdicts=verdicts,
            error=reply.error,
        )
        self.records.append(record)
        self._progress(record)

    def _progress(self, record: Record) -> None:
        failed = [name for name, verdict in record.verdicts.items() if verdict is False]
        first = "   -  " if record.first_text_s is None else f"{record.first_text_s:5.2f}s"
        answer = " ".join(record.answer.split())
        if len(answer) > ANSWER_PREVIEW:
            answer = answer[: ANSWER_PREVIEW - 1] + "…"
        print(
            f"[{len(self.records):>3}/{self.total}] seed {record.seed} {record.agent:<8} "
            f"{record.conversation[:18]:<18} {record.turn} {first} "
            f"{'ok' if not failed else 'FAIL ' + ','.join(failed)}\n      {answer!r}",
            flush=True,
        )


def _git(*args: str) -> str:
    try:
        return subprocess.run(
            ["git", *args], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def _table(summaries: dict[str, dict[str, Any]]) -> str:
    """Pass rates per rubric line, Milo against the baseline, as markdown."""

    def rate(entry: dict[str, Any]) -> str:
        if entry["rate"] is None:
            return "n/a"
        return f"{entry['rate']:.1%} ({entry['passed']}/{entry['checked']})"

    def seconds(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f} s"

    names = list(summaries)
    lines = [
        f"| Rubric line | {' | '.join(names)} |",
        f"| --- |{' --- |' * len(names)}",
    ]
    first = summaries[names[0]]
    for check in first["checks"]:
        lines.append(
            f"| {check} | {' | '.join(rate(summaries[n]['checks'][check]) for n in names)} |"
        )
    lines.append(f"| **overall** | {' | '.join(rate(summaries[n]['overall']) for n in names)} |")
    lines.append(
        "| answers passing every check | "
        + " | ".join(f"{summaries[n]['answers_passing_every_check']:.1%}" for n in names)
        + " |"
    )
    for label, key in (("median", "median"), ("p90", "p90")):
        lines.append(
            f"| time to first text, {label} | "
            + " | ".join(seconds(summaries[n]["first_text_s"][key]) for n in names)
            + " |"
        )
    return "\n".join(lines)


def _topic_table(summaries: dict[str, dict[str, Any]]) -> str:
    """Overall pass rate and median time to first text per topic, as markdown."""
    names = list(summaries)

    def cells(rate: dict[str, Any], times: dict[str, Any] | None) -> list[str]:
        median = None if times is None else times["median"]
        return [
            "n/a" if rate["rate"] is None else f"{rate['rate']:.1%}",
            "-" if median is None else f"{median:.2f} s",
        ]

    lines = [
        f"| Topic | {' | '.join(f'{n} pass rate | {n} first text' for n in names)} |",
        f"| --- |{' --- | --- |' * len(names)}",
    ]
    for topic in summaries[names[0]]["by_topic"]:
        row = [
            cell
            for n in names
            for cell in cells(
                summaries[n]["by_topic"][topic], summaries[n]["first_text_s_by_topic"][topic]
            )
        ]
        lines.append(f"| {topic} | {' | '.join(row)} |")
    row = [cell for n in names for cell in cells(summaries[n]["multi_turn"], None)]
    lines.append(f"| multi-turn turns | {' | '.join(row)} |")
    return "\n".join(lines)


async def _tick(started: float) -> None:
    """Say every few seconds that the start is still going (hass takes a while)."""
    while True:
        await asyncio.sleep(TICK_S)
        print(f"  still starting ({time.monotonic() - started:.0f} s)", flush=True)


class Report:
    """The results file, rewritten after every conversation: a long run that is stopped
    early still leaves its figures, marked incomplete."""

    def __init__(self, args: argparse.Namespace, conversations: list[Conversation]) -> None:
        self.path: Path = args.out
        self.agents: list[str] = args.agents
        self.started = time.time()
        self.meta = {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "git_commit": _git("rev-parse", "HEAD"),
            # What the run used that the commit does not have (other work in progress).
            "git_uncommitted": _git(
                "status",
                "--porcelain",
                "--",
                "custom_components",
                "wyoming_services",
                "demo",
                "bench",
            ).splitlines(),
            "machine": {
                "cpus": len(os.sched_getaffinity(0)),
                "platform": platform.platform(),
                "processor": platform.processor() or platform.machine(),
                "load_average_before": os.getloadavg(),
            },
            "requests": sum(len(c.turns) for c in conversations),
            "conversations": len(conversations),
            "seeds": list(range(1, args.seeds + 1)),
            "limit": args.limit,
        }

    def write(self, records: list[Record], *, complete: bool) -> dict[str, Any]:
        """Summarize the records so far and write the file; returns the report."""
        report = {
            **self.meta,
            "complete": complete,
            "seconds": round(time.time() - self.started),
            "load_average_after": os.getloadavg(),
            "summary": {
                agent: summarize([r for r in records if r.agent == agent]) for agent in self.agents
            },
            "answers": [record.as_json() for record in records],
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".tmp")  # ignored by git
        partial.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", "utf-8")
        partial.replace(self.path)
        return report


async def _main(
    args: argparse.Namespace, conversations: list[Conversation], report: Report
) -> dict[str, Any]:
    stack = CharacterStack(REPO, args.run_dir.resolve())
    logs = stack.supervisor.logs_dir
    print(f"starting milo-llm and Home Assistant (a minute or two; logs in {logs})", flush=True)
    started = time.monotonic()
    ticker = asyncio.create_task(_tick(started))
    try:
        await stack.start()
    finally:
        ticker.cancel()
    report.meta["facts"] = {"weather": stack.facts.weather, "surf": stack.facts.surf}
    print(f"ready in {time.monotonic() - started:.0f} s: Home Assistant at {stack.hass.base_url}")
    bench = Bench(stack, conversations, args.seeds)
    try:
        await bench.run(args.agents, lambda: report.write(bench.records, complete=False))
    finally:
        leftovers = await stack.stop()
        if leftovers:
            print(f"still running after stop: {leftovers}", file=sys.stderr)
    return report.write(bench.records, complete=True)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--limit",
        type=int,
        default=None,
        metavar="N",
        help="at most N requests, whole conversations taken from every topic in turn "
        "(default: all)",
    )
    parser.add_argument(
        "--seeds", type=int, default=3, metavar="N", help="runs with seeds 1..N (default 3)"
    )
    parser.add_argument(
        "--requests", type=Path, default=DEFAULT_FILE, help="the data file (requests.toml)"
    )
    parser.add_argument(
        "--agents",
        nargs="+",
        choices=AGENTS,
        default=list(AGENTS),
        help="who answers (default: milo baseline)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=REPO / "bench" / "results" / "character.json",
        help="results file (default bench/results/character.json)",
    )
    parser.add_argument(
        "--run-dir",
        type=Path,
        default=REPO / "demo-run" / "character",
        help="HA config and logs of the run (default demo-run/character)",
    )
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be at least 1")
    if args.seeds < 1:
        parser.error("--seeds must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit status 1 on a setup failure, 2 on a bad data file."""
    args = _parse_args(argv)
    try:
        conversations = pick(load(args.requests), args.limit)
    except RequestsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    turns = sum(len(c.turns) for c in conversations)
    print(
        f"{turns} requests in {len(conversations)} conversations x {args.seeds} seed(s) x "
        f"{len(args.agents)} agent(s) = {turns * args.seeds * len(args.agents)} answers; "
        f"results go to {args.out}",
        flush=True,
    )
    report = Report(args, conversations)
    try:
        results = asyncio.run(_main(args, conversations, report))
    except StageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print()
    print(_table(results["summary"]))
    print()
    print(_topic_table(results["summary"]))
    for agent, summary in results["summary"].items():
        print(f"{agent}: {summary['goal_counts']}")
    print(f"\nresults: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
