"""The `head:` config section: defaults, YAML types, and errors that name the bad key."""

from __future__ import annotations

import pytest
import yaml

from milo_satellite.head.config import HeadConfig, camera_source_kind
from milo_satellite.head.errors import HeadError


def test_empty_section_is_a_working_simulated_head() -> None:
    config = HeadConfig.from_dict(None)
    assert config.servos.backend == "simulated"
    assert config.camera.width == 640
    assert config.servos.pan.min < 0 < config.servos.pan.max


def test_yaml_values() -> None:
    text = """
    camera: {source: 0, flip: both, hfov: 66}
    servos:
      backend: pca9685
      i2c_address: 0x41
      pan: {min: -60, max: 60, center: 95, invert: true}
    tracking: {look_around: true, gain: 6}
    """
    config = HeadConfig.from_dict(yaml.safe_load(text))
    assert config.camera.source == "0"
    assert config.camera.flip == "both"
    assert config.camera.hfov == 66.0
    assert config.servos.i2c_address == 0x41
    assert config.servos.pan.invert
    assert config.servos.pan.to_servo(10.0) == 85.0
    assert config.servos.tilt.min == -30.0  # untouched axis keeps its defaults
    assert config.tracking.gain == 6.0
    assert HeadConfig.from_dict({"servos": {"i2c_address": "0x42"}}).servos.i2c_address == 0x42


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"camera": {"fps": "fast"}}, "head.camera.fps must be a number"),
        ({"camera": {"flip": "sideways"}}, "head.camera.flip must be one of"),
        ({"camera": {"hfov": 200}}, "hfov must be between 0 and 180"),
        ({"servos": {"pan": {"min": 10}}}, "head.servos.pan: need min < 0 < max"),
        ({"servos": {"tilt": {"max": 120}}}, "limit 120.0 is outside the servo's 0..180"),
        ({"servos": {"pan": {"channel": 1.5}}}, "head.servos.pan.channel must be a whole number"),
        ({"servos": {"backend": "esphome"}}, "host is required"),
        ({"servos": {"wheels": 4}}, "unknown option head.servos.wheels"),
        ({"tracking": {"enabled": "yes"}}, "head.tracking.enabled must be true or false"),
        ({"tracking": {"smoothing": 0}}, "smoothing must be in (0, 1]"),
        ({"recognition": {"sure": 0.7}}, "need 0 < sure <= tolerance"),
        ({"camera": ["not", "a", "mapping"]}, "head.camera must be a mapping"),
        ({"tracking": {"gain": float("nan")}}, "head.tracking.gain must be a number"),
    ],
)
def test_bad_values_name_their_key(section: dict, message: str) -> None:
    with pytest.raises(HeadError) as err:
        HeadConfig.from_dict(section)
    assert message in str(err.value)


def test_simulated_mode() -> None:
    config = HeadConfig.from_dict({"servos": {"backend": "gpio"}}).simulated("desk.mp4")
    assert config.servos.backend == "simulated"
    assert config.camera.source == "desk.mp4"
    assert config.camera.mount == "fixed"  # a file does not turn with the head
    assert HeadConfig().simulated().camera.mount == "head"  # a live camera still does


@pytest.mark.parametrize(
    ("source", "kind"),
    [
        ("0", "live"),
        ("/dev/video2", "live"),
        ("rtsp://cam.local/stream", "live"),
        ("none", "none"),
        ("", "none"),
        ("~/milo/desk.jpg", "file"),
    ],
)
def test_camera_source_kinds(source: str, kind: str) -> None:
    assert camera_source_kind(source) == kind
