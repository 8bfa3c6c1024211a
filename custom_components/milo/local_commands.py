"""Device commands and state questions that HA's own agent declined, done without the model.

`device_matcher` finds the device and the action; this runs it through HA's own intents,
so exposure, permissions and the service calls are HA's, and answers a state question
from the state itself: the model guessed a lock's battery as 4, 40 and 50 % in turn.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from homeassistant.components import conversation
from homeassistant.core import HomeAssistant, State, callback
from homeassistant.helpers import (
    area_registry as ar,
    device_registry as dr,
    floor_registry as fr,
    intent,
)

from .const import DOMAIN, LOGGER
from .device_matcher import Action, Command, Device, match
from .exposed_names import async_exposed_entities, async_place_names

# The intent for each action, by domain where it differs ("set" a light is its brightness).
INTENTS: dict[Action, str] = {
    "turn_on": intent.INTENT_TURN_ON,
    "turn_off": intent.INTENT_TURN_OFF,
    "lock": intent.INTENT_TURN_ON,  # HA's on/off intents lock and unlock a lock
    "unlock": intent.INTENT_TURN_OFF,
    "open": intent.INTENT_TURN_ON,
    "close": intent.INTENT_TURN_OFF,
    "start": "HassVacuumStart",
    "return": "HassVacuumReturnToBase",
    "pause": "HassMediaPause",
    "resume": "HassMediaUnpause",
}
SET_INTENTS: dict[str, tuple[str, str]] = {
    "light": ("HassLightSet", "brightness"),
    "cover": (intent.INTENT_SET_POSITION, "position"),
    "valve": (intent.INTENT_SET_POSITION, "position"),
    "climate": ("HassClimateSetTemperature", "temperature"),
    "media_player": ("HassSetVolume", "volume_level"),
}
DONE: dict[Action, str] = {
    "turn_on": "Turned on",
    "turn_off": "Turned off",
    "lock": "Locked",
    "unlock": "Unlocked",
    "open": "Opened",
    "close": "Closed",
    "start": "Started",
    "return": "Sent home",
    "pause": "Paused",
    "resume": "Resumed",
    "set": "Set",
}

# What a binary sensor's on and off mean, by its device class.
BINARY_WORDS = {
    "door": ("open", "closed"),
    "garage_door": ("open", "closed"),
    "window": ("open", "closed"),
    "opening": ("open", "closed"),
    "motion": ("seeing motion", "clear"),
    "occupancy": ("occupied", "clear"),
    "presence": ("home", "away"),
}


@dataclass(frozen=True, slots=True)
class Handled:
    """What Milo did: the intent it ran (for the chat log), its slots, and what to say."""

    tool_name: str
    args: dict[str, Any]
    speech: str
    error: bool = False


@callback
def async_devices(hass: HomeAssistant, own_device_id: str | None) -> list[Device]:
    """The exposed devices a command may name, each with its area's and floor's names."""
    areas = ar.async_get(hass)
    floors = fr.async_get(hass)
    hardware = dr.async_get(hass)
    devices: list[Device] = []
    for state, entry in async_exposed_entities(hass, own_device_id):
        names = intent.async_get_entity_aliases(hass, entry, state=state) or [state.name]
        area_id = entry.area_id if entry else None
        if entry and not area_id and entry.device_id:
            device = hardware.async_get(entry.device_id)
            area_id = device.area_id if device else None
        places: list[str] = []
        if area_id and (area := areas.async_get_area(area_id)):
            places = [area.name, *area.aliases]
            if area.floor_id and (floor := floors.async_get_floor(area.floor_id)):
                places += [floor.name, *floor.aliases]
        devices.append(Device(state.entity_id, tuple(names), tuple(places)))
    return devices


async def async_handle(
    hass: HomeAssistant,
    user_input: conversation.ConversationInput,
    own_device_id: str | None,
    *,
    questions_only: bool = False,
) -> Handled | None:
    """Do or answer `user_input` when it names an exposed device; None when it names none
    (or, `questions_only`, when it is no question about exactly one device).

    English only: the verbs and question words are English.
    """
    if not user_input.language.startswith("en"):
        return None
    command = match(user_input.text, async_devices(hass, own_device_id), async_place_names(hass))
    if command is None or (
        questions_only and (command.action != "state" or len(command.devices) > 1)
    ):
        return None
    if len(command.devices) > 1:
        choices = " or ".join(map(_which, command.devices[:3]))
        return Handled("ask_back", {}, f"Which one: {choices}?")
    [device] = command.devices
    state = hass.states.get(device.entity_id)
    assert state is not None  # listed from the states just now, with no await since
    if command.action == "state":
        return Handled(
            intent.INTENT_GET_STATE, {"name": device.name}, f"The {device.name} {_state(state)}."
        )
    return await _async_run(hass, user_input, command, device, state)


async def _async_run(
    hass: HomeAssistant,
    user_input: conversation.ConversationInput,
    command: Command,
    device: Device,
    state: State,
) -> Handled:
    """Run the command through HA's intent for it, on exactly this entity."""
    slots: dict[str, Any] = {"name": device.name, "domain": device.domain}
    if command.action == "set":
        intent_type, slot = SET_INTENTS[device.domain]
        slots[slot] = command.value
    else:
        intent_type = INTENTS[command.action]
    if device.areas:
        slots["area"] = device.areas[0]
    try:
        await intent.async_handle(
            hass,
            DOMAIN,
            intent_type,
            {key: {"value": value} for key, value in slots.items()},
            text_input=user_input.text,
            context=user_input.context,
            language=user_input.language,
            assistant=conversation.DOMAIN,
            device_id=user_input.device_id,
        )
    except intent.IntentError as err:
        # Mostly a device that can't, or is already so: "pause" speakers that are paused.
        LOGGER.debug("%s on %s failed: %s", intent_type, device.entity_id, err)
        return Handled(
            intent_type, slots, f"I couldn't: the {device.name} {_state(state)}.", error=True
        )
    done = f"{DONE[command.action]} the {device.name}"
    if command.action == "set":
        done += f" to {command.value}"
    return Handled(intent_type, slots, done + ".")


def _which(device: Device) -> str:
    """A device as a choice: "the Desk lamp in the Office"."""
    return f"the {device.name}" + (f" in the {device.areas[0]}" if device.areas else "")


def _state(state: State) -> str:
    """How a state reads after the device's name: "is paused", "is 90 %", "is open"."""
    value = state.state.replace("_", " ")
    if state.domain == "binary_sensor":
        words = BINARY_WORDS.get(state.attributes.get("device_class", ""), ("on", "off"))
        value = {"on": words[0], "off": words[1]}.get(state.state, value)
    if unit := state.attributes.get("unit_of_measurement"):
        value = f"{value} {unit}"
    if state.domain == "climate" and (now := state.attributes.get("current_temperature")):
        value = f"{value}, at {now} degrees"
        if (target := state.attributes.get("temperature")) is not None:
            value += f", set to {target}"
    verb = "are" if state.name.endswith("s") and not state.name.endswith("ss") else "is"
    return f"{verb} {value}"
