"""milo-stt command line: `milo-stt --uri tcp://0.0.0.0:10300 [--zeroconf]`."""

from __future__ import annotations

import argparse
import asyncio
from functools import partial
import logging
import os
from pathlib import Path

import faster_whisper
from wyoming.info import AsrModel, AsrProgram, Attribution, Info

from .. import __version__
from ..common.cli import add_service_args, server_limits, setup_logging
from ..common.server import ServiceServer, run_service
from .biasing import Vocabulary, merge_phrases
from .handler import MAX_AUDIO_BYTES, MAX_AUDIO_SECONDS, MAX_CHUNK_BYTES, SttHandler
from .speculation_feed import SpeculationFeed
from .transcriber import (
    DEFAULT_COMPUTE_TYPE,
    EMBEDDED_MODEL_NAME,
    Transcriber,
    embedded_model_dir,
)

_LOGGER = logging.getLogger(__name__)

DEFAULT_PORT = 10300


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="milo-stt",
        description="Milo's ears: Wyoming speech-to-text with faster-whisper",
        epilog=f"Limits: {MAX_AUDIO_SECONDS:.0f} s of audio per request ('audio-too-long'), "
        f"{MAX_AUDIO_BYTES // 2**20} MiB of audio held per connection ('audio-too-large'), "
        f"{MAX_CHUNK_BYTES // 2**20} MiB per audio chunk ('too-large').",
    )
    add_service_args(parser, default_port=DEFAULT_PORT, zeroconf_name="milo-stt")
    parser.add_argument(
        "--model",
        help="CTranslate2 model folder, or a faster-whisper model name already in the local "
        f"Hugging Face cache (default: the embedded whisper {EMBEDDED_MODEL_NAME})",
    )
    parser.add_argument(
        "--language", help="language code to transcribe (default: en, or detect if multilingual)"
    )
    parser.add_argument(
        "--beam-size",
        type=int,
        default=0,
        help="beam search width; 1 is greedy (default 0 = auto: 1 on ARM, 5 elsewhere)",
    )
    parser.add_argument(
        "--compute-type",
        default=DEFAULT_COMPUTE_TYPE,
        help="CTranslate2 compute type: int8, float32, 'default' = the model's own "
        f"(default: {DEFAULT_COMPUTE_TYPE})",
    )
    parser.add_argument(
        "--threads", type=int, default=0, help="CPU threads for inference (default: 4)"
    )
    parser.add_argument(
        "--hotwords",
        nargs="+",
        default=[],
        metavar="PHRASE",
        help="names and phrases to bias recognition towards, e.g. --hotwords Portrush "
        "'East Strand' (commas also separate phrases)",
    )
    parser.add_argument(
        "--speculation",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="start transcribing as soon as the speech stops, while the client still waits "
        "for silence; same transcripts, earlier, and published to subscribers such as "
        "Milo's integration (default: on)",
    )
    return parser


def build_info(transcriber: Transcriber) -> Info:
    return Info(
        asr=[
            AsrProgram(
                name="milo-stt",
                description="Milo speech-to-text: faster-whisper on CTranslate2",
                attribution=Attribution(
                    name="SYSTRAN faster-whisper", url="https://github.com/SYSTRAN/faster-whisper"
                ),
                installed=True,
                version=__version__,
                models=[
                    AsrModel(
                        name=transcriber.model_name,
                        description=f"Whisper {transcriber.model_name} (CTranslate2)",
                        attribution=Attribution(
                            name="OpenAI Whisper", url="https://github.com/openai/whisper"
                        ),
                        installed=True,
                        version=faster_whisper.__version__,
                        languages=transcriber.languages,
                    )
                ],
                supports_transcript_streaming=False,
            )
        ]
    )


def split_hotwords(values: list[str]) -> list[str]:
    return merge_phrases(part for value in values for part in value.split(","))


def load_transcriber(args: argparse.Namespace) -> Transcriber:
    if not args.model:
        model, name = str(embedded_model_dir()), EMBEDDED_MODEL_NAME
    elif "/" in args.model or Path(args.model).exists():
        if not Path(args.model, "model.bin").is_file():
            raise FileNotFoundError(f"{args.model} is not a CTranslate2 model folder")
        model, name = args.model, Path(args.model).name
    else:
        model, name = args.model, args.model
    try:
        return Transcriber(
            model,
            name=name,
            compute_type=args.compute_type,
            threads=args.threads or None,
            beam_size=args.beam_size or None,
            language=args.language,
        )
    except (OSError, RuntimeError) as err:
        if model != args.model or "/" in model:
            raise
        raise FileNotFoundError(
            f"model {model!r} is not in the local Hugging Face cache and milo-stt never "
            f"downloads at run time: fetch it once (huggingface-cli download "
            f"Systran/faster-whisper-{model}) or pass a CTranslate2 model folder"
        ) from err


async def main(args: argparse.Namespace, transcriber: Transcriber) -> None:
    info = build_info(transcriber)
    vocabulary = Vocabulary(transcriber.count_tokens, split_hotwords(args.hotwords))
    server = ServiceServer(
        args.uri,
        partial(
            SttHandler,
            info=info,
            transcriber=transcriber,
            vocabulary=vocabulary,
            speculate=args.speculation,
            feed=SpeculationFeed(),
        ),
        server_limits(args),
    )
    try:
        await run_service(server, zeroconf_name=args.zeroconf)
    finally:
        transcriber.close()


def run() -> None:
    args = get_parser().parse_args()
    setup_logging(args)
    _LOGGER.debug(args)
    try:
        transcriber = load_transcriber(args)
    except (OSError, RuntimeError, ValueError) as err:  # missing model folder or files
        raise SystemExit(f"milo-stt: {err}") from None
    asyncio.run(main(args, transcriber))
    if transcriber.busy:
        # Whisper cannot be interrupted, and Python would wait for it at exit (a long
        # request: half a minute). Its client is gone and nothing is left to save.
        _LOGGER.info("Stopped; not waiting for the transcription still running")
        logging.shutdown()
        os._exit(0)


if __name__ == "__main__":
    run()
