"""Milo as ONE ESPHome device: voice, speaker, status light and the head's entities.

This is the single place that decides what HA sees. Object ids (and so the keys and
HA's entity ids) are part of the contract with the head and with users' automations;
never rename one:

=============  ==================  ==========================================
platform       object id           source
=============  ==================  ==========================================
number         head_pan, head_tilt  Head.set_pan/set_tilt, HeadState.pan/tilt
switch         face_tracking        Head.set_tracking
switch         look_around          Head.set_look_around
switch         sleep                Head.set_sleep (detaches the servos)
switch         camera_on            Head.set_camera (privacy: off closes the camera)
switch         mute                 VoiceSatellite.set_muted
switch         clean_audio          VoiceSatellite.set_clean_audio
text_sensor    person_in_view       HeadState.person ("", "stranger", a name)
sensor         faces_in_view        HeadState.face_count
binary_sensor  someone_present      HeadState.present
camera         camera               Head.snapshot_jpeg
button         center_head          Head.centre
select         wake_word            VoiceSatellite.set_wake_word (+ "milo")
select         end_of_speech        VoiceSatellite.set_end_of_speech
light          status_light         the voice phase (StatusLight)
event          buddy                appeared / left / stranger (+ HA event esphome.milo_buddy)
media_player   media_player         MediaController
=============  ==================  ==========================================

User-defined actions (HA services ``esphome.<name>_<action>``): ``enroll_buddy(name)``,
``forget_buddy(name)``, ``look_at(pan, tilt)``, ``gesture(name)``, ``dance(seconds)``
(the head, Tricks.dance), ``drop_beat(seconds)`` (Tricks.drop_beat) and ``end_of_turn(text)``
(the integration judged the request's words so far, `text`, whole: VoiceSatellite.words_complete).
Plus the Assist satellite HA creates from the voice assistant feature flags.
"""

from __future__ import annotations

from collections.abc import Callable
import logging
from typing import TYPE_CHECKING, Any, Protocol

from .api import (
    APIServer,
    ArgType,
    BinarySensorEntity,
    ButtonEntity,
    CameraEntity,
    Entity,
    EventEntity,
    NumberEntity,
    SelectEntity,
    SensorEntity,
    SwitchEntity,
    TextSensorEntity,
    UserAction,
)
from .api.entities import LightState
from .api.messages import pb
from .preferences import Preferences
from .status_light import StatusLight
from .tricks import Tricks
from .voice.ducking import Ducker
from .voice.media import MediaController
from .voice.player import AudioPlayer
from .voice.satellite import Phase, VoiceSatellite

if TYPE_CHECKING:  # the head package imports OpenCV: only a satellite with a head loads it
    from .head.state import Attention, HeadState

_LOGGER = logging.getLogger(__name__)

BUDDY_EVENT = "esphome.milo_buddy"
GESTURES = ("nod", "shake", "dance")


class HeadLike(Protocol):
    """What the device needs of the head (milo_satellite.head); docs/contracts.md lists
    the entities it becomes."""

    @property
    def state(self) -> HeadState: ...
    def add_state_listener(self, cb: Callable[[HeadState], None]) -> Callable[[], None]: ...
    def add_buddy_listener(self, cb: Callable[[str, str], None]) -> Callable[[], None]: ...
    async def look_at(self, pan: float, tilt: float) -> None: ...
    async def set_pan(self, pan: float) -> None: ...
    async def set_tilt(self, tilt: float) -> None: ...
    async def centre(self) -> None: ...
    def set_tracking(self, on: bool) -> None: ...
    def set_look_around(self, on: bool) -> None: ...
    async def set_sleep(self, on: bool) -> None: ...
    async def set_camera(self, on: bool) -> None: ...
    async def gesture(self, name: str) -> None: ...
    async def dance(self, bpm: float, seconds: float) -> None: ...
    async def enrol_buddy(self, name: str) -> None: ...
    async def forget_buddy(self, name: str) -> None: ...
    async def snapshot_jpeg(self) -> bytes | None: ...
    def set_attention(self, mode: Attention) -> None: ...


_ATTENTION: dict[Phase, Attention] = {Phase.LISTENING: "listening", Phase.SPEAKING: "speaking"}


class MiloDevice:
    """Builds the entities on `server` and keeps them in step with voice and head."""

    def __init__(
        self,
        server: APIServer,
        voice: VoiceSatellite,
        head: HeadLike | None,
        *,
        pan_range: tuple[float, float] = (-90.0, 90.0),
        tilt_range: tuple[float, float] = (-45.0, 45.0),
        status_light: StatusLight | None = None,
        preferences: Preferences | None = None,
        music: AudioPlayer | None = None,
        ducker: Ducker | None = None,
    ) -> None:
        """`music`: media's own player when music is ducked (else Milo's player), with
        `ducker` setting its level under Milo."""
        self.server = server
        self.voice = voice
        self.head = head
        self.ducker = ducker
        self.status_light = status_light or StatusLight()
        self.preferences = preferences or Preferences(None)
        self._restore()

        def quiet() -> bool:
            return voice.phase is Phase.IDLE and not voice.ringing

        self.media = MediaController(voice.player, quiet=quiet, music=music)
        self.tricks = Tricks(voice.player, quiet, voice.add_listener, head)
        self.mute = SwitchEntity("mute", "Mute", voice.set_muted, icon="mdi:microphone-off")
        self.clean_audio = SwitchEntity(
            "clean_audio",
            "Clean audio",
            voice.set_clean_audio,
            icon="mdi:microphone-settings",
            category=pb.ENTITY_CATEGORY_CONFIG,
        )
        self.wake_word = SelectEntity(
            "wake_word",
            "Wake word model",
            voice.wake_word_options(),
            voice.set_wake_word,
            state=voice.wake_word,
            icon="mdi:account-voice",
            category=pb.ENTITY_CATEGORY_CONFIG,
        )
        self.end_of_speech = SelectEntity(
            "end_of_speech",
            "End of speech",
            voice.end_of_speech_options(),
            voice.set_end_of_speech,
            state=str(voice.end_of_speech),
            icon="mdi:account-voice-off",
            category=pb.ENTITY_CATEGORY_CONFIG,
        )
        entities: list[Entity] = [
            self.media.entity,
            self.mute,
            self.clean_audio,
            self.wake_word,
            self.end_of_speech,
            self.status_light.entity,
        ]
        if ducker is not None:
            entities.append(ducker.entity)
        for entity in entities:
            server.add_entity(entity)
            entity.attach(self._remember)
        server.add_action(
            UserAction("drop_beat", (("seconds", ArgType.FLOAT),), self.tricks.drop_beat)
        )

        async def end_of_turn(text: str) -> None:
            voice.words_complete(text)

        server.add_action(UserAction("end_of_turn", (("text", ArgType.STRING),), end_of_turn))
        voice.add_listener(self._voice_changed)
        self._voice_changed()
        if head is not None:
            self._add_head(head, pan_range, tilt_range)

    async def start(self) -> None:
        """What must happen before the head starts: a camera switched off stays off,
        never opened even for a moment (the rest is restored in __init__)."""
        if self.head is not None and self.preferences.get("camera_on") is False:
            await self.head.set_camera(False)

    def _restore(self) -> None:
        """Apply what HA set before the last restart (see preferences.py)."""
        prefs, voice = self.preferences, self.voice
        wake_word = prefs.get("wake_word")
        if wake_word and wake_word != voice.wake_word:
            try:
                voice.set_wake_word(wake_word)
            except ValueError as err:
                _LOGGER.warning("Not restoring wake word: %s", err)
        end_of_speech = prefs.get("end_of_speech")
        if end_of_speech and end_of_speech != voice.end_of_speech:
            try:
                voice.set_end_of_speech(end_of_speech)
            except ValueError as err:
                _LOGGER.warning("Not restoring end of speech: %s", err)
        voice.set_muted(bool(prefs.get("muted", voice.muted)))
        voice.set_clean_audio(bool(prefs.get("clean_audio", voice.clean_audio.enabled)))
        voice.player.volume = float(prefs.get("volume", voice.player.volume))
        voice.player.muted = bool(prefs.get("speaker_muted", voice.player.muted))
        light = self.status_light.entity
        light.value = LightState(on=bool(prefs.get("status_light_on", True)))
        if self.ducker is not None:
            try:
                self.ducker.set_level(float(prefs.get("duck_volume", self.ducker.level)))
            except (TypeError, ValueError) as err:
                _LOGGER.warning("Not restoring the ducked music volume: %s", err)

    def _remember(self, _msg: object) -> None:
        light = self.status_light.entity.value
        ducking = {"duck_volume": self.ducker.level} if self.ducker is not None else {}
        self.preferences.update(
            wake_word=self.voice.wake_word,
            end_of_speech=str(self.voice.end_of_speech),
            muted=self.voice.muted,
            clean_audio=self.voice.clean_audio.enabled,
            volume=round(self.voice.player.volume, 3),
            speaker_muted=self.voice.player.muted,
            status_light_on=light.on if light is not None else True,
            **ducking,
        )

    def _voice_changed(self) -> None:
        voice = self.voice
        self.mute.set(voice.muted)
        self.clean_audio.set(voice.clean_audio.enabled)
        self.wake_word.set(voice.wake_word)
        self.end_of_speech.set(str(voice.end_of_speech))
        self.media.refresh()
        self.status_light.show("Muted" if voice.muted else voice.phase.value.capitalize())
        if self.head is not None:
            self.head.set_attention(_ATTENTION.get(voice.phase, "idle"))

    # -- the head -----------------------------------------------------------------------

    def _add_head(
        self, head: HeadLike, pan_range: tuple[float, float], tilt_range: tuple[float, float]
    ) -> None:
        def angle(object_id: str, name: str, setter: Any, limits: tuple[float, float]) -> Any:
            return NumberEntity(
                object_id,
                name,
                setter,
                min_value=limits[0],
                max_value=limits[1],
                step=0.5,
                unit="°",
                icon="mdi:axis-arrow",
            )

        self.pan = angle("head_pan", "Head pan", head.set_pan, pan_range)
        self.tilt = angle("head_tilt", "Head tilt", head.set_tilt, tilt_range)
        self.tracking = SwitchEntity(
            "face_tracking", "Face tracking", head.set_tracking, icon="mdi:face-recognition"
        )
        self.look_around = SwitchEntity(
            "look_around", "Look around", head.set_look_around, icon="mdi:eye-refresh"
        )
        self.sleep = SwitchEntity("sleep", "Sleep", head.set_sleep, icon="mdi:sleep")
        self.camera_on = SwitchEntity("camera_on", "Camera", head.set_camera, icon="mdi:camera")
        self.person = TextSensorEntity("person_in_view", "Person in view", icon="mdi:account-eye")
        self.faces = SensorEntity(
            "faces_in_view", "Faces in view", unit="faces", icon="mdi:account-multiple"
        )
        self.present = BinarySensorEntity(
            "someone_present", "Someone present", device_class="occupancy"
        )
        self.buddy = EventEntity(
            "buddy", "Buddy", ("appeared", "left", "stranger"), icon="mdi:account-heart"
        )
        for entity in (
            self.pan,
            self.tilt,
            self.tracking,
            self.look_around,
            self.sleep,
            self.camera_on,
            self.person,
            self.faces,
            self.present,
            self.buddy,
            CameraEntity("camera", "Camera", head.snapshot_jpeg),
            ButtonEntity("center_head", "Centre head", head.centre, icon="mdi:target"),
        ):
            self.server.add_entity(entity)

        async def gesture(name: str) -> None:
            if name not in GESTURES:
                raise ValueError(f"unknown gesture {name!r}; try one of {', '.join(GESTURES)}")
            await head.gesture(name)

        for action in (
            UserAction("enroll_buddy", (("name", ArgType.STRING),), head.enrol_buddy),
            UserAction("forget_buddy", (("name", ArgType.STRING),), head.forget_buddy),
            UserAction("look_at", (("pan", ArgType.FLOAT), ("tilt", ArgType.FLOAT)), head.look_at),
            UserAction("gesture", (("name", ArgType.STRING),), gesture),
            UserAction("dance", (("seconds", ArgType.FLOAT),), self.tricks.dance),
        ):
            self.server.add_action(action)
        head.add_state_listener(self._head_changed)
        head.add_buddy_listener(self._buddy)
        self._head_changed(head.state)
        # Kept from now on: the state above is the head's default, not a choice.
        self.camera_on.attach(
            lambda _msg: self.preferences.update(camera_on=bool(self.camera_on.value))
        )

    def _head_changed(self, state: Any) -> None:
        self.pan.set(round(state.pan, 1))
        self.tilt.set(round(state.tilt, 1))
        self.tracking.set(state.tracking)
        self.look_around.set(state.look_around)
        self.sleep.set(state.asleep)
        self.camera_on.set(state.camera)
        self.person.set(state.person)
        self.faces.set(float(state.face_count))
        self.present.set(state.present)

    def _buddy(self, event: str, name: str) -> None:
        _LOGGER.info("Buddy %s: %s", event, name)
        self.buddy.fire(event)
        self.server.fire_ha_event(BUDDY_EVENT, {"event": event, "name": name})
