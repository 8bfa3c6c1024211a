"""`milo-satellite --simulate` as a user runs it: config file, flags, the real head."""

from __future__ import annotations

import asyncio
from asyncio.subprocess import Process
import base64
from collections.abc import AsyncIterator
import os
from pathlib import Path
import socket
import subprocess
import sys

from aioesphomeapi import APIClient, CameraState
import cv2
import pytest
from satellite_helpers import Speech, caught_up, eventually, wav_samples
import skimage.data

from milo_satellite.config import ConfigError, load_config

SATELLITE = Path(sys.executable).parent / "milo-satellite"
PHOTO = Path("/usr/share/doc/opencv-doc/examples/data/messi5.jpg")
KEY = base64.b64encode(os.urandom(32)).decode()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def start_milo(*args: str, cwd: Path | None = None) -> tuple[Process, bytes]:
    """`milo-satellite ARGS` once it has logged that it is up, and its log so far."""
    proc = await asyncio.create_subprocess_exec(
        str(SATELLITE),
        *args,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert proc.stdout is not None
    log = b""
    while b"Milo is up" not in log:
        line = await asyncio.wait_for(proc.stdout.readline(), 120)
        assert line, log.decode()
        log += line
    return proc, log


@pytest.fixture
async def running(speech: Speech, tmp_path: Path) -> AsyncIterator[int]:
    config = tmp_path / "milo.yaml"
    config.write_text(
        "name: milo-desk\n"
        "friendly_name: Milo on the desk\n"
        "voice:\n"
        "  wake_sound: false\n"
        "head:\n"
        "  recognition:\n"
        f"    buddies_file: {tmp_path / 'buddies.json'}\n"
    )
    port = free_port()
    proc, log = await start_milo(
        "--config", str(config),
        "--simulate",
        "--api-port", str(port),
        "--encryption-key", KEY,
        "--no-zeroconf",
        "--mic-file", str(speech.utterance_wav),
        "--sound-dir", str(tmp_path / "sound"),
        "--camera", str(PHOTO),
    )  # fmt: skip
    try:
        yield port
    finally:
        proc.terminate()
        out, _ = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 0, (log + out).decode()[-3000:]
        assert b" ERROR " not in out, out.decode()[-3000:]
        assert b"Traceback" not in out, out.decode()[-3000:]


async def test_stopping_with_home_assistant_connected_is_clean(running: int) -> None:
    """Milo stopped while HA is connected says goodbye and logs no error (the fixture
    stops it with this client still connected, then reads the log)."""
    client = APIClient("127.0.0.1", running, None, noise_psk=KEY)
    await client.connect(login=True)
    assert (await client.device_info()).name == "milo-desk"


async def test_simulated_satellite_with_real_head(running: int) -> None:
    client = APIClient("127.0.0.1", running, None, noise_psk=KEY)
    await client.connect(login=True)
    try:
        info, entities, actions = await client.device_info_and_list_entities()
        assert info.name == "milo-desk"
        assert info.friendly_name == "Milo on the desk"
        ids = {e.object_id for e in entities}
        assert {"head_pan", "camera", "person_in_view", "wake_word", "media_player"} <= ids
        assert {a.name for a in actions} == {
            "enroll_buddy", "forget_buddy", "look_at", "gesture", "dance", "drop_beat",
            "end_of_turn",
        }  # fmt: skip

        # The simulated head looks where it is told (servo limits and speed simulated).
        key = {e.object_id: e.key for e in entities}
        pans: list[float] = []
        client.subscribe_states(
            lambda s: pans.append(s.state) if s.key == key["head_pan"] else None
        )
        look_at = next(a for a in actions if a.name == "look_at")
        result = await client.execute_service(
            look_at, {"pan": 30.0, "tilt": 0.0}, return_response=False
        )
        assert result.success
        await eventually(lambda: pans and pans[-1] == 30.0, within=30)

        # The camera is the photograph, as JPEG.
        images: list[bytes] = []
        client.subscribe_states(
            lambda s: images.append(s.data) if isinstance(s, CameraState) else None
        )
        client.request_single_image()
        await eventually(lambda: images, within=30)
        assert images[0][:2] == b"\xff\xd8"

        # The WAV "microphone" says the wake word; with HA listening a run starts.
        starts: list[str | None] = []

        async def handle_start(
            _cid: str, _flags: int, _settings: object, phrase: str | None
        ) -> int:
            starts.append(phrase)
            return 0

        async def handle_stop(_abort: bool) -> None:
            return None

        async def handle_audio(_data: bytes, _data2: bytes | None = None) -> None:
            return None

        client.subscribe_voice_assistant(
            handle_start=handle_start, handle_stop=handle_stop, handle_audio=handle_audio
        )
        # The simulated microphone speaks once HA listens: the wake word starts a run.
        await eventually(lambda: starts, within=60)
        assert starts == ["Okay Nabu"]
    finally:
        await client.disconnect()


async def test_simulate_with_audio_commands(speech: Speech, tmp_path: Path) -> None:
    """`--simulate` with `--mic-command`/`--snd-command`: the commands replace the WAV file
    and the sound folder, so a demo can speak several requests on cue (here: through a
    FIFO) and take the sound as a stream. The file's own audio commands are ignored."""
    fifo = tmp_path / "mic.fifo"
    os.mkfifo(fifo)
    speaker = tmp_path / "speaker.raw"
    config = tmp_path / "milo.yaml"
    config.write_text("head: false\naudio:\n  snd_command: /nonexistent/aplay\n")
    port = free_port()
    proc, log = await start_milo(
        "--config", str(config),
        "--simulate",
        "--api-port", str(port),
        "--no-zeroconf",
        "--mic-command", f"sh -c 'cat {fifo}; exec sleep 600'",
        "--snd-command", f"sh -c 'cat >> {speaker}'",
        cwd=tmp_path,
    )  # fmt: skip
    client = APIClient("127.0.0.1", port, None)
    try:
        await client.connect(login=True)
        starts: list[str | None] = []

        async def handle_start(
            _cid: str, _flags: int, _settings: object, phrase: str | None
        ) -> int:
            starts.append(phrase)
            return 0

        async def ignore(*_args: object) -> None:
            return None

        client.subscribe_voice_assistant(
            handle_start=handle_start, handle_stop=ignore, handle_audio=ignore
        )
        await caught_up(client)  # the satellite has the subscription before anything is said
        await asyncio.sleep(0.5)
        # Nothing is said until the test speaks through the microphone command.
        assert starts == []
        await asyncio.to_thread(fifo.write_bytes, wav_samples(speech.utterance_wav).tobytes())
        await eventually(lambda: starts, within=60)
        assert starts == ["Okay Nabu"]
        # The wake chime went to the sound command, not to a folder.
        await eventually(lambda: speaker.exists() and speaker.stat().st_size > 4000, within=30)
        assert not (tmp_path / "milo-sound").exists()
    finally:
        await client.disconnect()
        proc.terminate()
        out, _ = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, (log + out).decode()[-3000:]


def test_simulate_audio_sources(tmp_path: Path) -> None:
    """With --simulate: the WAV file and the sound folder, unless commands are typed."""
    config = tmp_path / "milo.yaml"
    config.write_text("audio:\n  mic_command: arecord -D hw:9\n")  # the Pi's, ignored
    files = load_config(["--config", str(config), "--simulate", "--mic-file", "q.wav"])
    assert (files.simulated_microphone, files.simulated_speaker) == (True, True)
    commands = load_config(["--simulate", "--mic-command", "cat", "--snd-command", "cat"])
    assert (commands.simulated_microphone, commands.simulated_speaker) == (False, False)
    speaker = load_config(["--simulate", "--mic-file", "q.wav", "--snd-command", "cat"])
    assert (speaker.simulated_microphone, speaker.simulated_speaker) == (True, False)
    hardware = load_config(["--mic-command", "cat"])
    assert (hardware.simulated_microphone, hardware.simulated_speaker) == (False, False)
    with pytest.raises(ConfigError, match="give one"):
        load_config(["--simulate", "--mic-file", "q.wav", "--mic-command", "cat"])
    config.write_text("command_line_audio: [mic_command]\n")
    with pytest.raises(ConfigError, match="unknown option command_line_audio"):
        load_config(["--config", str(config)])


def test_flags_override_the_file(tmp_path: Path) -> None:
    config = tmp_path / "milo.yaml"
    config.write_text("name: milo\napi_port: 7000\nvoice:\n  wake_word: alexa\n")
    loaded = load_config(
        ["--config", str(config), "--api-port", "6100", "--wake-word", "hey_jarvis",
         "--servo-backend", "pca9685", "--camera", "/dev/video2", "--no-zeroconf"]
    )  # fmt: skip
    assert loaded.api_port == 6100
    assert loaded.voice.wake_word == "hey_jarvis"
    assert loaded.head == {"servos": {"backend": "pca9685"}, "camera": {"source": "/dev/video2"}}
    assert not loaded.zeroconf
    assert loaded.device_mac == load_config(["--name", "milo"]).device_mac  # stable


@pytest.mark.parametrize(
    ("yaml_text", "flags", "message"),
    [
        ("voice:\n  wake_wrod: alexa\n", [], "unknown option voice.wake_wrod"),
        ("api_port: lots\n", [], "api_port must be a whole number, got 'lots'"),
        ("voice:\n  names: milo\n", [], "voice.names must be a list"),
        ("voice:\n  thinking: loud\n", [], "voice.thinking must be one of"),
        ("head:\n  servos:\n    wheels: 4\n", [], "unknown option head.servos.wheels"),
        (
            "head:\n  tracking:\n    smoothing: 0\n",
            [],
            r"tracking.smoothing must be in \(0, 1\]",
        ),
        ("name: Milo The Great\n", [], "name must be"),
        ("voice:\n  thinking: filler\n", [], "needs voice.tts_uri"),
        ("", ["--encryption-key", "c2hvcnQ="], "encryption_key"),
        ("", ["--simulate"], "needs --mic-file .* or --mic-command"),
        ("head: 3\n", [], "head must be a mapping"),
        ("status_light:\n  red_pin: GPIO17\n", [], "BCM pin number"),
    ],
)
def test_bad_config_is_refused_clearly(
    tmp_path: Path, yaml_text: str, flags: list[str], message: str
) -> None:
    config = tmp_path / "milo.yaml"
    config.write_text(yaml_text)
    with pytest.raises(ConfigError, match=message):
        load_config(["--config", str(config), *flags])


def test_a_bad_head_option_exits_like_any_config_error(tmp_path: Path) -> None:
    """Exit code 2 and one line naming the option, before anything starts."""
    config = tmp_path / "milo.yaml"
    config.write_text("head:\n  camera:\n    fps: fast\n")
    done = subprocess.run(
        [str(SATELLITE), "--config", str(config)],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "head.camera.fps must be a number, got 'fast'" in done.stderr
    assert "Traceback" not in done.stderr


def test_example_config_is_valid() -> None:
    """satellite/config.example.yaml loads, and its head section is a valid HeadConfig."""
    from milo_satellite.head import HeadConfig

    example = Path(__file__).parents[2] / "satellite" / "config.example.yaml"
    loaded = load_config(["--config", str(example)])
    assert loaded.voice.wake_word == "okay_nabu"
    assert loaded.audio.snd_rate == 22050
    assert HeadConfig.from_dict(loaded.head).servos.backend == "pca9685"


async def camera_session(
    argv: tuple[str, ...], port: int, switch_to: bool | None, *, face_first: bool = False
) -> tuple[list[bool], list[float], list[bytes]]:
    """Connect, optionally flip the switch, and collect what Milo reports; `face_first`:
    the face is counted while the camera is on (before it goes off, or after on)."""
    proc, _log = await start_milo(*argv)
    client = APIClient("127.0.0.1", port, None)
    switch: list[bool] = []
    faces: list[float] = []
    images: list[bytes] = []
    try:
        await client.connect(login=True)
        _info, entities, _actions = await client.device_info_and_list_entities()
        key = {e.object_id: e.key for e in entities}

        def on_state(state: object) -> None:
            if isinstance(state, CameraState):
                images.append(state.data)
            elif getattr(state, "key", None) == key["camera_on"]:
                switch.append(state.state)  # type: ignore[attr-defined]
            elif getattr(state, "key", None) == key["faces_in_view"]:
                faces.append(state.state)  # type: ignore[attr-defined]

        client.subscribe_states(on_state)
        await eventually(lambda: switch and faces, within=30)
        if face_first and switch[-1]:
            await eventually(lambda: faces[-1] >= 1, within=60)
        if switch_to is not None:
            client.switch_command(key["camera_on"], switch_to)
            await eventually(lambda: switch[-1] == switch_to, within=30)
        if face_first and switch_to:
            await eventually(lambda: faces[-1] >= 1, within=60)
        if switch[-1]:
            client.request_single_image()
            await eventually(lambda: images, within=30)
        else:
            await eventually(lambda: faces[-1] == 0, within=30)  # faces age out
            client.request_single_image()
            await asyncio.sleep(3.0)  # time enough for an image that must not come
    finally:
        await client.disconnect()
        proc.terminate()
        await asyncio.wait_for(proc.communicate(), 30)
    return switch, faces, images


async def test_the_camera_switch_is_kept_across_restarts(speech: Speech, tmp_path: Path) -> None:
    """Through the real client: the Camera switch off empties the view and the snapshot;
    Milo restarted keeps it off (state_file) and sees nobody until it is on again."""
    config = tmp_path / "milo.yaml"
    config.write_text(
        f"state_file: {tmp_path / 'state.json'}\n"
        "voice:\n  wake_sound: false\n"
        f"head:\n  recognition:\n    buddies_file: {tmp_path / 'buddies.json'}\n"
    )
    port = free_port()
    photo = tmp_path / "astronaut.png"  # a face big enough to count (messi5.jpg's is not)
    cv2.imwrite(str(photo), cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR))
    argv = (
        "--config", str(config), "--simulate", "--api-port", str(port), "--no-zeroconf",
        "--mic-file", str(speech.utterance_wav), "--sound-dir", str(tmp_path / "sound"),
        "--camera", str(photo),
    )  # fmt: skip

    switch, faces, images = await camera_session(
        argv, port, False, face_first=True
    )  # the photo has a face
    assert switch[0] is True
    assert faces[-1] == 0
    assert images == []  # no snapshot of a closed camera
    switch, faces, images = await camera_session(argv, port, None)  # restarted: still off
    assert switch == [False]
    assert max(faces) == 0
    assert images == []
    switch, faces, images = await camera_session(argv, port, True, face_first=True)
    assert switch[-1] is True
    assert images
