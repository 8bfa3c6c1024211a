"""The media player entity: HA's play_media, volume and transport controls.

Milo has one speaker, so there is one player: an announcement, an answer or the wake
chime replaces music that is playing (there is no mixing or ducking). The entity shows
"playing" for media and "announcing" for everything Milo says.
"""

from __future__ import annotations

import asyncio
import logging

from aioesphomeapi.model import MediaPlayerEntityFeature as Feature

from ..api import MediaFormat, MediaPlayerCommand, MediaPlayerEntity, MediaPlayerState
from ..api.messages import pb
from .player import AudioPlayer

_LOGGER = logging.getLogger(__name__)

FEATURES = (
    Feature.PAUSE
    | Feature.PLAY
    | Feature.STOP
    | Feature.VOLUME_SET
    | Feature.VOLUME_MUTE
    | Feature.VOLUME_STEP
    | Feature.PLAY_MEDIA
    | Feature.BROWSE_MEDIA
    | Feature.MEDIA_ANNOUNCE
)
VOLUME_STEP = 0.1
MEDIA_LABEL = "media"


class MediaController:
    def __init__(self, player: AudioPlayer) -> None:
        self.player = player
        fmt = player.sink.format
        # HA converts media and TTS to this with ffmpeg, so playback needs no decoding.
        wav = [
            MediaFormat("wav", fmt.rate, fmt.channels, fmt.width, announcement=purpose)
            for purpose in (False, True)
        ]
        self.entity = MediaPlayerEntity(
            "media_player",
            "Speaker",
            self.command,
            formats=wav,
            feature_flags=int(FEATURES),
            icon="mdi:speaker",
        )
        self._media: asyncio.Task[bool] | None = None
        self._tasks: set[asyncio.Task[bool]] = set()
        player.add_listener(self.refresh)

    def refresh(self) -> None:
        playing_media = self._media is not None and not self._media.done()
        if self.player.paused:
            state = pb.MEDIA_PLAYER_STATE_PAUSED
        elif playing_media:
            state = pb.MEDIA_PLAYER_STATE_PLAYING
        elif self.player.playing:
            state = pb.MEDIA_PLAYER_STATE_ANNOUNCING
        else:
            state = pb.MEDIA_PLAYER_STATE_IDLE
        self.entity.set(
            MediaPlayerState(state=state, volume=self.player.volume, muted=self.player.muted)
        )

    async def command(self, cmd: MediaPlayerCommand) -> None:
        if cmd.volume is not None:
            self.player.volume = min(1.0, max(0.0, cmd.volume))
        if cmd.url:
            self._play(cmd.url, "announcement" if cmd.announcement else MEDIA_LABEL)
        match cmd.command:
            case pb.MEDIA_PLAYER_COMMAND_PLAY:
                self.player.resume()
            case pb.MEDIA_PLAYER_COMMAND_PAUSE:
                self.player.pause()
            case pb.MEDIA_PLAYER_COMMAND_TOGGLE:
                self.player.resume() if self.player.paused else self.player.pause()
            case pb.MEDIA_PLAYER_COMMAND_STOP:
                self.player.stop()
            case pb.MEDIA_PLAYER_COMMAND_MUTE | pb.MEDIA_PLAYER_COMMAND_UNMUTE:
                self.player.muted = cmd.command == pb.MEDIA_PLAYER_COMMAND_MUTE
            case pb.MEDIA_PLAYER_COMMAND_VOLUME_UP:
                self.player.volume = min(1.0, self.player.volume + VOLUME_STEP)
            case pb.MEDIA_PLAYER_COMMAND_VOLUME_DOWN:
                self.player.volume = max(0.0, self.player.volume - VOLUME_STEP)
            case None:
                pass
            case other:
                _LOGGER.info("Media command %s is not supported", other)
        self.refresh()

    def _play(self, url: str, label: str) -> None:
        # Not tied to the HA connection that asked: music outlives a reconnect.
        _LOGGER.info("Playing %s: %s", label, url)
        task = asyncio.get_running_loop().create_task(self.player.play([url], label))
        self._tasks.add(task)
        task.add_done_callback(self._done)
        self._media = task if label == MEDIA_LABEL else None

    def _done(self, task: asyncio.Task[bool]) -> None:
        self._tasks.discard(task)
        self.refresh()
