"""`milo-satellite-config`: the config file written from what is attached, safe to re-run.

`install.sh` calls `milo-satellite-config write` after installing the package. It fills
in only what the file does not say yet (the name, an encryption key, the microphone and
speaker commands, the head's camera and servo board), so a second run, or a run after the
user edited the file, changes nothing they chose, and above all keeps the key Home
Assistant already has. The result is checked with the satellite's own loader before it
replaces the old file, atomically, readable only by root and the `milo` group (it holds
the key).
"""

from __future__ import annotations

import argparse
import base64
import os
from pathlib import Path
import socket
import sys
from typing import Any

import yaml

from .api.zeroconf import local_address
from .config import DEFAULT_MIC_COMMAND, DEFAULT_SND_COMMAND, SatelliteConfig, validate
from .hardware import Hardware, SoundDevice, detect
from .settings import ConfigError, load_settings

DEFAULT_CONFIG = Path("/etc/milo/satellite.yaml")
BUDDIES_FILE = "/var/lib/milo/buddies.json"  # the systemd unit's StateDirectory
HEADER = (
    "# Milo's satellite. Written by install.sh (milo-satellite-config), which only adds\n"
    "# what is missing: edit freely. Every option: satellite/config.example.yaml.\n"
)


def new_key() -> str:
    """A Noise pre-shared key, as ESPHome's `api: encryption: key:` (32 random bytes)."""
    return base64.b64encode(os.urandom(32)).decode()


def provision(
    existing: dict[str, Any], hardware: Hardware, name: str | None = None
) -> dict[str, Any]:
    """`existing` with what it lacks filled in from `hardware`; nothing it has changes."""
    config = dict(existing)
    config.setdefault("name", name or "milo")
    config.setdefault("friendly_name", "Milo")
    config.setdefault("encryption_key", new_key())
    audio = dict(config.get("audio") or {})
    if hardware.microphone is not None:
        audio.setdefault("mic_command", _on(DEFAULT_MIC_COMMAND, hardware.microphone))
    if hardware.speaker is not None:
        audio.setdefault("snd_command", _on(DEFAULT_SND_COMMAND, hardware.speaker))
    if audio:
        config["audio"] = audio
    if "head" not in config:
        config["head"] = _head(hardware)
    return config


def _on(command: str, device: SoundDevice) -> str:
    """The default arecord/aplay command, on `device`."""
    program, rest = command.split(" ", 1)
    return f"{program} -D {device.alsa} {rest}"


def _head(hardware: Hardware) -> dict[str, Any] | bool:
    """A head when there is a camera or a servo board to be one; else none (`false`)."""
    if hardware.camera is None and hardware.servo_board is None:
        return False
    servos: dict[str, Any] = {"backend": "simulated"}  # a camera alone: recognition, no motion
    if hardware.servo_board is not None:
        servos = {"backend": "pca9685", "i2c_address": hardware.servo_board}
    return {
        "camera": {"source": hardware.camera or "none"},
        "servos": servos,
        "recognition": {"buddies_file": BUDDIES_FILE},
    }


def check(config: dict[str, Any]) -> SatelliteConfig:
    """The config as the satellite will read it; ConfigError naming any mistake."""
    data = {**config, "head": None} if config.get("head") is False else config
    loaded = load_settings(SatelliteConfig(), data)
    validate(loaded)
    return loaded


def read(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text()) if path.exists() else {}
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f"cannot read {path}: {err}") from err
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must be a mapping of options")
    return data


def write(path: Path, config: dict[str, Any]) -> None:
    """Atomically, mode 0640: the file holds the encryption key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
    with os.fdopen(fd, "w") as out:
        out.write(HEADER + yaml.safe_dump(config, sort_keys=False))
    os.replace(temporary, path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="milo-satellite-config",
        description="Detect Milo's microphone, speaker, camera and servo board, and write "
        "the satellite's config file (only what it lacks).",
    )
    parser.add_argument("command", choices=["detect", "write"])
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    parser.add_argument("--name", help="device name for a new config (default: milo)")
    parser.add_argument("--root", type=Path, default=Path("/"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    hardware = detect(root=args.root)
    print("\n".join(hardware.describe()))
    if args.command == "detect":
        return
    try:
        before = read(args.config)
        config = provision(before, hardware, args.name)
        loaded = check(config)
    except ConfigError as err:
        print(f"milo-satellite-config: {err}", file=sys.stderr)
        sys.exit(2)
    if config != before:
        write(args.config, config)
        print(f"wrote {args.config}")
    else:
        print(f"{args.config} already has everything; left as it is")
    host = local_address(fallback=f"{socket.gethostname()}.local")
    print(
        f"\nIn Home Assistant: Settings > Devices & services > Add integration > ESPHome\n"
        f"  host: {host}   port: {loaded.api_port}\n"
        f"  encryption key: {loaded.encryption_key}\n"
        f'It shows up as "{loaded.friendly_name}" (or is discovered on its own).'
    )


if __name__ == "__main__":
    main()
