"""Command-line flags every service takes, so they read the same in docs and unit files."""

from __future__ import annotations

import argparse
import logging

from .. import __version__


def add_service_args(
    parser: argparse.ArgumentParser, *, default_port: int, zeroconf_name: str
) -> None:
    """Add `--uri`, `--zeroconf [NAME]`, `--debug`, `--log-format` and `--version`."""
    parser.add_argument(
        "--uri",
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
