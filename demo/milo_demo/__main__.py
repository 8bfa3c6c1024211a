"""`script/demo`: Milo end to end, from a spoken question at the satellite to a spoken answer.

Starts milo-stt, milo-tts, milo-llm, a simulated satellite and a real Home Assistant, sets HA
up through its own APIs, plays the demo requests, prints what happened and stops everything.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
from pathlib import Path
import signal
import sys

from .errors import StageError
from .playback import RequestResult
from .report import request_block, summary_table, surf_block
from .run import DemoRun, run_demo
from .scenario import DEMO_REQUESTS
from .stack import DemoStack, StackOptions

_LOGGER = logging.getLogger("milo_demo")
REPO = Path(__file__).resolve().parents[2]


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="script/demo", description=__doc__)
    parser.add_argument(
        "--keep-running",
        action="store_true",
        help="leave Home Assistant and Milo running after the requests (Ctrl-C stops them)",
    )
    parser.add_argument(
        "--run-dir",
        type=Path,
        default=REPO / "demo-run",
        help="where the run's config, logs, speech and answer audio go (default: demo-run/)",
    )
    parser.add_argument(
        "--no-encryption",
        action="store_true",
        help="let HA talk to the satellite in plaintext instead of with a Noise key",
    )
    parser.add_argument(
        "--surf",
        choices=("recorded", "offline"),
        default="recorded",
        help="recorded: surf from a local stand-in serving a recorded forecast, labelled as "
        "recorded (default); offline: no stand-in, Milo must say it has no forecast",
    )
    parser.add_argument(
        "--ha-venv",
        default=".venv-ha",
        help="the environment whose Home Assistant runs: .venv-ha (default, the release the "
        "unit tests pin) or .venv-ha-next (the newest release, made by script/setup)",
    )
    parser.add_argument("--debug", action="store_true", help="log the demo's own DEBUG messages")
    return parser.parse_args(argv)


def _result_json(result: RequestResult) -> dict[str, object]:
    t = result.timings
    return {
        "kind": result.kind,
        "request": result.spoken.request.text,
        "transcript": result.transcript,
        "answer": result.answer,
        "processed_locally": result.processed_locally,
        "audio_file": str(result.audio_file) if result.audio_file else None,
        "audio_seconds": result.audio_seconds,
        "audio_stalled_s": result.audio_stalled_s,
        "light": [result.light_before, result.light_after],
        "error": result.error,
        "pipeline_events": result.events,
        "seconds_after_speech_end": {
            "transcript": t.stt_done,
            "answer_text": t.text_ready,
            "agent_done": t.intent_done,
            "first_audio": t.first_audio,
        },
    }


def _print_summary(run: DemoRun, run_dir: Path) -> None:
    print()
    print(summary_table(run.results))
    print(f"\nhead: {run.head}")
    if run.surf:
        print(surf_block(run.surf))
    results_file = run_dir / "results.json"
    results_file.write_text(
        json.dumps([_result_json(r) for r in run.results], indent=2), encoding="utf-8"
    )
    print(f"results with HA's pipeline events: {results_file}", flush=True)


class _Signals:
    """Ctrl-C / SIGTERM: end --keep-running's wait, or cancel the demo midway.

    Either way the demo's `finally` stops every process it started. The children run in
    their own sessions, so the terminal's Ctrl-C reaches only the demo, which stops them.
    """

    def __init__(self) -> None:
        self.stop = asyncio.Event()
        self.holding = False
        self._task = asyncio.current_task()

    def install(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._on_signal)

    def _on_signal(self) -> None:
        if self.holding:
            self.stop.set()
        elif self._task is not None:
            self._task.cancel()


async def _demo(args: argparse.Namespace) -> int:
    signals = _Signals()
    signals.install()
    run_dir = args.run_dir.resolve()

    def on_result(result: RequestResult) -> None:
        print(request_block(result, args.surf), flush=True)

    async def hold(stack: DemoStack, run: DemoRun) -> None:
        _print_summary(run, run_dir)
        info = stack.describe()
        print(
            f"\nHome Assistant is running at {info['url']}"
            f"\n  login: {info['username']} / {info['password']}"
            f"\n  logs:  {info['logs']}\nPress Ctrl-C to stop everything.",
            flush=True,
        )
        signals.holding = True
        await signals.stop.wait()

    options = StackOptions(
        repo=REPO,
        run_dir=run_dir,
        encryption=not args.no_encryption,
        surf=args.surf,
        ha_venv=args.ha_venv,
    )
    run = await run_demo(
        options, DEMO_REQUESTS, on_result=on_result, hold=hold if args.keep_running else None
    )
    if not args.keep_running:
        _print_summary(run, run_dir)
    if run.leftovers:
        print("processes still running after shutdown:\n  " + "\n  ".join(run.leftovers))
        return 1
    print("stopped everything; no processes left running")
    if run.error is not None:
        print(f"\nDEMO FAILED: {run.error}", file=sys.stderr)
        return 2
    failed = [r for r in run.results if r.error or not r.answer or not r.audio_file]
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    """Run the demo; exit code 0 when every request was answered."""
    args = _parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.INFO,
        format="[demo] %(message)s",
        stream=sys.stdout,
    )
    logging.getLogger("aiohttp").setLevel(logging.WARNING)

    try:
        return asyncio.run(_demo(args))
    except StageError as err:
        print(f"\nDEMO FAILED: {err}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, asyncio.CancelledError):
        return 130


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())
