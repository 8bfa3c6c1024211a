"""The media player entity: HA's play_media, volume and transport controls.

Milo has one speaker, so there is one player: an answer, an announcement, a timer or the
wake chime interrupts music, which resumes where it was once Milo is quiet again (a live
stream resumes live); unless music is ducked (ducking.py), when it has a player of its
own and plays on under Milo. The entity shows "playing" whenever the speaker sounds, for
media and for everything Milo says alike: HA's ESPHome media player knows only idle,
playing, paused, off and on (ESPHome firmware reports its announcements as playing too).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import functools
import logging

from aioesphomeapi.model import MediaPlayerEntityFeature as Feature

from ..api import MediaFormat, MediaPlayerCommand, MediaPlayerEntity, MediaPlayerState
from ..api.messages import pb
from .audio import AudioError
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
    def __init__(
        self,
        player: AudioPlayer,
        quiet: Callable[[], bool] = lambda: True,
        music: AudioPlayer | None = None,
    ) -> None:
        """`quiet()` says whether Milo is done talking, so interrupted music may go on;
        `music`: media's own player when music is ducked rather than interrupted."""
        self.player = player
        self.music = music or player
        self.music.volume, self.music.muted = player.volume, player.muted  # as restored
        self.quiet = quiet
        fmt = player.sink.format
        formats = [
            # HA converts media to the speaker's own format, so playback needs no decoding.
            MediaFormat("wav", fmt.rate, fmt.channels, fmt.width),
            # Announcements and answers: WAV at any rate, so HA passes the TTS engine's
            # stream on as it comes. Converting it, HA's ffmpeg would hold back the first
            # 1.5 s of audio; a rate the speaker lacks is converted here as it streams.
            MediaFormat("wav", announcement=True),
        ]
        self.entity = MediaPlayerEntity(
            "media_player",
            "Speaker",
            self.command,
            formats=formats,
            feature_flags=int(FEATURES),
            icon="mdi:speaker",
        )
        self._media: asyncio.Task[bool] | None = None
        self._tasks: set[asyncio.Task[bool]] = set()
        self._paused_by_user = False
        self._resume_at: tuple[str, float] | None = None  # (url, seconds) of cut music
        for each in {player, self.music}:
            each.add_listener(self.refresh)

    def refresh(self) -> None:
        """Called on every player or voice change: publish the state, resume cut music."""
        if self._resume_at is not None and not self.music.playing and self.quiet():
            url, seconds = self._resume_at
            _LOGGER.info("Resuming media at %.1f s", seconds)
            self._play(url, MEDIA_LABEL, seconds)
        if self.music.paused:
            state = pb.MEDIA_PLAYER_STATE_PAUSED
        elif self.music.playing or self.player.playing:
            state = pb.MEDIA_PLAYER_STATE_PLAYING
        else:
            state = pb.MEDIA_PLAYER_STATE_IDLE
        self.entity.set(
            MediaPlayerState(state=state, volume=self.player.volume, muted=self.player.muted)
        )

    async def command(self, cmd: MediaPlayerCommand) -> None:  # noqa: PLR0912 - one case per command
        if cmd.volume is not None:
            self._set_volume(cmd.volume)
        if cmd.url:
            try:
                self.player.check_requested(cmd.url)
            except AudioError as err:
                _LOGGER.error("Refusing to play %s: %s", cmd.url, err)  # noqa: TRY400
            else:
                self._play(cmd.url, "announcement" if cmd.announcement else MEDIA_LABEL)
        match cmd.command:
            case pb.MEDIA_PLAYER_COMMAND_PLAY:
                self._pause(False)
            case pb.MEDIA_PLAYER_COMMAND_PAUSE:
                self._pause(True)
            case pb.MEDIA_PLAYER_COMMAND_TOGGLE:
                self._pause(not self.music.paused)
            case pb.MEDIA_PLAYER_COMMAND_STOP:
                self._media, self._resume_at = None, None
                self.music.stop()
                self.player.stop()
            case pb.MEDIA_PLAYER_COMMAND_MUTE | pb.MEDIA_PLAYER_COMMAND_UNMUTE:
                self.player.muted = self.music.muted = cmd.command == pb.MEDIA_PLAYER_COMMAND_MUTE
            case pb.MEDIA_PLAYER_COMMAND_VOLUME_UP:
                self._set_volume(self.player.volume + VOLUME_STEP)
            case pb.MEDIA_PLAYER_COMMAND_VOLUME_DOWN:
                self._set_volume(self.player.volume - VOLUME_STEP)
            case None:
                pass
            case other:
                _LOGGER.info("Media command %s is not supported", other)
        self.refresh()

    def _set_volume(self, volume: float) -> None:
        self.player.volume = self.music.volume = min(1.0, max(0.0, volume))

    def _pause(self, pause: bool) -> None:
        self._paused_by_user = pause
        if pause:
            self.music.pause()
        else:
            self.music.resume()

    def _play(self, url: str, label: str, skip_s: float = 0.0) -> None:
        # Not tied to the HA connection that asked: music outlives a reconnect.
        _LOGGER.info("Playing %s: %s", label, url)
        player = self.music if label == MEDIA_LABEL else self.player
        task = asyncio.get_running_loop().create_task(player.play([url], label, skip_s=skip_s))
        self._tasks.add(task)
        task.add_done_callback(functools.partial(self._done, url, label))
        if label == MEDIA_LABEL:
            self._media, self._resume_at, self._paused_by_user = task, None, False

    def _done(self, url: str, label: str, task: asyncio.Task[bool]) -> None:
        self._tasks.discard(task)
        interrupted = self.music.outcome.get(label) == "stopped"
        if task is self._media and interrupted and not self._paused_by_user:
            self._resume_at = (url, self.music.played_s.get(label, 0.0))
        self.refresh()
