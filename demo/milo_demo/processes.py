"""Start the demo's processes, each in its own process group, and stop every one of them.

Each process gets a session of its own, so SIGTERM/SIGKILL to its group also reaches what it
spawned (hass's ffmpeg, the satellite's sound command). After shutdown the supervisor scans
/proc for anything still in those groups: "nothing left running" is checked, not assumed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
import contextlib
from dataclasses import dataclass
import logging
import os
from pathlib import Path
import signal
import socket

from .errors import StageError

_LOGGER = logging.getLogger(__name__)

STOP_TIMEOUT = 15.0
KILL_TIMEOUT = 5.0


@dataclass
class ManagedProcess:
    """A started process, the log it writes to, and its process group."""

    name: str
    process: asyncio.subprocess.Process
    log: Path

    @property
    def pgid(self) -> int:
        """The process group id: the child leads its own session."""
        return self.process.pid

    @property
    def running(self) -> bool:
        """Whether the process has not exited yet."""
        return self.process.returncode is None


class Supervisor:
    """Owns the demo's processes from start to a verified clean stop."""

    def __init__(self, logs_dir: Path) -> None:
        self.logs_dir = logs_dir
        self.processes: dict[str, ManagedProcess] = {}
        self._pgids: set[int] = set()

    async def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> ManagedProcess:
        """Start argv with stdout and stderr going to logs/<name>.log."""
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        log = self.logs_dir / f"{name}.log"
        full_env = dict(os.environ)
        full_env.update(env or {})
        full_env.setdefault("PYTHONUNBUFFERED", "1")
        with log.open("ab") as log_file:
            log_file.write(f"$ {' '.join(argv)}\n".encode())
            log_file.flush()
            try:
                process = await asyncio.create_subprocess_exec(
                    *argv,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=asyncio.subprocess.STDOUT,
                    env=full_env,
                    cwd=cwd,
                    start_new_session=True,
                )
            except OSError as err:
                raise StageError(f"start {name}", f"cannot run {argv[0]}: {err}", log) from err
        managed = ManagedProcess(name, process, log)
        self.processes[name] = managed
        self._pgids.add(managed.pgid)
        _LOGGER.debug("started %s (pid %s): %s", name, process.pid, " ".join(argv))
        return managed

    def check_alive(self, name: str, stage: str) -> None:
        """Fail the stage early, with the right log, when a process has died."""
        managed = self.processes[name]
        if not managed.running:
            raise StageError(
                stage, f"{name} exited with code {managed.process.returncode}", managed.log
            )

    async def wait_for_port(
        self, name: str, port: int, limit_s: float, host: str = "127.0.0.1"
    ) -> None:
        """Wait until the process listens on host:port (or fail naming its log)."""
        stage = f"start {name}"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit_s
        while True:
            self.check_alive(name, stage)
            try:
                _reader, writer = await asyncio.open_connection(host, port)
            except OSError:
                if loop.time() > deadline:
                    raise StageError(
                        stage,
                        f"not listening on {host}:{port} after {limit_s:.0f} s",
                        self.processes[name].log,
                    ) from None
                await asyncio.sleep(0.25)
                continue
            writer.close()
            await writer.wait_closed()
            return

    async def stop(self, name: str) -> None:
        """SIGTERM the process group, then SIGKILL what is still there."""
        managed = self.processes.pop(name, None)
        if managed is None:
            return
        if managed.running:
            _signal_group(managed.pgid, signal.SIGTERM)
            try:
                await asyncio.wait_for(managed.process.wait(), STOP_TIMEOUT)
            except TimeoutError:
                _LOGGER.warning("%s ignored SIGTERM for %.0f s; killing it", name, STOP_TIMEOUT)
        # Children that outlived their parent are still in the group.
        _signal_group(managed.pgid, signal.SIGKILL)
        if managed.running:
            try:
                await asyncio.wait_for(managed.process.wait(), KILL_TIMEOUT)
            except TimeoutError:
                _LOGGER.warning("%s (pid %s) survived SIGKILL", name, managed.pgid)

    async def stop_all(self) -> None:
        """Stop everything, newest first (HA before the services it talks to)."""
        for name in reversed(list(self.processes)):
            await self.stop(name)

    def leftovers(self) -> list[str]:
        """Processes still alive in any group this supervisor ever started."""
        return [f"pid {pid}: {cmd}" for pid, cmd in _processes_in_groups(self._pgids)]


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def _processes_in_groups(pgids: set[int]) -> list[tuple[int, str]]:
    """(pid, command line) of live, non-zombie processes whose group is in pgids."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        # Fields after the parenthesised command: state ppid pgrp ...
        fields = stat.rsplit(")", 1)[1].split()
        state, pgrp = fields[0], int(fields[2])
        if pgrp in pgids and state != "Z":
            found.append((int(entry.name), cmdline.replace(b"\0", b" ").decode(errors="replace")))
    return found


def free_port(preferred: int | None = None) -> int:
    """The preferred TCP port on 127.0.0.1 if it is free, else one the kernel picks."""
    candidates = [preferred] if preferred else []
    for port in [*candidates, 0]:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise OSError("no free TCP port on 127.0.0.1")
