"""The shipped automation blueprints, loaded into a real HA and run.

Each blueprint is copied into the test config dir where HA's blueprint import puts it,
an automation uses it with inputs, the test drives the Milo entities' states and checks
what HA's own service recorder (`async_mock_service`) saw.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
import shutil
from typing import Any

from homeassistant.components.automation import DOMAIN as AUTOMATION_DOMAIN
from homeassistant.components.blueprint import importer
from homeassistant.components.blueprint.errors import MissingInput
from homeassistant.components.blueprint.models import Blueprint, BlueprintInputs
from homeassistant.components.blueprint.schemas import BLUEPRINT_SCHEMA
from homeassistant.core import HomeAssistant, ServiceCall
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.setup import async_setup_component
from homeassistant.util import yaml as yaml_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
    async_mock_service,
)
from pytest_homeassistant_custom_component.test_util.aiohttp import AiohttpClientMocker

BLUEPRINTS = Path(__file__).parents[2] / "blueprints" / "automation" / "milo"
REPO_URL = "https://github.com/milo-robot/milo/blob/main/blueprints/automation/milo"
RAW_URL = "https://raw.githubusercontent.com/milo-robot/milo/main/blueprints/automation/milo"

PERSON = "sensor.milo_person_in_view"
PRESENT = "binary_sensor.milo_someone_present"
SATELLITE = "assist_satellite.milo_assist_satellite"
EAST = "sensor.east_strand_rating"
WEST = "sensor.west_strand_rating"

# The inputs every blueprint needs (the rest have defaults).
REQUIRED = {
    "greet_buddy": {"person_sensor": PERSON, "satellite": SATELLITE},
    "surf_alarm": {"rating_sensors": [EAST]},
    "desk_empty_lights_off": {"presence_sensor": PERSON, "lights": {"entity_id": "light.desk"}},
    "stranger_alert": {
        "satellite": "0123456789abcdef0123456789abcdef",
        "stranger_actions": [{"action": "notify.notify", "data": {"message": "hi"}}],
    },
}


@pytest.fixture
def hass_config_dir(hass_tmp_config_dir: str) -> str:
    """A config dir of the test's own, holding the blueprints as HA's import leaves them."""
    shutil.copytree(BLUEPRINTS, Path(hass_tmp_config_dir) / "blueprints" / "automation" / "milo")
    return hass_tmp_config_dir


@pytest.fixture
def automate(hass: HomeAssistant) -> Callable[..., Any]:
    """Set up one automation from a blueprint with `inputs`; fails unless it loaded."""

    async def setup(name: str, **inputs: Any) -> None:
        config = {"use_blueprint": {"path": f"milo/{name}.yaml", "input": inputs}}
        assert await async_setup_component(hass, AUTOMATION_DOMAIN, {AUTOMATION_DOMAIN: config})
        await hass.async_block_till_done()
        assert [s.state for s in hass.states.async_all(AUTOMATION_DOMAIN)] == ["on"]

    return setup


async def _set(hass: HomeAssistant, entity_id: str, state: str) -> None:
    hass.states.async_set(entity_id, state)
    await hass.async_block_till_done()


async def _wait(hass: HomeAssistant, freezer: Any, minutes: float) -> None:
    freezer.tick(timedelta(minutes=minutes))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_blueprint_schema(name: str) -> None:
    """HA's blueprint schema accepts each file; its inputs are validated, source_url set."""
    path = BLUEPRINTS / f"{name}.yaml"
    blueprint = Blueprint(
        yaml_util.load_yaml_dict(path),
        path=str(path),
        expected_domain="automation",
        schema=BLUEPRINT_SCHEMA,
    )
    assert blueprint.validate() is None  # min_version is met by the HA under test
    assert blueprint.metadata["source_url"] == f"{REPO_URL}/{name}.yaml"
    assert blueprint.metadata["homeassistant"]["min_version"] == "2026.10.0"
    assert blueprint.metadata["description"]
    BlueprintInputs(
        blueprint, {"use_blueprint": {"path": path.name, "input": REQUIRED[name]}}
    ).validate()
    with pytest.raises(MissingInput):
        BlueprintInputs(blueprint, {"use_blueprint": {"path": path.name, "input": {}}}).validate()


@pytest.mark.parametrize("name", sorted(REQUIRED))
async def test_import_from_github(
    hass: HomeAssistant, aioclient_mock: AiohttpClientMocker, name: str
) -> None:
    """HA's importer turns the GitHub URL into the raw file's and reads it back intact."""
    text = (BLUEPRINTS / f"{name}.yaml").read_text()
    aioclient_mock.get(f"{RAW_URL}/{name}.yaml", text=text)
    imported = await importer.fetch_blueprint_from_url(hass, f"{REPO_URL}/{name}.yaml")
    assert imported.suggested_filename == f"milo-robot/{name}"
    assert imported.blueprint.domain == "automation"
    assert imported.raw_data == text


async def test_greets_a_buddy_after_the_gap(
    hass: HomeAssistant, freezer: Any, automate: Callable[..., Any]
) -> None:
    """A buddy is greeted by name once the desk was someone else's or empty for the gap."""
    announce = async_mock_service(hass, "assist_satellite", "announce")
    await _set(hass, PERSON, "")
    await automate("greet_buddy", person_sensor=PERSON, satellite=SATELLITE)
    await _wait(hass, freezer, 15)

    await _set(hass, PERSON, "Jay")
    assert [c.data for c in announce] == [
        {"entity_id": [SATELLITE], "message": "Oh look, it's Jay. Back for more surf reports?"}
    ]

    # Jay looks away for two minutes, then a stranger sits down: no greeting.
    await _set(hass, PERSON, "")
    await _wait(hass, freezer, 2)
    await _set(hass, PERSON, "Jay")
    await _set(hass, PERSON, "stranger")
    assert len(announce) == 1

    # The stranger stays for half an hour; then Ann arrives.
    await _wait(hass, freezer, 30)
    await _set(hass, PERSON, "Ann")
    assert announce[-1].data["message"] == "Oh look, it's Ann. Back for more surf reports?"
    assert len(announce) == 2


async def test_greeting_gap_and_message_are_inputs(
    hass: HomeAssistant, freezer: Any, automate: Callable[..., Any]
) -> None:
    """A 30-minute gap holds a greeting back at 20 minutes; the message is the user's."""
    announce = async_mock_service(hass, "assist_satellite", "announce")
    await _set(hass, PERSON, "")
    await automate(
        "greet_buddy",
        person_sensor=PERSON,
        satellite=SATELLITE,
        gap=30,
        message="{{ name }}! Kettle's on.",
    )
    await _wait(hass, freezer, 20)
    await _set(hass, PERSON, "Jay")
    assert announce == []
    await _set(hass, PERSON, "")
    await _wait(hass, freezer, 31)
    await _set(hass, PERSON, "Jay")
    assert [c.data["message"] for c in announce] == ["Jay! Kettle's on."]


async def test_no_greeting_for_whoever_is_there_when_ha_starts(
    hass: HomeAssistant, freezer: Any, automate: Callable[..., Any]
) -> None:
    """The satellite reconnecting (unavailable -> Jay) is not Jay sitting down."""
    announce = async_mock_service(hass, "assist_satellite", "announce")
    await automate("greet_buddy", person_sensor=PERSON, satellite=SATELLITE)
    await _set(hass, PERSON, "Jay")  # first state: nothing before it
    await _set(hass, PERSON, "unavailable")
    await _wait(hass, freezer, 1)
    await _set(hass, PERSON, "Jay")
    assert announce == []


async def test_surf_alarm_on_the_way_up(
    hass: HomeAssistant, freezer: Any, setup_entry: Callable[..., Any], automate: Callable[..., Any]
) -> None:
    """Milo's real rating sensors: trash -> mid and mid -> gnarly alarm, downgrades don't."""
    await setup_entry()
    east = hass.states.get(EAST)
    assert east is not None
    assert east.state == "gnarly"
    notify = async_mock_service(hass, "notify", "mobile_app_phone")
    announce = async_mock_service(hass, "assist_satellite", "announce")
    await automate(
        "surf_alarm",
        rating_sensors=[EAST, WEST],
        satellites=[SATELLITE],
        alarm_actions=[
            {
                "action": "notify.mobile_app_phone",
                "data": {"title": "Surf's up", "message": "{{ spot }} is {{ rating }}"},
            }
        ],
    )
    for state in ("mid", "trash", "mid", "gnarly"):
        await _set(hass, EAST, state)
    assert [c.data["message"] for c in notify] == [
        "East Strand is mid",
        "East Strand is gnarly",
    ]
    assert [c.data for c in announce] == [
        {"entity_id": [SATELLITE], "message": "Drop everything: East Strand is mid."},
        {"entity_id": [SATELLITE], "message": "Drop everything: East Strand is gnarly."},
    ]

    # An outage and its end, then the other spot.
    await _set(hass, EAST, "unavailable")
    await _set(hass, EAST, "gnarly")
    assert len(notify) == 2
    await _set(hass, WEST, "mid")
    assert notify[-1].data["message"] == "West Strand is mid"

    # Both spots turn in the same update: one alarm each.
    await _set(hass, EAST, "trash")
    await _set(hass, WEST, "trash")
    hass.states.async_set(EAST, "gnarly")
    hass.states.async_set(WEST, "gnarly")
    await hass.async_block_till_done()
    assert sorted(c.data["message"] for c in notify[-2:]) == [
        "East Strand is gnarly",
        "West Strand is gnarly",
    ]
    assert len(notify) == 5


async def test_surf_alarm_only_for_chosen_ratings(
    hass: HomeAssistant, freezer: Any, setup_entry: Callable[..., Any], automate: Callable[..., Any]
) -> None:
    """With only gnarly chosen and no satellites, mid is quiet and nothing is announced.

    The spot is called by the name the user gave its device.
    """
    await setup_entry()
    entity = er.async_get(hass).async_get(EAST)
    assert entity is not None
    assert entity.device_id is not None
    dr.async_get(hass).async_update_device(entity.device_id, name_by_user="The Strand")
    calls: list[ServiceCall] = async_mock_service(hass, "notify", "mobile_app_phone")
    announce = async_mock_service(hass, "assist_satellite", "announce")
    await automate(
        "surf_alarm",
        rating_sensors=[EAST],
        ratings=["gnarly"],
        alarm_actions=[
            {"action": "notify.mobile_app_phone", "data": {"message": "{{ spot }}: {{ rating }}"}}
        ],
    )
    for state in ("trash", "mid", "gnarly"):
        await _set(hass, EAST, state)
    assert [c.data["message"] for c in calls] == ["The Strand: gnarly"]
    assert announce == []


# Each sensor the blueprint accepts: (entity, a state with someone there, nobody's state).
@pytest.mark.parametrize("presence", [(PERSON, "Jay", ""), (PRESENT, "on", "off")])
async def test_lights_off_when_the_desk_stays_empty(
    hass: HomeAssistant, freezer: Any, automate: Callable[..., Any], presence: tuple[str, str, str]
) -> None:
    """Lights go off N minutes after the last person left, not before, not after a return."""
    sensor, someone, nobody = presence
    turn_off = async_mock_service(hass, "light", "turn_off")
    await _set(hass, sensor, someone)
    await automate(
        "desk_empty_lights_off",
        presence_sensor=sensor,
        minutes=15,
        lights={"entity_id": ["light.desk", "light.lamp"], "area_id": "office"},
    )
    await _set(hass, sensor, nobody)
    await _wait(hass, freezer, 10)
    await _set(hass, sensor, someone)  # back before the 15 minutes
    await _wait(hass, freezer, 10)
    assert turn_off == []

    await _set(hass, sensor, nobody)
    await _wait(hass, freezer, 14)
    assert turn_off == []
    await _wait(hass, freezer, 1.5)
    assert [c.data for c in turn_off] == [
        {"entity_id": ["light.desk", "light.lamp"], "area_id": ["office"]}
    ]


async def test_a_stranger_or_an_offline_satellite_keeps_the_lights_on(
    hass: HomeAssistant, freezer: Any, automate: Callable[..., Any]
) -> None:
    """Only nobody counts as empty: a stranger, or the satellite offline, changes nothing."""
    turn_off = async_mock_service(hass, "light", "turn_off")
    await _set(hass, PERSON, "Jay")
    await automate(
        "desk_empty_lights_off", presence_sensor=PERSON, lights={"entity_id": "light.desk"}
    )
    await _set(hass, PERSON, "stranger")
    await _wait(hass, freezer, 60)
    await _set(hass, PERSON, "unavailable")
    await _wait(hass, freezer, 60)
    assert turn_off == []
    await _set(hass, PERSON, "")
    await _wait(hass, freezer, 10.5)  # the default, 10 minutes
    assert len(turn_off) == 1


def _milo_device(hass: HomeAssistant, mac: str, name: str) -> dr.DeviceEntry:
    """A Milo satellite's device, with its camera, as HA's ESPHome integration makes them."""
    esphome = MockConfigEntry(domain="esphome", unique_id=mac)
    esphome.add_to_hass(hass)
    device = dr.async_get(hass).async_get_or_create(
        config_entry_id=esphome.entry_id,
        connections={(dr.CONNECTION_NETWORK_MAC, mac)},
        name=name,
        model="Milo",
    )
    er.async_get(hass).async_get_or_create(
        "camera",
        "esphome",
        f"{mac}-camera",
        config_entry=esphome,
        device_id=device.id,
        suggested_object_id=f"{name.lower().replace(' ', '_')}_camera",
    )
    return device


async def test_stranger_alert_once_per_cooldown_at_the_chosen_milo(
    hass: HomeAssistant, freezer: Any, automate: Callable[..., Any]
) -> None:
    """A stranger at the office Milo runs the actions (with its name and camera); one at
    another Milo, a buddy, or a stranger within the cooldown does not."""
    office = _milo_device(hass, "02:00:00:00:4d:01", "Office Milo")
    bedroom = _milo_device(hass, "02:00:00:00:4d:02", "Bedroom Milo")
    notify = async_mock_service(hass, "notify", "mobile_app_phone")
    await automate(
        "stranger_alert",
        satellite=office.id,
        cooldown=10,
        stranger_actions=[
            {
                "action": "notify.mobile_app_phone",
                "data": {
                    "message": "{{ milo }} sees a stranger",
                    "data": {"camera": "{{ camera }}"},
                },
            }
        ],
    )

    async def fire(device: dr.DeviceEntry, event: str, name: str) -> None:
        hass.bus.async_fire(
            "esphome.milo_buddy", {"event": event, "name": name, "device_id": device.id}
        )
        await hass.async_block_till_done()

    await fire(bedroom, "stranger", "stranger")
    await fire(office, "appeared", "Jay")
    assert notify == []
    await fire(office, "stranger", "stranger")
    assert [c.data for c in notify] == [
        {"message": "Office Milo sees a stranger", "data": {"camera": "camera.office_milo_camera"}}
    ]
    await _wait(hass, freezer, 5)
    await fire(office, "stranger", "stranger")  # within the cooldown
    assert len(notify) == 1
    await _wait(hass, freezer, 6)
    await fire(office, "stranger", "stranger")
    assert len(notify) == 2
