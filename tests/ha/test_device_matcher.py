"""The device matcher alone: names in any order, near misses, areas, verbs, safety."""

from __future__ import annotations

import pytest

from custom_components.milo.device_matcher import Device, match

HOME = [
    Device("switch.kitchen_plug", ("Kitchen plug",), ("Kitchen", "Ground floor")),
    Device("switch.office_plug", ("Plug",), ("Office",)),
    Device("lock.entry_lock", ("Entry lock", "Front door"), ("Hall",)),
    Device("lock.back_door", ("Back door lock",), ("Hall",)),
    Device("vacuum.roborock", ("Roborock Downstairs vacuum",), ()),
    Device("media_player.outdoor", ("Outdoor speakers",), ("Garden",)),
    Device("light.desk", ("Desk lamp",), ("Office",)),
    Device("light.bed", ("Desk lamp",), ("Bedroom",)),
    Device("cover.garage", ("Garage door",), ()),
    Device("sensor.entry_battery", ("Entry lock battery",), ("Hall",)),
]
PLACES = ["Kitchen", "Ground floor", "Office", "Hall", "Garden", "Bedroom"]


@pytest.mark.parametrize(
    ("text", "action", "entity_id", "value"),
    [
        ("Switch off the plug in the kitchen", "turn_off", "switch.kitchen_plug", None),
        ("turn the kitchen plug on", "turn_on", "switch.kitchen_plug", None),
        ("Turn on the plug in the office", "turn_on", "switch.office_plug", None),
        ("Unlock the entry lock", "unlock", "lock.entry_lock", None),
        ("please lock the front door", "lock", "lock.entry_lock", None),
        ("Milo, could you lock the back door lock", "lock", "lock.back_door", None),
        ("Start Roborock Downstairs vacuum", "start", "vacuum.roborock", None),
        ("start the downstairs roborock vacuum", "start", "vacuum.roborock", None),
        ("dock the roborock downstairs vacuum", "return", "vacuum.roborock", None),
        ("send the Roborock downstairs vacuum home", "return", "vacuum.roborock", None),
        ("Are the outdoor speakers playing, paused, or stopped?", "state",
         "media_player.outdoor", None),
        ("pause the outdoor speaker", "pause", "media_player.outdoor", None),
        ("resume the outdoor speakers", "resume", "media_player.outdoor", None),
        ("what's the entry lock battery", "state", "sensor.entry_battery", None),
        ("set the desk lamp in the bedroom to 40%", "set", "light.bed", 40),
        ("open the garage door", "open", "cover.garage", None),
        ("shut the garage door", "close", "cover.garage", None),
        ("shut off the kitchen plug", "turn_off", "switch.kitchen_plug", None),
        ("turn off the ktchen plug", "turn_off", "switch.kitchen_plug", None),
    ],
)  # fmt: skip
def test_commands(text: str, action: str, entity_id: str, value: int | None) -> None:
    """A verb, and a name said in full in any order, near misses and plurals allowed."""
    command = match(text, HOME, PLACES)
    assert command is not None
    assert command.action == action
    assert [device.entity_id for device in command.devices] == [entity_id]
    assert command.value == value


@pytest.mark.parametrize(
    "text",
    [
        "I love the kitchen plug",  # no verb
        "turn on the plug in the garden",  # no plug there
        "unlock the entry lok",  # a near miss never unlocks
        "open the garrage door",  # nor opens a door
        "lock the outdoor speakers",  # the verb fits no such device
        "set the desk lamp in the office",  # set to what?
        "how warm is the bedroom",  # no device named
        "is the kitchen plug good enough for a kettle",  # more than its state: the model's
        "turn on",
        "",
        "please",
    ],
)
def test_no_command(text: str) -> None:
    """No verb, no device the verb fits, another area, or a near miss on a lock or door."""
    assert match(text, HOME, PLACES) is None


def test_ask_back_when_two_match_equally() -> None:
    """Two desk lamps and no area said: both come back, for Milo to ask which."""
    command = match("turn on the desk lamp", HOME, PLACES)
    assert command is not None
    assert [device.entity_id for device in command.devices] == ["light.desk", "light.bed"]


def test_longer_name_wins() -> None:
    """ "The entry lock battery" is the sensor, not the lock whose name it contains."""
    command = match("what is the entry lock battery at", HOME, PLACES)
    assert command is not None
    assert [device.entity_id for device in command.devices] == ["sensor.entry_battery"]
