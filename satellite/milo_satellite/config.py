"""Settings: a YAML file (`--config`) with command-line flags on top.

Every option has a default, so `milo-satellite` runs with no file at all. The file is
read by `settings.load_settings` (unknown keys and wrong kinds are refused with their full
path), and the `head:` section is checked here too, so every mistake in the file is a
ConfigError before anything starts. See config.example.yaml for every option.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
import hashlib
from pathlib import Path
import re
import shlex
import socket
from typing import Any

import yaml

from .settings import ConfigError, load_settings

DEFAULT_MIC_COMMAND = "arecord -q -r 16000 -c 1 -f S16_LE -t raw"
DEFAULT_SND_COMMAND = "aplay -q -r 22050 -c 1 -f S16_LE -t raw"
THINKING_MODES = ("off", "sound", "filler")
DEFAULT_FILLERS = (
    "Hmm, let me think. Don't hold your breath.",
    "Thinking. It's a thing I do, unlike some people.",
    "One moment, consulting my vast and mostly useless knowledge.",
    "Processing. Try not to touch anything.",
    "Give me a second. I'm a robot, not a miracle worker.",
)


@dataclass
class VoiceConfig:
    wake_word: str = "okay_nabu"
    stop_word: str = ""
    custom_wake_words: list[str] = field(default_factory=list)
    stt_uri: str = ""
    names: list[str] = field(default_factory=lambda: ["milo"])
    language: str = "en"
    wake_sound: bool = True
    thinking: str = "off"
    tts_uri: str = ""
    fillers: list[str] = field(default_factory=lambda: list(DEFAULT_FILLERS))
    sounds: dict[str, str] = field(default_factory=dict)
    timer_ring_s: float = 300.0


@dataclass
class AudioConfig:
    mic_command: str = DEFAULT_MIC_COMMAND
    snd_command: str = DEFAULT_SND_COMMAND
    snd_rate: int = 22050
    snd_channels: int = 1
    verify_ssl: bool = True
    # Local files HA (or any API client) may play; anything else must be http(s).
    media_dirs: list[str] = field(default_factory=list)
    max_media_mb: int = 1024  # a bigger local file is refused
    # Music under Milo's voice: this share of its volume (0-1), on a stream of its own
    # (snd_command must mix streams); None: Milo's voice interrupts music (ducking.py).
    duck_volume: float | None = None


@dataclass
class StatusLightConfig:
    red_pin: int | None = field(default=None, metadata={"kind": "a BCM pin number"})
    green_pin: int | None = field(default=None, metadata={"kind": "a BCM pin number"})


@dataclass
class ButtonsConfig:
    """Push buttons to ground on GPIO (buttons.py); None: that button is not wired."""

    mute_pin: int | None = field(default=None, metadata={"kind": "a BCM pin number"})
    power_pin: int | None = field(default=None, metadata={"kind": "a BCM pin number"})
    long_press_s: float = 3.0
    debounce_s: float = 0.05
    goodbye: str = "Goodbye. Try not to miss me too much."
    shutdown_command: str = "systemctl poweroff"


@dataclass
class SatelliteConfig:
    name: str = "milo"
    friendly_name: str = "Milo"
    mac: str = ""
    area: str = ""
    host: str = "0.0.0.0"
    api_port: int = 6053
    encryption_key: str = ""
    zeroconf: bool = True
    audio: AudioConfig = field(default_factory=AudioConfig)
    voice: VoiceConfig = field(default_factory=VoiceConfig)
    status_light: StatusLightConfig = field(default_factory=StatusLightConfig)
    buttons: ButtonsConfig = field(default_factory=ButtonsConfig)
    head: dict[str, Any] | None = field(default_factory=dict)  # None: no head attached
    state_file: str = ""  # "": ~/.local/share/milo/<name>-state.json (none when simulating)
    simulate: bool = False
    mic_file: str = ""
    sound_dir: str = "milo-sound"
    debug: bool = False
    # Audio commands typed on the command line: with --simulate they replace the WAV file
    # microphone / the sound folder (commands in the file are the Pi's hardware, ignored).
    command_line_audio: frozenset[str] = field(default=frozenset(), metadata={"from_file": False})

    @property
    def simulated_microphone(self) -> bool:
        """The microphone is `mic_file` (not `audio.mic_command`)."""
        return self.simulate and "mic_command" not in self.command_line_audio

    @property
    def simulated_speaker(self) -> bool:
        """The sound goes to `sound_dir` (not to `audio.snd_command`)."""
        return self.simulate and "snd_command" not in self.command_line_audio

    @property
    def preferences_path(self) -> Path | None:
        """Where settings changed from HA are kept between restarts."""
        if self.state_file:
            return Path(self.state_file).expanduser()
        if self.simulate:
            return None
        return Path(f"~/.local/share/milo/{self.name}-state.json").expanduser()

    @property
    def device_mac(self) -> str:
        """The configured MAC, or a stable made-up one (HA identifies devices by it)."""
        return self.mac or derived_mac(self.name)


def derived_mac(name: str) -> str:
    """A locally administered MAC from this machine's id and the device name."""
    seed = name.encode()
    for path in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        try:
            seed += Path(path).read_bytes().strip()
            break
        except OSError:
            continue
    else:
        seed += socket.gethostname().encode()
    digest = bytearray(hashlib.sha256(seed).digest()[:6])
    digest[0] = (digest[0] | 0x02) & 0xFE  # locally administered, unicast
    return ":".join(f"{b:02X}" for b in digest)


def validate(config: SatelliteConfig) -> None:
    if not re.fullmatch(r"[a-z0-9-]{1,31}", config.name):
        raise ConfigError("name must be 1-31 characters of a-z, 0-9 and '-' (a hostname)")
    if config.mac and not re.fullmatch(r"([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}", config.mac):
        raise ConfigError("mac must look like AA:BB:CC:DD:EE:FF")
    if not 0 < config.api_port < 65536:
        raise ConfigError("api_port must be 1-65535")
    if config.voice.thinking not in THINKING_MODES:
        raise ConfigError(f"voice.thinking must be one of {', '.join(THINKING_MODES)}")
    if config.voice.thinking == "filler" and not config.voice.tts_uri:
        raise ConfigError("voice.thinking: filler needs voice.tts_uri (a Wyoming TTS)")
    if not all(isinstance(d, str) and d for d in config.audio.media_dirs):
        raise ConfigError("audio.media_dirs must be a list of folder paths")
    if config.audio.max_media_mb <= 0:
        raise ConfigError("audio.max_media_mb must be a positive number of MiB")
    duck = config.audio.duck_volume
    if duck is not None and not 0.0 <= duck <= 1.0:
        raise ConfigError(f"audio.duck_volume must be 0-1 (a share of the volume), got {duck}")
    _validate_pins(config)
    if config.simulated_microphone and not config.mic_file:
        raise ConfigError(
            "--simulate needs --mic-file (a WAV to use as the microphone) or --mic-command"
        )
    if config.encryption_key:
        from .api.frames import decode_psk  # noqa: PLC0415

        try:
            decode_psk(config.encryption_key)
        except ValueError as err:
            raise ConfigError(f"encryption_key: {err}") from err
    if config.head is not None:
        from .head.config import HeadConfig  # noqa: PLC0415 - the head package is heavy

        HeadConfig.from_dict(config.head)  # a HeadConfigError is a ConfigError


def _validate_pins(config: SatelliteConfig) -> None:
    buttons, light = config.buttons, config.status_light
    pins = {
        "status_light.red_pin": light.red_pin,
        "status_light.green_pin": light.green_pin,
        "buttons.mute_pin": buttons.mute_pin,
        "buttons.power_pin": buttons.power_pin,
    }
    used: dict[int, str] = {}
    for name, pin in pins.items():
        if pin is None:
            continue
        if not 0 <= pin <= 27:
            raise ConfigError(f"{name} must be a BCM GPIO number 0-27, got {pin}")
        if pin in used:
            raise ConfigError(f"{name} and {used[pin]} are both GPIO {pin}")
        used[pin] = name
    if not 0 < buttons.debounce_s < buttons.long_press_s:
        raise ConfigError("buttons: need 0 < debounce_s < long_press_s")
    try:
        shutdown = shlex.split(buttons.shutdown_command)
    except ValueError as err:
        raise ConfigError(f"buttons.shutdown_command: {err}") from err
    if buttons.power_pin is not None and not shutdown:
        raise ConfigError("buttons.shutdown_command is empty (the power button needs one)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="milo-satellite",
        description="Milo's body: a voice satellite with a face-tracking head that Home "
        "Assistant adopts through its ESPHome integration.",
    )
    add = parser.add_argument
    add("--config", help="YAML configuration file (see config.example.yaml)")
    add("--name", help="device name, a hostname (default: milo)")
    add("--api-port", type=int, help="ESPHome native API port (default: 6053)")
    add("--encryption-key", help="base64 32-byte API encryption key (as ESPHome's api:)")
    add(
        "--mic-command",
        help=f"microphone command, raw 16 kHz mono (default: {DEFAULT_MIC_COMMAND}); "
        "with --simulate, used instead of --mic-file",
    )
    add(
        "--snd-command",
        help=f"sound command, raw PCM on stdin (default: {DEFAULT_SND_COMMAND}); "
        "with --simulate, used instead of the sound folder",
    )
    add("--wake-word", help="okay_nabu, hey_jarvis, alexa, hey_mycroft, or milo (name mode)")
    add("--camera", help="camera: device index, /dev/video*, or an image/video file")
    add("--servo-backend", choices=["pca9685", "gpio", "esphome", "simulated"])
    add("--zeroconf", action=argparse.BooleanOptionalAction, default=None, help="announce on mDNS")
    add("--simulate", action="store_true", default=None, help="no hardware: files in, files out")
    add("--mic-file", help="WAV file used as the microphone with --simulate (SIGUSR1 replays)")
    add("--sound-dir", help="folder that receives the sound with --simulate")
    add("--debug", action="store_true", default=None, help="log everything")
    return parser


def load_config(argv: list[str] | None = None) -> SatelliteConfig:
    args = build_parser().parse_args(argv)
    if args.mic_file and args.mic_command:
        raise ConfigError("--mic-file and --mic-command both name the microphone: give one")
    config = SatelliteConfig()
    if args.config:
        try:
            data = yaml.safe_load(Path(args.config).read_text()) or {}
        except (OSError, yaml.YAMLError) as err:
            raise ConfigError(f"cannot read {args.config}: {err}") from err
        if isinstance(data, dict) and data.get("head") is False:
            data = {**data, "head": None}  # `head: false`: no head attached
        config = load_settings(config, data)
    flags: dict[str, Any] = {
        "name": args.name,
        "api_port": args.api_port,
        "encryption_key": args.encryption_key,
        "zeroconf": args.zeroconf,
        "simulate": args.simulate,
        "mic_file": args.mic_file,
        "sound_dir": args.sound_dir,
        "debug": args.debug,
    }
    for key, value in flags.items():
        if value is not None:
            setattr(config, key, value)
    if args.mic_command:
        config.audio.mic_command = args.mic_command
    if args.snd_command:
        config.audio.snd_command = args.snd_command
    config.command_line_audio = frozenset(
        key for key in ("mic_command", "snd_command") if getattr(args, key)
    )
    if args.wake_word:
        config.voice.wake_word = args.wake_word
    if config.head is not None:
        if args.camera:
            config.head.setdefault("camera", {})["source"] = args.camera
        if args.servo_backend:
            config.head.setdefault("servos", {})["backend"] = args.servo_backend
    validate(config)
    return config
