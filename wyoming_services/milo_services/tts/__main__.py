"""milo-tts command line: `milo-tts --uri tcp://0.0.0.0:10200 [--zeroconf]`."""

from __future__ import annotations

import argparse
import asyncio
from functools import partial
from importlib.metadata import version
import logging

from wyoming.info import Attribution, Info, TtsProgram, TtsVoice, TtsVoiceSpeaker

from .. import __version__
from ..common.cli import add_service_args, server_limits, setup_logging
from ..common.server import ServiceServer, run_service
from .engine import PiperEngine
from .handler import MAX_REQUEST_TEXT_BYTES, TtsHandler
from .sentences import MAX_SENTENCE_CHARS
from .synthesizer import SpeechSettings, Synthesizer
from .voice import EMBEDDED_VOICE_NAME, find_voice

_LOGGER = logging.getLogger(__name__)

DEFAULT_PORT = 10200


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="milo-tts",
        description="Milo's voice: Wyoming text-to-speech with Piper",
        epilog=f"Limits: {MAX_REQUEST_TEXT_BYTES // 1024} KiB of text per request "
        "('text-too-long' error); sentences over "
        f"{MAX_SENTENCE_CHARS} characters are spoken in pieces cut at clause marks.",
    )
    add_service_args(parser, default_port=DEFAULT_PORT, zeroconf_name="milo-tts")
    parser.add_argument(
        "--voice",
        help="path to a Piper .onnx voice (with its .onnx.json next to it) or a voice name "
        f"found in --data-dir (default: the embedded {EMBEDDED_VOICE_NAME})",
    )
    parser.add_argument(
        "--data-dir",
        action="append",
        default=[],
        help="folder with downloaded Piper voices (repeatable)",
    )
    parser.add_argument("--speaker", help="speaker name or number for multi-speaker voices")
    parser.add_argument(
        "--length-scale", type=float, help="speaking pace: > 1 slower, < 1 faster (default: voice)"
    )
    parser.add_argument(
        "--sentence-silence",
        type=float,
        default=0.0,
        help="seconds of silence after each sentence (default: 0)",
    )
    return parser


def build_info(engine: PiperEngine) -> Info:
    config = engine.config
    language = engine.files.load_config().get("language", {}).get("code", config.espeak_voice)
    speakers = [TtsVoiceSpeaker(name=name) for name in config.speaker_id_map] or None
    return Info(
        tts=[
            TtsProgram(
                name="milo-tts",
                description="Milo text-to-speech: Piper, streaming sentence by sentence",
                attribution=Attribution(
                    name="Open Home Foundation Piper", url="https://github.com/OHF-Voice/piper1-gpl"
                ),
                installed=True,
                version=__version__,
                voices=[
                    TtsVoice(
                        name=engine.files.name,
                        description=f"Piper voice {engine.files.name}",
                        attribution=Attribution(
                            name="rhasspy piper-voices",
                            url="https://huggingface.co/rhasspy/piper-voices",
                        ),
                        installed=True,
                        version=version("piper-tts"),
                        languages=[language],
                        speakers=speakers,
                    )
                ],
                supports_synthesize_streaming=True,
            )
        ]
    )


def load_synthesizer(args: argparse.Namespace) -> Synthesizer:
    files = find_voice(args.voice, args.data_dir)
    _LOGGER.info("Loading voice %s from %s", files.name, files.model)
    settings = SpeechSettings(
        speaker=args.speaker,
        length_scale=args.length_scale,
        sentence_silence=args.sentence_silence,
    )
    return Synthesizer(PiperEngine(files), settings)


async def main(args: argparse.Namespace, synthesizer: Synthesizer) -> None:
    info = build_info(synthesizer.engine)
    server = ServiceServer(
        args.uri,
        partial(TtsHandler, info=info, synthesizer=synthesizer),
        server_limits(args),
    )
    try:
        await run_service(server, zeroconf_name=args.zeroconf)
    finally:
        synthesizer.close()


def run() -> None:
    args = get_parser().parse_args()
    setup_logging(args)
    _LOGGER.debug(args)
    try:
        synthesizer = load_synthesizer(args)
    except (OSError, ValueError) as err:
        raise SystemExit(f"milo-tts: {err}") from None
    asyncio.run(main(args, synthesizer))


if __name__ == "__main__":
    run()
