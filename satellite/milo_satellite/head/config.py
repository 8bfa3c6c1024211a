"""The `head:` section of the satellite's YAML config, parsed and checked up front.

Every value has a default that suits a Pi camera v2 on a 3D-printed SG90 pan/tilt, so an
empty section gives a working simulated head. It is read like the rest of the file
(`settings.load_settings`), and mistakes are reported with their YAML path
(`head.servos.pan.min`) before anything moves, as a config error (exit code 2).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from ..settings import ConfigError, load_settings
from .errors import HeadError

ServoBackendName = Literal["simulated", "pca9685", "gpio", "esphome"]
CameraMount = Literal["head", "fixed"]
Flip = Literal["none", "horizontal", "vertical", "both"]


class HeadConfigError(HeadError, ConfigError):
    """A bad `head:` option: the head's error, and a config error like any other."""


@dataclass(frozen=True)
class CameraConfig:
    """Where frames come from and how the lens maps pixels to angles."""

    # Device index ("0"), device path, image or video file, stream URL, or "none".
    source: str = "0"
    width: int = 640
    height: int = 480
    fps: float = 30.0
    # Field of view of the full frame; the Pi camera v2 is 62.2 x 48.8 degrees.
    hfov: float = 62.2
    vfov: float = 48.8
    flip: Flip = "none"
    # "head": the camera turns with the head (the usual build); "fixed": it does not.
    mount: CameraMount = "head"


@dataclass(frozen=True)
class DetectionConfig:
    """Face detection runs on a downscaled copy of every frame."""

    detect_width: int = 320  # full scans run on the frame downscaled to this width
    min_face: int = 20  # pixels at detection scale
    scale_factor: float = 1.2
    min_neighbors: int = 3
    full_scan_every: int = 10  # frames; in between, only near the faces already tracked
    idle_scan_every: int = 3  # frames; with nobody tracked (~100 ms to notice a newcomer)


@dataclass(frozen=True)
class RecognitionConfig:
    """Who is who: dlib's 128-d face encodings against the buddy file."""

    enabled: bool = True
    buddies_file: str = "~/.local/share/milo/buddies.json"
    # dlib's recommended distance threshold; below `sure` counts as certain.
    tolerance: float = 0.6
    sure: float = 0.5
    # A track whose identity is unsure is looked at again after this many seconds.
    retry_s: float = 1.5
    max_attempts: int = 5
    # Even a sure identity is checked again this often (someone may have swapped seats).
    verify_s: float = 10.0
    enroll_frames: int = 5
    enroll_timeout_s: float = 15.0


@dataclass(frozen=True)
class ServoConfig:
    """One axis: calibrated limits in head degrees and how they map to the servo."""

    min: float = -80.0
    max: float = 80.0
    # Servo angle (0..180) that points the head straight ahead; fixes assembly offsets.
    center: float = 90.0
    invert: bool = False
    max_speed: float = 240.0  # degrees per second, at or below what the servo can do
    channel: int = 0  # PCA9685 channel
    pin: int = 17  # GPIO (BCM) pin
    min_pulse_us: int = 500
    max_pulse_us: int = 2500

    def to_servo(self, angle: float) -> float:
        """Head degrees -> servo degrees; validation keeps [min, max] inside 0..180."""
        return self.center - angle if self.invert else self.center + angle


@dataclass(frozen=True)
class ServosConfig:
    """Which backend drives the two servos, and its connection options."""

    backend: ServoBackendName = "simulated"
    pan: ServoConfig = ServoConfig(min=-80.0, max=80.0, channel=0, pin=17)
    tilt: ServoConfig = ServoConfig(min=-30.0, max=45.0, channel=1, pin=18)
    # PCA9685
    i2c_address: int = 0x40
    pwm_channels: int = 16
    # gpiozero: "pigpio" gives jitter-free hardware-timed pulses (needs the pigpiod daemon).
    pin_factory: str = ""
    # ESPHome servo board (esphome/milo-head.yaml)
    host: str = ""
    port: int = 6053
    encryption_key: str = ""
    # Simulated servo speed; real servos are slower than the limit we command.
    simulated_speed: float = 300.0


@dataclass(frozen=True)
class TrackingConfig:
    """The control loop: pixel error to angle, P control, smoothing and idle behaviour."""

    enabled: bool = True  # initial state of the face_tracking switch
    look_around: bool = False  # initial state of the look_around switch
    gain: float = 8.0  # proportional gain, 1/s
    smoothing: float = 0.5  # EMA weight of the newest measurement (1 = no smoothing)
    deadband: float = 1.5  # degrees; smaller errors do not move the head
    hold_s: float = 2.0  # face lost: keep still this long...
    center_speed: float = 30.0  # ...then ease back to centre at this speed (deg/s)...
    look_around_after_s: float = 20.0  # ...then, if switched on, look around
    look_around_speed: float = 20.0
    manual_hold_s: float = 5.0  # look_at/set_pan win over tracking this long
    lost_after_s: float = 0.5  # a track missing this long is gone
    left_after_s: float = 5.0  # a buddy unseen this long has "left"


@dataclass(frozen=True)
class HeadConfig:
    """Everything `build_head` needs."""

    camera: CameraConfig = field(default_factory=CameraConfig)
    detection: DetectionConfig = field(default_factory=DetectionConfig)
    recognition: RecognitionConfig = field(default_factory=RecognitionConfig)
    servos: ServosConfig = field(default_factory=ServosConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None, path: str = "head") -> HeadConfig:
        """Parse the YAML `head:` section; raises HeadConfigError naming the bad key."""
        config = load_settings(cls(), data or {}, path, HeadConfigError)
        config.validate()
        return config

    def simulated(self, camera_source: str | None = None) -> HeadConfig:
        """This config with simulated servos (and a file camera): `milo-satellite --simulate`.

        A file does not turn with the simulated head, so its camera counts as fixed.
        """
        camera = (
            self.camera if camera_source is None else replace(self.camera, source=camera_source)
        )
        if camera_source_kind(camera.source) == "file":
            camera = replace(camera, mount="fixed")
        return replace(self, camera=camera, servos=replace(self.servos, backend="simulated"))

    @property
    def buddies_path(self) -> Path:
        return Path(self.recognition.buddies_file).expanduser()

    def validate(self) -> None:
        """Cross-field checks that a type check cannot catch."""
        cam = self.camera
        _check(cam.width >= 32 and cam.height >= 32, "head.camera: width/height too small")
        _check(cam.fps > 0, "head.camera.fps must be positive")
        for name, fov in (("hfov", cam.hfov), ("vfov", cam.vfov)):
            _check(0 < fov < 180, f"head.camera.{name} must be between 0 and 180 degrees")
        _check(self.detection.detect_width >= 64, "head.detection.detect_width must be >= 64")
        _check(self.detection.scale_factor > 1.0, "head.detection.scale_factor must be > 1")
        for name in ("full_scan_every", "idle_scan_every"):
            _check(getattr(self.detection, name) >= 1, f"head.detection.{name} must be >= 1")
        rec = self.recognition
        _check(0 < rec.sure <= rec.tolerance < 2, "head.recognition: need 0 < sure <= tolerance")
        _check(rec.enroll_frames >= 1, "head.recognition.enroll_frames must be >= 1")
        for axis in ("pan", "tilt"):
            servo: ServoConfig = getattr(self.servos, axis)
            where = f"head.servos.{axis}"
            _check(servo.min < 0 < servo.max, f"{where}: need min < 0 < max (0 is straight ahead)")
            _check(servo.max - servo.min <= 180, f"{where}: range wider than 180 degrees")
            for limit in (servo.min, servo.max):
                _check(
                    0 <= servo.to_servo(limit) <= 180,
                    f"{where}: limit {limit} is outside the servo's 0..180 with center "
                    f"{servo.center}",
                )
            _check(servo.max_speed > 0, f"{where}.max_speed must be positive")
            _check(servo.min_pulse_us < servo.max_pulse_us, f"{where}: min_pulse_us >= max")
        if self.servos.backend == "esphome":
            _check(bool(self.servos.host), "head.servos.host is required for the esphome backend")
        trk = self.tracking
        _check(0 < trk.smoothing <= 1, "head.tracking.smoothing must be in (0, 1]")
        _check(trk.gain > 0, "head.tracking.gain must be positive")
        _check(trk.deadband >= 0, "head.tracking.deadband must be >= 0")


def camera_source_kind(source: str) -> Literal["none", "file", "live"]:
    """ "none", a "file" (image or video), or a "live" device index, /dev path or URL."""
    source = source.strip()
    if source.lower() in {"", "none"}:
        return "none"
    if source.isdigit() or source.startswith("/dev/") or "://" in source:
        return "live"
    return "file"


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise HeadConfigError(message)
