"""docs/contracts.md against every deployable's own constants: one disagreement, one failure
that names it. (The integration is read as files: its package needs Home Assistant.)"""

from __future__ import annotations

import ast
import json
from pathlib import Path
import re
import sys

import pytest
from satellite_helpers import Milo

from milo_satellite.api.zeroconf import SERVICE_TYPE as SATELLITE_SERVICE_TYPE
from milo_satellite.config import SatelliteConfig
from milo_satellite.device import BUDDY_EVENT, GESTURES
from milo_satellite.head.config import ServosConfig
from milo_satellite.head.state import STRANGER
from milo_satellite.voice.audio import PcmFormat
from milo_satellite.voice.ducking import Ducker
from milo_services.common.server import WYOMING_SERVICE_TYPE
from milo_services.llm import __main__ as llm_cli
from milo_services.stt import __main__ as stt_cli
from milo_services.tts import __main__ as tts_cli

REPO = Path(__file__).resolve().parents[2]
DOC = (REPO / "docs" / "contracts.md").read_text()
INTEGRATION = REPO / "custom_components" / "milo"
# The API's platform names, as the doc's tables write them.
PLATFORMS = {
    "MediaPlayerEntity": "media_player",
    "SwitchEntity": "switch",
    "SelectEntity": "select",
    "LightEntity": "light",
    "NumberEntity": "number",
    "TextSensorEntity": "text_sensor",
    "SensorEntity": "sensor",
    "BinarySensorEntity": "binary_sensor",
    "EventEntity": "event",
    "CameraEntity": "camera",
    "ButtonEntity": "button",
}


def table(heading: str) -> list[list[str]]:
    """The rows of the first table under `## heading`, cells without backticks."""
    section = DOC.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")][2:]
    return [[cell.strip().strip("`") for cell in row.strip("|").split("|")] for row in rows]


def module_constants(path: Path) -> dict[str, object]:
    """The module's top-level constant assignments, without importing it."""
    values: dict[str, object] = {}
    for node in ast.parse(path.read_text()).body:
        target = node.targets[0] if isinstance(node, ast.Assign) else getattr(node, "target", None)
        value = getattr(node, "value", None)
        if isinstance(target, ast.Name) and value is not None:
            try:
                values[target.id] = ast.literal_eval(value)
            except ValueError:
                continue
    return values


def test_entities_are_the_ones_the_satellite_registers(milo: Milo) -> None:
    """`milo` has a head and no music ducking (whose one entity is checked apart)."""
    registered = {
        (PLATFORMS[type(e).__name__], e.object_id, e.name) for e in milo.server.entities.values()
    }
    ducking = Ducker(0.2, PcmFormat()).entity
    registered.add((PLATFORMS[type(ducking).__name__], ducking.object_id, ducking.name))
    documented = {
        (platform, object_id, name)
        for platform, object_id, name, _ in table("The satellite's entities")
    }
    assert registered == documented


def test_ha_entity_ids_follow_from_the_names() -> None:
    for platform, _object_id, name, entity_id in table("The satellite's entities"):
        domain = {"text_sensor": "sensor"}.get(platform, platform)
        slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
        assert entity_id == f"{domain}.milo_{slug}"


def test_actions_and_their_fields(milo: Milo) -> None:
    registered = {a.name: [arg for arg, _kind in a.args] for a in milo.server.actions.values()}
    documented = {action: fields.split(", ") for action, fields in table("The satellite's actions")}
    assert registered == documented
    assert "`gesture`'s names: " + ", ".join(f"`{g}`" for g in GESTURES) + "." in DOC


def test_head_ranges() -> None:
    servos = ServosConfig()
    assert (
        f"pan {servos.pan.min:g} to {servos.pan.max:g} and tilt {servos.tilt.min:g} to "
        f"{servos.tilt.max:g}" in DOC
    )


def test_events_and_the_stranger(milo: Milo) -> None:
    ((event, _data, _owner),) = table("Events")
    assert event == BUDDY_EVENT
    buddy = next(e for e in milo.server.entities.values() if e.object_id == "buddy")
    documented = re.search(r"`event`: `(\w+)`, `(\w+)` or `(\w+)`", DOC)
    assert documented is not None
    assert list(documented.groups()) == list(buddy.event_types)
    assert f"`name`: a buddy's name or `{STRANGER}`" in DOC
    assert module_constants(INTEGRATION / "satellite_device.py")["STRANGER"] == STRANGER


PORTS = {
    "milo-stt (Wyoming)": (stt_cli.DEFAULT_PORT, WYOMING_SERVICE_TYPE),
    "milo-tts (Wyoming)": (tts_cli.DEFAULT_PORT, WYOMING_SERVICE_TYPE),
    "milo-llm (Wyoming)": (llm_cli.DEFAULT_WYOMING_PORT, WYOMING_SERVICE_TYPE),
    "milo-llm (OpenAI-compatible HTTP)": (llm_cli.DEFAULT_HTTP_PORT, llm_cli.MILO_LLM_SERVICE_TYPE),
    "milo-satellite (ESPHome native API)": (SatelliteConfig().api_port, SATELLITE_SERVICE_TYPE),
}


def test_ports_and_discovery_types() -> None:
    documented = {row[0]: (int(row[1]), row[2]) for row in table("Ports and discovery")}
    assert documented == PORTS


def test_the_integration_finds_milo_llm_where_it_is() -> None:
    manifest = json.loads((INTEGRATION / "manifest.json").read_text())
    assert manifest["zeroconf"] == [llm_cli.MILO_LLM_SERVICE_TYPE]
    url = module_constants(INTEGRATION / "const.py")["DEFAULT_URL"]
    assert f":{llm_cli.DEFAULT_HTTP_PORT}/v1" in str(url)


def test_the_integration_reads_only_documented_entities_and_actions() -> None:
    source = (INTEGRATION / "satellite_device.py").read_text()
    documented = {(p, o) for p, o, _n, _e in table("The satellite's entities")}
    documented |= {("sensor", o) for p, o in documented if p == "text_sensor"}  # HA's domain
    used = set(re.findall(r'entity_id\("(\w+)", "(\w+)"\)', source))
    used |= {("number", o) for o in re.findall(r'_set_number\("(\w+)"', source)}
    assert used
    assert used <= documented, used - documented
    actions = {row[0] for row in table("The satellite's actions")}
    called = set(re.findall(r'_action\("(\w+)"\)', source))
    assert called
    assert called <= actions, called - actions


def test_the_demo_uses_the_contract() -> None:
    sys.path.insert(0, str(REPO / "demo"))
    try:
        from milo_demo.satellite import HEAD_ENTITIES
        from milo_demo.stack import Ports
    finally:
        sys.path.remove(str(REPO / "demo"))
    ports = Ports()
    assert (ports.stt, ports.tts, ports.llm, ports.llm_http, ports.satellite) == tuple(
        port for port, _type in PORTS.values()
    )
    object_ids = {row[1] for row in table("The satellite's entities")}
    assert set(HEAD_ENTITIES) <= object_ids


@pytest.mark.parametrize(
    "path",
    [
        "satellite/milo_satellite/device.py",
        "tests/satellite/satellite_helpers.py",
        "demo/milo_demo/satellite.py",
        "demo/milo_demo/stack.py",
    ],
)
def test_code_cites_the_contract_that_exists(path: str) -> None:
    text = (REPO / path).read_text()
    assert "CONTRACTS.md" not in text
