"""Milo greets a buddy on the real satellite, through a real Home Assistant.

`milo-satellite --simulate` (tests/ha/test_esphome_satellite.py's fixtures) watches a
video instead of a photograph: the astronaut sits at the desk for ARRIVE_S, then the desk
is empty for AWAY_S (longer than the head's five seconds before a buddy has "left"), over
and over, so someone arrives every cycle. HA's ESPHome integration adopts the satellite;
Milo's entry (with milo-tts in the Assist pipeline) puts its "Greet buddies" switch and
gap on the satellite's device. Before she is enrolled she is a stranger (an event, no
hello); enrolled through the satellite's action, she is greeted by name, out loud on the
satellite; not again when she is back within the gap; again with a gap of zero; and not
with the switch off.
"""

from __future__ import annotations

import ast
from pathlib import Path
import re
import subprocess

from homeassistant.components.esphome.const import DOMAIN as ESPHOME
from homeassistant.core import Event, HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_capture_events

from custom_components.milo.greeting import BUDDY_EVENT

from . import test_esphome_satellite as esphome
from .conftest import FakeCloud
from .test_esphome_satellite import VENV_PYTHON, MediaServer, Satellite, _until

# The satellite and HA fixtures of the ESPHome tests, shared rather than copied.
pytestmark = esphome.pytestmark
no_errors_in_the_log = esphome.no_errors_in_the_log
mic_wav = esphome.mic_wav
zeroconf_flag = esphome.zeroconf_flag
satellite_config = esphome.satellite_config
satellite = esphome.satellite
milo_entry = esphome.milo_entry
media_server = esphome.media_server
wyoming_ports = esphome.wyoming_ports
milo_pipeline = esphome.milo_pipeline

ARRIVE_S = 10
AWAY_S = 7
SWITCH = "switch.milo_greet_buddies"
GAP = "number.milo_buddy_greeting_gap"

_VIDEO = """
import sys, cv2, numpy as np, skimage.data
face = cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)
empty = np.full_like(face, 128)
fps, arrive, away = 30, int(sys.argv[2]), int(sys.argv[3])
out = cv2.VideoWriter(sys.argv[1], cv2.VideoWriter_fourcc(*"MJPG"), fps, face.shape[1::-1])
out.set(cv2.VIDEOWRITER_PROP_QUALITY, 60)
for frame in [face] * (arrive * fps) + [empty] * (away * fps):
    out.write(frame)
out.release()
"""


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    """The camera: the astronaut comes and goes (the satellite paces it at 30 fps)."""
    path = tmp_path / "comes_and_goes.avi"
    subprocess.run(
        [str(VENV_PYTHON), "-c", _VIDEO, str(path), str(ARRIVE_S), str(AWAY_S)],
        check=True,
        timeout=120,
    )
    return path


def _announced(tmp_path: Path) -> list[str]:
    """The texts of the announcements the satellite received, from its log."""
    log = (tmp_path / "satellite.log").read_text()
    return [ast.literal_eval(text) for text in re.findall(r"Announcement: (.*) \(then listen", log)]


def _kinds(events: list[Event], after: int = 0) -> list[str]:
    return [f"{e.data['event']} {e.data['name']}" for e in events[after:]]


async def _next(events: list[Event], kind: str, within: float = 60.0) -> int:
    """Wait for the next buddy event of `kind` ("appeared Eileen"); its index."""
    start = len(events)
    await _until(lambda: kind in _kinds(events, start), within=within)
    return start + _kinds(events, start).index(kind)


async def test_a_buddy_is_greeted_on_the_satellite(
    hass: HomeAssistant,
    milo_pipeline: FakeCloud,
    *,
    milo_entry: MockConfigEntry,
    satellite: Satellite,
    media_server: MediaServer,
    tmp_path: Path,
) -> None:
    events = async_capture_events(hass, BUDDY_EVENT)
    await _until(lambda: hass.states.get(SWITCH) is not None)
    assert hass.states.get(SWITCH).state == "on"  # type: ignore[union-attr]
    assert float(hass.states.get(GAP).state) == 10  # type: ignore[union-attr]

    # A stranger sits down: an event for automations, and no hello.
    await _next(events, "stranger stranger", within=120)
    assert events[-1].data["device_id"]
    await hass.services.async_call(ESPHOME, "milo_enroll_buddy", {"name": "Eileen"}, blocking=True)

    # Now she is Eileen: greeted by name, out loud on this satellite.
    await _next(events, "appeared Eileen")
    await _until(lambda: satellite.played("announcement"), within=60)
    (greeting,) = _announced(tmp_path)
    assert "Eileen" in greeting

    # She comes back before the gap (10 minutes): no second hello.
    await _next(events, "left Eileen")
    await _next(events, "appeared Eileen")
    await _next(events, "left Eileen")
    assert len(satellite.played("announcement")) == 1

    # With a gap of zero, every arrival is greeted...
    await hass.services.async_call(
        "number", "set_value", {"entity_id": GAP, "value": 0}, blocking=True
    )
    await _next(events, "appeared Eileen")
    await _until(lambda: len(satellite.played("announcement")) == 2, within=60)
    assert "Eileen" in _announced(tmp_path)[1]

    # ...until the switch is turned off.
    await hass.services.async_call("switch", "turn_off", {"entity_id": SWITCH}, blocking=True)
    await _next(events, "appeared Eileen")
    await _next(events, "left Eileen")
    assert len(satellite.played("announcement")) == 2
    assert len(_announced(tmp_path)) == 2
