"""Puts the satellite together from its config: API server, voice, head, zeroconf."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .api import APIServer, DeviceIdentity
from .api.logs import LogForwarder
from .api.zeroconf import ZeroconfAnnouncer
from .buttons import Buttons
from .config import SatelliteConfig
from .device import MiloDevice
from .preferences import Preferences
from .status_light import StatusLight
from .voice.audio import CommandMicrophone, CommandSink, FolderSink, PcmFormat, WavMicrophone
from .voice.ducking import Ducker, mixes
from .voice.fillers import Fillers
from .voice.player import AudioPlayer, Sink
from .voice.satellite import FEATURES, Microphone, Phase, VoiceSatellite, VoiceSettings
from .voice.sounds import Sounds
from .voice.wakeword import available_models

if TYPE_CHECKING:
    from .head import Head

_LOGGER = logging.getLogger(__name__)


def build_head(
    config: SatelliteConfig,
) -> tuple[Head | None, tuple[float, float], tuple[float, float]]:
    """The head (or None) and its pan/tilt limits, from the `head:` section."""
    if config.head is None:
        return None, (-90.0, 90.0), (-45.0, 45.0)
    from .head import HeadConfig, build_head as make_head  # noqa: PLC0415 - heavy (OpenCV)

    head_config = HeadConfig.from_dict(config.head)
    if config.simulate:
        head_config = head_config.simulated()
    servos = head_config.servos
    return (
        make_head(head_config),
        (servos.pan.min, servos.pan.max),
        (servos.tilt.min, servos.tilt.max),
    )


class SatelliteApp:
    def __init__(self, config: SatelliteConfig) -> None:
        self.config = config
        fmt = PcmFormat(rate=config.audio.snd_rate, channels=config.audio.snd_channels)
        microphone: Microphone
        sink: Sink
        if config.simulated_microphone:
            microphone = WavMicrophone(config.mic_file)
        else:
            microphone = CommandMicrophone(config.audio.mic_command)
        if config.simulated_speaker:
            sink = FolderSink(config.sound_dir, fmt)
        else:
            sink = CommandSink(config.audio.snd_command, fmt)
        self.server = APIServer(
            DeviceIdentity(
                name=config.name,
                mac=config.device_mac,
                friendly_name=config.friendly_name,
                suggested_area=config.area,
            ),
            encryption_key=config.encryption_key or None,
            voice_assistant_feature_flags=int(FEATURES),
        )
        voice_cfg = config.voice
        player_options: dict[str, Any] = {
            "verify_ssl": config.audio.verify_ssl,
            "media_dirs": [Path(d).expanduser() for d in config.audio.media_dirs],
            "max_file_mb": config.audio.max_media_mb,
        }
        self.player = AudioPlayer(sink, **player_options)
        # Ducked music plays on a player (a sink stream) of its own; else it shares Milo's.
        self.ducker: Ducker | None = None
        self.music = self.player
        if config.audio.duck_volume is not None:
            self.ducker = Ducker(config.audio.duck_volume, fmt)
            self.music = AudioPlayer(sink, gain=self.ducker.apply, **player_options)
            if not config.simulated_speaker and not mixes(config.audio.snd_command):
                _LOGGER.warning(
                    "audio.duck_volume needs a sound command that mixes two streams, and %r "
                    "plays on a raw ALSA device (hw:/plughw:): Milo cannot speak while music "
                    "plays. Use default:CARD=... (docs/satellite.md, Music ducking)",
                    config.audio.snd_command,
                )
        self.voice = VoiceSatellite(
            self.server,
            microphone=microphone,
            player=self.player,
            sounds=Sounds.build(fmt, voice_cfg.sounds),
            models=available_models(voice_cfg.custom_wake_words),
            settings=VoiceSettings(
                wake_word=voice_cfg.wake_word,
                stop_word=voice_cfg.stop_word,
                stt_uri=voice_cfg.stt_uri,
                names=tuple(voice_cfg.names),
                language=voice_cfg.language,
                wake_sound=voice_cfg.wake_sound,
                thinking=voice_cfg.thinking,
                timer_ring_s=voice_cfg.timer_ring_s,
            ),
            fillers=(
                Fillers(voice_cfg.tts_uri, voice_cfg.fillers, fmt)
                if voice_cfg.thinking == "filler"
                else None
            ),
        )
        self.head, pan_range, tilt_range = build_head(config)
        self.device = MiloDevice(
            self.server,
            self.voice,
            self.head,
            pan_range=pan_range,
            tilt_range=tilt_range,
            status_light=StatusLight(config.status_light.red_pin, config.status_light.green_pin),
            preferences=Preferences(config.preferences_path),
            music=self.music,
            ducker=self.ducker,
        )
        if self.ducker is not None:
            voice, music = self.voice, self.music
            self.ducker.follow(
                busy=lambda: voice.phase is not Phase.IDLE or voice.ringing or voice.player.playing,
                music_playing=lambda: music.playing,
                add_listeners=[voice.add_listener, voice.player.add_listener, music.add_listener],
            )
        self.buttons = Buttons(
            config.buttons,
            self.voice,
            self.head,
            tts_uri=voice_cfg.tts_uri,
            simulated=config.simulate,
        )
        if isinstance(microphone, WavMicrophone):
            self.voice.add_listener(lambda: self._first_listener(microphone))
        self._zeroconf: ZeroconfAnnouncer | None = None
        self._log_forwarder: LogForwarder | None = None

    def _first_listener(self, microphone: WavMicrophone) -> None:
        """Simulation: say the file's words once HA listens for the first time."""
        if self.voice.connected and microphone.plays == 0:
            microphone.play()

    def replay_microphone(self) -> None:
        """Simulation: say the file's words again (SIGUSR1)."""
        if isinstance(self.voice.microphone, WavMicrophone):
            self.voice.microphone.play()

    async def start(self) -> None:
        self._log_forwarder = LogForwarder(self.server, asyncio.get_running_loop())
        logging.getLogger().addHandler(self._log_forwarder)
        await self.device.start()
        if self.head is not None:
            await self.head.start()
        self.buttons.start()  # a pin that cannot be used stops Milo before HA sees it
        await self.server.start(self.config.host, self.config.api_port)
        await self.voice.start()
        if self.config.zeroconf:
            # Bound to one address: announce that one (else the address others reach us at).
            bound = None if self.config.host in ("", "0.0.0.0", "::") else self.config.host
            self._zeroconf = ZeroconfAnnouncer(
                self.server.identity,
                self.server.port,
                encrypted=self.server.encrypted,
                host=bound,
            )
            try:
                await self._zeroconf.start()
            except OSError as err:
                _LOGGER.warning("Zeroconf announcement failed (add the device by IP): %s", err)
                self._zeroconf = None
        _LOGGER.info(
            "Milo is up: %s (%s) on port %d",
            self.config.name,
            self.config.device_mac,
            self.server.port,
        )

    async def stop(self) -> None:
        if self._zeroconf is not None:
            await self._zeroconf.stop()
        await self.buttons.stop()
        await self.voice.stop()
        await self.server.stop()
        await self.player.close()
        await self.music.close()
        if self.head is not None:
            await self.head.stop()
        if self._log_forwarder is not None:
            logging.getLogger().removeHandler(self._log_forwarder)
