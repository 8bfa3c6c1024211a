"""`milo-satellite`: run Milo's body until SIGTERM (systemd) or Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys

from .config import ConfigError, SatelliteConfig, load_config

_LOGGER = logging.getLogger("milo_satellite")


async def _serve(config: SatelliteConfig) -> None:
    from .app import SatelliteApp  # noqa: PLC0415 - after logging is set up

    app = SatelliteApp(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    with contextlib.suppress(NotImplementedError):
        loop.add_signal_handler(signal.SIGUSR1, app.replay_microphone)
    await app.start()
    try:
        await stop.wait()
    finally:
        _LOGGER.info("Shutting down")
        await app.stop()


def run(argv: list[str] | None = None) -> None:
    try:
        config = load_config(argv)
    except ConfigError as err:
        print(f"milo-satellite: {err}", file=sys.stderr)
        sys.exit(2)
    logging.basicConfig(
        level=logging.DEBUG if config.debug else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        asyncio.run(_serve(config))
    except Exception as err:  # a clear last word in the journal, then a failing exit code
        _LOGGER.critical("milo-satellite stopped: %s", err, exc_info=config.debug)
        sys.exit(1)


if __name__ == "__main__":
    run()
