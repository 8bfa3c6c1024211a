"""Command-line flags every service takes, so they read the same in docs and unit files."""

from __future__ import annotations

import argparse
from collections.abc import Callable
import logging
import math

from .. import __version__
from .protocol import DEFAULT_FRAME_TIMEOUT, DEFAULT_IDLE_TIMEOUT, ReadTimeouts
from .server import DEFAULT_MAX_CONNECTIONS, ServerLimits, parse_uri


def add_service_args(
    parser: argparse.ArgumentParser, *, default_port: int, zeroconf_name: str
) -> None:
    """Add `--uri`, `--zeroconf [NAME]`, the connection limits, `--debug`, `--log-format`
    and `--version`."""
    parser.add_argument(
        "--uri",
        type=_uri,
        default=f"tcp://0.0.0.0:{default_port}",
        help=f"tcp://HOST:PORT or unix://PATH to listen on (default: tcp://0.0.0.0:{default_port})",
    )
    parser.add_argument(
        "--zeroconf",
        nargs="?",
        const=zeroconf_name,
        metavar="NAME",
        help=f"announce the service over mDNS for Home Assistant (default name: {zeroconf_name})",
    )
    parser.add_argument(
        "--max-connections",
        type=_positive(int),
        default=DEFAULT_MAX_CONNECTIONS,
        metavar="N",
        help="connections served at once; more are refused with a 'too-many-connections' "
        f"error (default: {DEFAULT_MAX_CONNECTIONS})",
    )
    parser.add_argument(
        "--read-timeout",
        type=_positive(float),
        default=DEFAULT_FRAME_TIMEOUT,
        metavar="SECONDS",
        help="an event must arrive whole within this many seconds of its first byte "
        f"(default: {DEFAULT_FRAME_TIMEOUT:g})",
    )
    parser.add_argument(
        "--idle-timeout",
        type=_positive(float),
        default=DEFAULT_IDLE_TIMEOUT,
        metavar="SECONDS",
        help="close a connection that sends nothing for this long with no request in progress "
        f"(default: {DEFAULT_IDLE_TIMEOUT:g})",
    )
    parser.add_argument("--debug", action="store_true", help="log DEBUG messages")
    parser.add_argument(
        "--log-format",
        default="%(asctime)s %(levelname)s %(name)s: %(message)s",
        help="format of log lines (Python logging syntax)",
    )
    parser.add_argument("--version", action="version", version=__version__)


def setup_logging(args: argparse.Namespace) -> None:
    """Configure the root logger from `--debug` and `--log-format`."""
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.INFO, format=args.log_format)


def server_limits(args: argparse.Namespace) -> ServerLimits:
    """The `ServerLimits` the connection flags ask for."""
    return ServerLimits(
        max_connections=args.max_connections,
        timeouts=ReadTimeouts(frame=args.read_timeout, idle=args.idle_timeout),
    )


def _uri(text: str) -> str:
    """--uri checked when the flags are read, before a model loads for seconds."""
    try:
        parse_uri(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return text


def _positive(kind: type[int] | type[float]) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not 0 < value < math.inf:
            raise argparse.ArgumentTypeError(f"must be a finite number above 0, got {text}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse
