"""The Pi install: hardware detection on recorded tool output and a fake /dev and /sys,
the config it writes (and keeps on a re-run), and install.sh's steps in --dry-run."""

from __future__ import annotations

import os
from pathlib import Path
import stat
import subprocess
import sys

import pytest
import yaml

from milo_satellite.hardware import Hardware, SoundDevice, detect
from milo_satellite.provision import check, provision, read, write

REPO = Path(__file__).resolve().parents[2]
INSTALL = REPO / "satellite" / "install.sh"
CONFIG_CLI = Path(sys.executable).parent / "milo-satellite-config"

# Recorded on a Pi 4 with a USB microphone and a USB speaker.
ARECORD = """\
**** List of CAPTURE Hardware Devices ****
card 2: Device [USB PnP Sound Device], device 0: USB Audio [USB Audio]
  Subdevices: 1/1
  Subdevice #0: subdevice #0
"""
APLAY = """\
**** List of PLAYBACK Hardware Devices ****
card 0: Headphones [bcm2835 Headphones], device 0: bcm2835 Headphones [bcm2835 Headphones]
  Subdevices: 8/8
card 1: vc4hdmi0 [vc4-hdmi-0], device 0: MAI PCM i2s-hifi-0 [MAI PCM i2s-hifi-0]
  Subdevices: 1/1
card 3: UACDemoV10 [UACDemoV1.0], device 0: USB Audio [USB Audio]
  Subdevices: 1/1
"""
I2CDETECT = """\
     0  1  2  3  4  5  6  7  8  9  a  b  c  d  e  f
00:                         -- -- -- -- -- -- -- --
10: -- -- -- -- -- -- -- -- -- -- -- -- -- -- -- --
40: 40 -- -- -- -- -- -- -- -- -- -- -- -- -- -- --
70: 70 -- -- -- -- -- -- --
"""


def fake_root(tmp_path: Path, videos: dict[str, str], i2c: bool = True) -> Path:
    """/dev and /sys/class/video4linux as a Pi 4 with a USB webcam has them."""
    root = tmp_path / "root"
    (root / "dev").mkdir(parents=True)
    for node, name in videos.items():
        (root / "dev" / node).touch()
        sysfs = root / "sys/class/video4linux" / node
        sysfs.mkdir(parents=True)
        (sysfs / "name").write_text(name + "\n")
    if i2c:
        (root / "dev/i2c-1").touch()
    return root


PI_VIDEOS = {
    "video10": "bcm2835-codec-decode",
    "video11": "bcm2835-codec-encode",
    "video13": "bcm2835-isp",
    "video2": "HD Pro Webcam C920",
    "video3": "HD Pro Webcam C920",  # its metadata node
}


def recorded(argv: list[str]) -> str | None:
    return {"arecord": ARECORD, "aplay": APLAY, "i2cdetect": I2CDETECT}.get(argv[0])


def test_a_pi_with_usb_audio_a_webcam_and_a_servo_board(tmp_path: Path) -> None:
    found = detect(recorded, fake_root(tmp_path, PI_VIDEOS))
    assert found.microphone == SoundDevice(2, "Device", "USB PnP Sound Device", 0)
    assert found.microphone.alsa == "plughw:CARD=Device,DEV=0"  # stable across reboots
    assert found.speaker is not None
    assert found.speaker.alsa == "plughw:CARD=UACDemoV10,DEV=0"  # not the jack or HDMI
    assert found.camera == "/dev/video2"  # not the codecs or the ISP
    assert found.servo_board == 0x40  # 0x70 is the PCA9685's all-call address


def test_a_bare_pi(tmp_path: Path) -> None:
    """Only the Pi's own jack: used, as nothing else is there; no I2C bus enabled."""
    bare = fake_root(tmp_path, {"video10": "bcm2835-codec-decode"}, i2c=False)
    found = detect(
        lambda argv: APLAY.split("card 1", maxsplit=1)[0] if argv[0] == "aplay" else None, bare
    )
    assert found.microphone is None
    assert found.speaker is not None
    assert found.speaker.card_id == "Headphones"
    assert (found.camera, found.servo_board) == (None, None)
    assert "none found" in found.describe()[0]


def test_the_config_written_for_the_hardware(tmp_path: Path) -> None:
    config = provision({}, detect(recorded, fake_root(tmp_path, PI_VIDEOS)), name="milo-desk")
    assert config["audio"]["mic_command"].startswith("arecord -D plughw:CARD=Device,DEV=0 ")
    assert "-r 16000 -c 1 -f S16_LE -t raw" in config["audio"]["mic_command"]
    assert config["audio"]["snd_command"].startswith("aplay -D plughw:CARD=UACDemoV10,DEV=0 ")
    assert config["head"]["camera"] == {"source": "/dev/video2"}
    assert config["head"]["servos"] == {"backend": "pca9685", "i2c_address": 0x40}
    loaded = check(config)  # the satellite's own loader accepts it
    assert loaded.name == "milo-desk"
    assert len(loaded.encryption_key) == 44


def test_a_rerun_keeps_the_key_and_every_choice(tmp_path: Path) -> None:
    hardware = detect(recorded, fake_root(tmp_path, PI_VIDEOS))
    first = provision({}, hardware)
    edited = {**first, "friendly_name": "Desk buddy", "head": False}
    again = provision(edited, hardware, name="other")
    assert again == edited  # nothing the file says changes, the key above all


def test_nothing_to_be_a_head_with() -> None:
    config = provision({}, Hardware(None, None, None, None))
    assert config["head"] is False
    assert "audio" not in config
    assert check(config).head is None


def test_written_atomically_and_private(tmp_path: Path) -> None:
    path = tmp_path / "etc" / "satellite.yaml"
    write(path, provision({}, Hardware(None, None, None, None)))
    assert stat.S_IMODE(path.stat().st_mode) & 0o027 == 0  # no write for group, none for others
    assert read(path)["name"] == "milo"
    assert not list(path.parent.glob(".*.tmp"))


def test_the_command_line_writes_once_then_leaves_it(tmp_path: Path) -> None:
    path = tmp_path / "satellite.yaml"
    root = fake_root(tmp_path, {})
    argv = [str(CONFIG_CLI), "write", "--config", str(path), "--root", str(root)]
    first = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=60)
    key = yaml.safe_load(path.read_text())["encryption_key"]
    assert f"encryption key: {key}" in first.stdout
    assert "port: 6053" in first.stdout
    second = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=60)
    assert "left as it is" in second.stdout
    assert yaml.safe_load(path.read_text())["encryption_key"] == key
    path.write_text("head:\n  camera:\n    fps: fast\n")
    bad = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)
    assert bad.returncode == 2
    assert "head.camera.fps must be a number" in bad.stderr


def os_release(tmp_path: Path, codename: str, distro: str = "debian") -> Path:
    path = tmp_path / f"os-release-{codename}"
    path.write_text(f'ID={distro}\nVERSION_CODENAME={codename}\nPRETTY_NAME="{codename}"\n')
    return path


def install(
    tmp_path: Path, *args: str, codename: str = "bookworm"
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "MILO_OS_RELEASE": str(os_release(tmp_path, codename)),
        "MILO_PREFIX": str(tmp_path / "opt"),
        "MILO_CONFIG": str(tmp_path / "etc" / "satellite.yaml"),
    }
    return subprocess.run(
        ["bash", str(INSTALL), "--dry-run", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("faces", "extras", "compiler"),
    [
        ("compiled", "vision,pca9685,gpio,faces", True),
        ("prebuilt", "vision,pca9685,gpio,faces-prebuilt", False),
        ("none", "vision,pca9685,gpio", False),
    ],
)
def test_install_steps(tmp_path: Path, faces: str, extras: str, compiler: bool) -> None:
    done = install(tmp_path, "--yes", "--faces", faces)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "apt-get install -y -q python3-venv" in out
    assert ("build-essential" in out) == compiler
    assert f"python3 -m venv {tmp_path}/opt/venv" in out
    assert f"pip install {REPO}/satellite[{extras}]" in out
    assert f"milo-satellite-config write --config {tmp_path}/etc/satellite.yaml" in out
    assert f"chmod 0640 {tmp_path}/etc/satellite.yaml" in out
    assert "milo-satellite.service /etc/systemd/system/milo-satellite.service" in out
    assert "50-milo-poweroff.rules /etc/polkit-1/rules.d/50-milo-poweroff.rules" in out


def test_install_refuses_an_old_or_foreign_system(tmp_path: Path) -> None:
    old = install(tmp_path, "--yes", codename="bullseye")
    assert old.returncode == 1
    assert "needs bookworm or newer" in old.stderr
    bad_flag = install(tmp_path, "--faces", "fast")
    assert bad_flag.returncode == 1
    assert "--faces must be compiled, prebuilt or none" in bad_flag.stderr
    unknown = install(tmp_path, "--wat")
    assert unknown.returncode == 2


def test_uninstall_keeps_the_key_unless_purged(tmp_path: Path) -> None:
    kept = install(tmp_path, "--uninstall")
    assert kept.returncode == 0, kept.stderr
    assert f"rm -rf {tmp_path}/opt" in kept.stdout
    assert "kept" in kept.stdout
    assert f"rm -rf {tmp_path}/etc" not in kept.stdout
    purged = install(tmp_path, "--purge")
    assert f"rm -rf {tmp_path}/etc /var/lib/milo" in purged.stdout
