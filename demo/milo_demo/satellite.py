"""The simulated Milo on the desk: `milo-satellite --simulate` (simulated servos, a camera
reading a face picture) with a microphone command that plays the demo's spoken requests on
cue and a sound command that records, with timestamps, what Milo says."""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass
import json
import os
from pathlib import Path
import secrets
import shlex
import shutil
import sys
from typing import TYPE_CHECKING, Any

from PIL import Image
import yaml

from .errors import StageError, poll
from .processes import Supervisor
from .scenario import WAKE_WORD
from .speech import SpokenRequest

if TYPE_CHECKING:
    from .homeassistant import HassProcess

DEVICES = Path(__file__).with_name("devices")
SPEAK_S = 60.0
NAME = "milo"
SOUND_RATE = 22050  # piper's rate: what HA's TTS sends, so the satellite need not convert
# The head's entities (docs/contracts.md) whose states tell where Milo looks and whom it sees.
HEAD_ENTITIES = ("head_pan", "head_tilt", "person_in_view", "faces_in_view")
# Where the face sits in the camera frame: left of centre and high, so the head must turn
# left (negative pan) and up to look at it.
FRAME = (640, 480)
FACE_BOX = (0, 0, 480, 480)  # left, top, right, bottom of the astronaut picture (its face: ~95 px)


@dataclass(frozen=True)
class AnswerAudio:
    """A clip the satellite's speaker played."""

    path: Path
    first_audio_at: float
    seconds: float
    stalled_s: float  # how long the speaker ran dry mid-clip (a stutter)


def write_face_image(repo: Path, out: Path) -> Path:
    """A 640x480 camera frame with scikit-image's astronaut (a real face) off-centre."""
    sources = sorted((repo / ".venv").glob("lib/python3*/site-packages/skimage/data/astronaut.png"))
    if not sources:
        raise StageError("camera image", "scikit-image's astronaut.png not found: run script/setup")
    left, top, right, bottom = FACE_BOX
    with Image.open(sources[0]) as astronaut:
        face = astronaut.convert("RGB").resize((right - left, bottom - top))
    frame = Image.new("RGB", FRAME, (40, 44, 52))
    frame.paste(face, (left, top))
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.save(out)
    return out


class SimulatedSatellite:
    """Starts milo-satellite with simulated hardware and plays/records its audio."""

    def __init__(
        self, supervisor: Supervisor, repo: Path, run_dir: Path, port: int, *, encryption: bool
    ) -> None:
        self.supervisor = supervisor
        self.repo = repo
        self.run_dir = run_dir
        self.port = port
        self.encryption_key = (
            base64.b64encode(secrets.token_bytes(32)).decode() if encryption else None
        )
        self.sound_dir = run_dir / "answers"
        self.control = run_dir / "mic.sock"
        self.speaker = run_dir / "speaker.fifo"

    @property
    def log(self) -> Path:
        """The satellite's log file."""
        return self.supervisor.logs_dir / "milo-satellite.log"

    def write_config(self, camera: Path) -> Path:
        """The satellite's YAML config, as a user would write it (config.example.yaml)."""
        config = {
            "name": NAME,
            "friendly_name": "Milo",
            "host": "127.0.0.1",
            "api_port": self.port,
            "encryption_key": self.encryption_key or "",
            "zeroconf": False,
            "audio": {"snd_rate": SOUND_RATE},
            "voice": {"wake_word": WAKE_WORD},
            "head": {
                "camera": {"source": str(camera)},
                "recognition": {"buddies_file": str(self.run_dir / "buddies.json")},
            },
        }
        path = self.run_dir / "satellite.yaml"
        # It holds the Noise key: readable by its owner only, even if an older run's
        # file was not.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(
                "# Written by script/demo: Milo's satellite with simulated servos.\n"
                + yaml.safe_dump(config, sort_keys=False)
            )
        return path

    def _mic_command(self) -> str:
        python = shlex.quote(sys.executable)
        feed = shlex.quote(str(DEVICES / "mic_feed.py"))
        return f"{python} {feed} --control {shlex.quote(str(self.control))}"

    def _snd_command(self) -> str:
        """Per clip, `cat` into the recorder's FIFO: it starts in a millisecond, like aplay."""
        return shlex.join(["sh", "-c", f"exec cat > {shlex.quote(str(self.speaker))}"])

    async def _start_speaker(self) -> None:
        """The recorder behind the simulated speaker, running before the satellite plays."""
        await asyncio.to_thread(os.mkfifo, self.speaker)
        argv = [
            sys.executable, str(DEVICES / "sound_sink.py"),
            "--fifo", str(self.speaker), "--rate", str(SOUND_RATE), "--dir", str(self.sound_dir),
        ]  # fmt: skip
        await self.supervisor.start("speaker", argv, cwd=self.run_dir)

    async def start(self, limit_s: float) -> None:
        """Start the satellite and wait for its API port and its microphone."""
        await asyncio.to_thread(self._clean)
        camera = await asyncio.to_thread(
            write_face_image, self.repo, self.run_dir / "camera" / "face.png"
        )
        config = await asyncio.to_thread(self.write_config, camera)
        await self._start_speaker()
        argv = [
            str(self.repo / ".venv" / "bin" / "milo-satellite"),
            *("--simulate", "--config", str(config)),
            # --simulate's microphone plays one WAV once; the demo speaks several requests,
            # each on cue, and timestamps the answers: both are commands, as on a Pi.
            *("--mic-command", self._mic_command(), "--snd-command", self._snd_command()),
        ]
        await self.supervisor.start("milo-satellite", argv, cwd=self.run_dir)
        await self.supervisor.wait_for_port("milo-satellite", self.port, limit_s)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit_s
        while not self.control.exists():
            self.supervisor.check_alive("milo-satellite", "start milo-satellite")
            if loop.time() > deadline:
                raise StageError(
                    "start milo-satellite", "the satellite never started its microphone", self.log
                )
            await asyncio.sleep(0.2)

    def _clean(self) -> None:
        self.control.unlink(missing_ok=True)
        self.speaker.unlink(missing_ok=True)
        if self.sound_dir.exists():
            shutil.rmtree(self.sound_dir)
        self.sound_dir.mkdir(parents=True)

    async def speak(self, spoken: SpokenRequest) -> float:
        """Play a request into the microphone; returns the wall time its speech ended."""
        step = f"speak '{spoken.request.text}'"
        self.supervisor.check_alive("milo-satellite", step)
        try:
            async with asyncio.timeout(spoken.duration_s + SPEAK_S):
                reader, writer = await asyncio.open_unix_connection(str(self.control))
                writer.write(f"{spoken.wav.resolve()}\n".encode())
                await writer.drain()
                reply = json.loads(await reader.readline() or b"{}")
                writer.close()
        except (OSError, TimeoutError, ValueError) as err:
            raise StageError(
                step, f"the microphone did not play the request: {err}", self.log
            ) from err
        if "started_at" not in reply:
            raise StageError(step, f"the microphone refused the request: {reply}", self.log)
        return float(reply["started_at"]) + spoken.speech_end_s

    def _sounds(self) -> list[dict[str, Any]]:
        path = self.sound_dir / "sounds.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]

    async def answer_audio(self, speech_end: float, limit_s: float) -> AnswerAudio:
        """The first clip the speaker started after the user stopped speaking.

        The wake chime starts while the user is still talking, so it never qualifies.
        """

        async def answer() -> dict[str, Any] | None:
            clips = await asyncio.to_thread(self._sounds)
            return next((c for c in clips if c["first_audio_at"] > speech_end), None)

        try:
            async with asyncio.timeout(limit_s):
                clip = await poll(answer, 0.2)
        except TimeoutError as err:
            raise StageError("answer audio", "the satellite played no answer", self.log) from err
        return AnswerAudio(
            Path(clip["file"]),
            float(clip["first_audio_at"]),
            float(clip["seconds"]),
            float(clip["stalled_s"]),
        )

    async def head_report(self, hass: HassProcess, entry_id: str) -> dict[str, Any]:
        """The head's pose and who it sees, as HA's entities report them."""
        report: dict[str, Any] = {}
        for entity in await hass.entities_of(entry_id):
            object_id = entity["entity_id"].split(".", 1)[1]
            for key in HEAD_ENTITIES:
                if object_id.endswith(key):
                    report[key] = (await hass.state(entity["entity_id"]))["state"]
        return report
