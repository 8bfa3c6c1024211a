"""One demo run: start the stack, speak the requests, look at the head, stop everything.

Shared by `script/demo` (which prints as it goes) and tests/e2e (which asserts on the result).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
import contextlib
from dataclasses import dataclass, field
import logging
from typing import Any

from .errors import StageError
from .playback import RequestResult, play_request
from .report import surf_source_line
from .scenario import Request
from .speech import synthesize_requests
from .stack import DemoStack, StackOptions

_LOGGER = logging.getLogger(__name__)


@dataclass
class DemoRun:
    """Everything a run produced, including what was still running after it."""

    results: list[RequestResult] = field(default_factory=list)
    head: dict[str, Any] = field(default_factory=dict)
    surf: dict[str, Any] = field(default_factory=dict)  # where the surf came from (labelled)
    leftovers: list[str] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    error: StageError | None = None  # a request that could not finish (the rest were skipped)


async def run_demo(
    options: StackOptions,
    requests: tuple[Request, ...],
    *,
    on_result: Callable[[RequestResult], None] | None = None,
    hold: Callable[[DemoStack, DemoRun], Awaitable[None]] | None = None,
) -> DemoRun:
    """Run the scenario; `hold` (e.g. --keep-running) runs before shutdown."""
    run = DemoRun()
    stack = DemoStack(options)
    try:
        _LOGGER.info("starting the services, the simulated satellite and Home Assistant")
        spoken_task = asyncio.create_task(
            synthesize_requests(
                requests,
                options.run_dir / "speech",
                services_python=options.repo / ".venv" / "bin" / "python",
                log=options.run_dir / "speech.log",
            )
        )
        try:
            await stack.start()
        except BaseException:
            spoken_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await spoken_task
            raise
        spoken = await spoken_task
        run.info = stack.describe()
        _LOGGER.info(
            "Home Assistant is set up at %s; playing %d requests", run.info["url"], len(spoken)
        )
        _LOGGER.info("%s", surf_source_line(options.surf, stack.open_meteo))
        for item in spoken:
            try:
                result = await play_request(stack, item)
            except StageError as err:
                run.error = err
                break
            run.results.append(result)
            if on_result is not None:
                on_result(result)
        run.head = await stack.satellite.head_report(
            stack.hass, stack.configured.entries["esphome"]
        )
        run.surf = await stack.surf_report()
        if hold is not None:
            await hold(stack, run)
    finally:
        _LOGGER.info("stopping everything")
        run.leftovers = await stack.stop()
    return run
