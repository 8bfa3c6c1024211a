"""What is plugged into the Pi: microphone, speaker, camera and servo board.

`install.sh` asks this once, so a new user does not have to read `arecord -l` and
`i2cdetect` output to write the config. Each finding comes from the tool a person would
use (`arecord -l`, `aplay -l`, `i2cdetect -y 1`) or from sysfs (`/sys/class/video4linux`),
parsed here; the commands and the file system root are parameters, so tests feed
recorded output and a fake `/dev` and `/sys`.

ALSA devices are named by card id (`plughw:CARD=Device,DEV=0`), not number: the numbers
change when USB devices enumerate in another order at boot, the ids do not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
import re
import subprocess

Run = Callable[[list[str]], str | None]  # a command's stdout, None if it cannot run

PCA9685_ADDRESSES = range(0x40, 0x70)  # the board's six address jumpers (0x70: all-call)
# Video nodes a Pi has that are not cameras (codecs, ISPs, the camera front end).
_NOT_CAMERAS = re.compile(r"codec|isp|hevc|pispbe|rp1-cfe|unicam|bcm2835-v4l2-|mem2mem", re.I)
_CARD = re.compile(r"^card (\d+): (\S+) \[([^\]]*)\], device (\d+): [^\[]*\[([^\]]*)\]", re.M)


@dataclass(frozen=True)
class SoundDevice:
    card: int
    card_id: str  # ALSA's stable name for the card
    name: str
    device: int

    @property
    def alsa(self) -> str:
        return f"plughw:CARD={self.card_id},DEV={self.device}"

    @property
    def builtin(self) -> bool:
        """The Pi's own audio jack or HDMI: usable, but never what someone plugged in."""
        return bool(re.search(r"bcm2835|headphones|hdmi|vc4", f"{self.card_id} {self.name}", re.I))


@dataclass(frozen=True)
class Hardware:
    microphone: SoundDevice | None
    speaker: SoundDevice | None
    camera: str | None  # /dev/videoN
    servo_board: int | None  # the PCA9685's I2C address on bus 1

    def describe(self) -> list[str]:
        """One line per part, for the installer's report."""
        return [
            f"microphone: {_sound(self.microphone)}",
            f"speaker:    {_sound(self.speaker)}",
            f"camera:     {self.camera or 'none found (the head runs without recognition)'}",
            "servos:     "
            + (
                f"PCA9685 at I2C 0x{self.servo_board:02x}"
                if self.servo_board is not None
                else "no PCA9685 on I2C bus 1 (the head stays still; see docs/head.md)"
            ),
        ]


def _sound(device: SoundDevice | None) -> str:
    return f"{device.name} ({device.alsa})" if device else "none found"


def run_command(argv: list[str]) -> str | None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def sound_devices(listing: str) -> list[SoundDevice]:
    """The devices of `arecord -l` / `aplay -l` output."""
    return [
        SoundDevice(int(card), card_id, name, int(device))
        for card, card_id, name, device, _desc in _CARD.findall(listing)
    ]


def pick_sound_device(devices: list[SoundDevice]) -> SoundDevice | None:
    """What someone plugged in (USB, a HAT) before the Pi's own jack and HDMI."""
    return min(devices, key=lambda d: (d.builtin, d.card, d.device), default=None)


def cameras(root: Path) -> list[str]:
    """Capture devices under `root`/dev, by the names sysfs gives them."""
    found = []
    for node in sorted((root / "sys/class/video4linux").glob("video*"), key=_node_number):
        try:
            name = (node / "name").read_text().strip()
        except OSError:
            continue
        if not _NOT_CAMERAS.search(name) and (root / "dev" / node.name).exists():
            found.append(f"/dev/{node.name}")
    return found


def _node_number(path: Path) -> int:
    return int(re.sub(r"\D", "", path.name) or 0)


def i2c_addresses(listing: str) -> list[int]:
    """The addresses that answered in `i2cdetect -y 1` output ("UU": in use by a driver)."""
    found = []
    for line in listing.splitlines():
        row, _, cells = line.partition(":")
        if not re.fullmatch(r"[0-7]0", row.strip()):
            continue
        for cell in cells.split():
            if re.fullmatch(r"[0-9a-f]{2}", cell):
                found.append(int(cell, 16))
    return found


def detect(run: Run = run_command, root: Path = Path("/")) -> Hardware:
    mic = pick_sound_device(sound_devices(run(["arecord", "-l"]) or ""))
    speaker = pick_sound_device(sound_devices(run(["aplay", "-l"]) or ""))
    found_cameras = cameras(root)
    board = None
    if (root / "dev/i2c-1").exists():
        answered = i2c_addresses(run(["i2cdetect", "-y", "1"]) or "")
        board = next((a for a in answered if a in PCA9685_ADDRESSES), None)
    return Hardware(mic, speaker, found_cameras[0] if found_cameras else None, board)
