"""The deployment files agree with systemd and with each other: unit, example config, guide."""

from __future__ import annotations

import configparser
from pathlib import Path
import shutil
import subprocess
import sys

import pytest

from milo_satellite.config import load_config

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "satellite" / "systemd" / "milo-satellite.service"
EXAMPLE = REPO / "satellite" / "config.example.yaml"
GUIDE = REPO / "docs" / "satellite.md"
INSTALLED = "/opt/milo/venv/bin/milo-satellite"


def _service() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read_string(UNIT.read_text())
    return parser["Service"]


def test_systemd_accepts_the_unit(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    unit = tmp_path / UNIT.name
    # Our console script stands in for the one the install guide puts in /opt/milo.
    unit.write_text(
        UNIT.read_text().replace(INSTALLED, str(Path(sys.executable).parent / "milo-satellite"))
    )
    result = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert UNIT.name not in result.stderr, result.stderr  # no warnings about our unit


def test_unit_install_guide_and_example_config_agree() -> None:
    service = _service()
    assert service["ExecStart"].split() == [INSTALLED, "--config", "/etc/milo/satellite.yaml"]
    guide = GUIDE.read_text()
    for step in (
        "python3 -m venv /opt/milo/venv",
        "cp satellite/config.example.yaml /etc/milo/satellite.yaml",
        "cp satellite/systemd/milo-satellite.service /etc/systemd/system/",
    ):
        assert step in guide, step
    # The guide's user has every group the unit asks for (sound, camera, servos, LEDs).
    groups = service["SupplementaryGroups"].split()
    assert set(groups) == {"audio", "video", "gpio", "i2c"}
    assert f"--groups {','.join(groups)} milo" in guide
    # What Milo writes (buddies) is where the sandbox lets it write.
    example = load_config(["--config", str(EXAMPLE)])
    assert example.head is not None
    assert example.head["recognition"]["buddies_file"].startswith(service["ReadWritePaths"])
    # Device access must survive the hardening: /dev/snd, /dev/video*, /dev/i2c-*.
    for closes_devices in ("PrivateDevices", "DevicePolicy", "DeviceAllow", "ProtectClock"):
        assert closes_devices not in service, closes_devices
