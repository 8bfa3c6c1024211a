"""A microphone that plays WAV files on request: raw 16 kHz mono to stdout, in real time.

Between files it sends silence, like a quiet room. A client asks for a file by writing its
path as one line to the control socket; when the file has been played the client gets back
one JSON line with the wall-clock times its first and last samples went out, which is how
the demo knows exactly when the "user" stopped speaking.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
import wave

RATE = 16000
WIDTH = 2


def _load(path: str) -> bytes:
    with wave.open(path, "rb") as wav_file:
        if (wav_file.getframerate(), wav_file.getnchannels(), wav_file.getsampwidth()) != (
            RATE,
            1,
            WIDTH,
        ):
            raise ValueError(f"{path}: the microphone takes 16 kHz 16-bit mono WAV only")
        return wav_file.readframes(wav_file.getnframes())


async def _serve(control: str, chunk_ms: int) -> None:
    requests: asyncio.Queue[tuple[bytes, asyncio.StreamWriter]] = asyncio.Queue()

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line = (await reader.readline()).decode().strip()
        try:
            audio = _load(line)
        except (OSError, ValueError, EOFError, wave.Error) as err:
            writer.write((json.dumps({"error": str(err)}) + "\n").encode())
            await writer.drain()
            writer.close()
            return
        await requests.put((audio, writer))

    server = await asyncio.start_unix_server(on_client, control)
    chunk = RATE * WIDTH * chunk_ms // 1000
    silence = bytes(chunk)
    out = sys.stdout.buffer
    loop = asyncio.get_running_loop()
    start = loop.time()
    sent = 0
    playing: tuple[bytes, asyncio.StreamWriter] | None = None
    position = 0
    started_at = 0.0
    async with server:
        while True:
            if playing is None and not requests.empty():
                playing, position, started_at = requests.get_nowait(), 0, 0.0
            if playing is None:
                data = silence
            else:
                if position == 0:
                    started_at = time.time()
                data = playing[0][position : position + chunk].ljust(chunk, b"\0")
                position += chunk
            out.write(data)
            out.flush()
            if playing is not None and position >= len(playing[0]):
                writer = playing[1]
                reply = {"started_at": started_at, "finished_at": time.time()}
                writer.write((json.dumps(reply) + "\n").encode())
                await writer.drain()
                writer.close()
                playing = None
            sent += 1
            # Keep to the wall clock, catching up if a write blocked.
            await asyncio.sleep(max(0.0, start + sent * chunk_ms / 1000 - loop.time()))


def main() -> None:
    """Run until the reader (the satellite) goes away."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--control", required=True, help="unix socket path for play requests")
    parser.add_argument("--chunk-ms", type=int, default=20)
    args = parser.parse_args()
    with contextlib.suppress(BrokenPipeError, KeyboardInterrupt):
        asyncio.run(_serve(args.control, args.chunk_ms))


if __name__ == "__main__":
    main()
