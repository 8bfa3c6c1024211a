"""The end-to-end scenario, run once per Home Assistant release: a real hass, the services, a
simulated Milo.

The whole run (start, four spoken requests, shutdown) happens in the session fixture, once
with .venv-ha's release (the one the unit tests pin) and once with .venv-ha-next's (the
newest); the tests then assert on what each run recorded. Nothing is mocked: the only
stand-ins are the satellite's microphone (WAV files), speaker (WAV files) and servos
(simulated).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
import contextlib
from pathlib import Path
import subprocess
import sys

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "demo"))

from milo_demo.errors import poll, stage  # noqa: E402
from milo_demo.run import DemoRun, run_demo  # noqa: E402
from milo_demo.scenario import DEMO_REQUESTS  # noqa: E402
from milo_demo.stack import DemoStack, StackOptions  # noqa: E402

SURF_SENSOR = "sensor.east_strand_rating"
SURF_QUESTION = "How is the surf at East Strand today?"
# The environments whose `hass` the scenario runs in (script/setup makes both).
HA_VENVS = (".venv-ha", ".venv-ha-next")


def installed_ha_version(venv: str) -> str:
    """The Home Assistant release a venv holds (its `hass` must report the same)."""
    python = REPO / venv / "bin" / "python"
    if not python.exists():
        pytest.fail(f"{python} is missing: run script/setup")
    code = "from homeassistant.const import __version__; print(__version__)"
    return subprocess.run(
        [str(python), "-c", code], check=True, capture_output=True, text=True
    ).stdout.strip()


@contextlib.contextmanager
def loopback_sockets() -> Iterator[None]:
    """Allow loopback and unix sockets (pytest-homeassistant-custom-component blocks all).

    The processes under test talk over loopback TCP, and so must the test to reach them;
    anything else stays blocked, which also checks that the demo needs no network.
    """
    try:
        import pytest_socket
    except ImportError:
        yield
        return
    pytest_socket.enable_socket()
    pytest_socket.socket_allow_hosts(["127.0.0.1"], allow_unix_socket=True)
    try:
        yield
    finally:
        pytest_socket.socket_allow_hosts(["127.0.0.1"])
        pytest_socket.disable_socket(allow_unix_socket=True)


async def surf_without_the_stand_in(stack: DemoStack, run: DemoRun) -> None:
    """After the spoken scenario, the offline path in the same Home Assistant: take the
    recorded-forecast stand-in away, let the surf sensors fail, and ask again (as text,
    through HA's conversation API): Milo must say it has no forecast."""
    assert stack.open_meteo is not None
    assert stack.hass.rest is not None
    run.info["ha_version"] = (await stack.hass.rest.get("/api/config"))["version"]
    await stack.open_meteo.stop()
    await stack.hass.call_service("homeassistant", "update_entity", entity_id=SURF_SENSOR)

    async def unavailable() -> bool:
        return bool((await stack.hass.state(SURF_SENSOR))["state"] == "unavailable")

    async with stage("surf sensors unavailable without the stand-in", 60.0, stack.hass.log):
        await poll(unavailable, 0.5)
    answer = await stack.hass.rest.post(
        "/api/conversation/process",
        json={"text": SURF_QUESTION, "language": "en", "agent_id": stack.configured.agent_entity},
    )
    run.surf["offline_answer"] = answer["response"]["speech"]["plain"]["speech"]


@pytest.fixture(scope="session", params=HA_VENVS)
def ha_venv(request: pytest.FixtureRequest) -> str:
    """The environment whose Home Assistant the scenario runs in."""
    return str(request.param)


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory, ha_venv: str) -> DemoRun:
    """Run the demo scenario headless on free ports; stages fail with their log named.

    Surf comes from the recorded-forecast stand-in; afterwards the offline path is asked
    in the same run (see surf_without_the_stand_in), which is cheaper than a second run.
    """
    run_dir = tmp_path_factory.mktemp("e2e")
    options = StackOptions(repo=REPO, run_dir=run_dir, default_ports=False, ha_venv=ha_venv)
    with loopback_sockets():
        return asyncio.run(run_demo(options, DEMO_REQUESTS, hold=surf_without_the_stand_in))
