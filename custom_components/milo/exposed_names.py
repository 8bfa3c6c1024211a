"""The home's names, as Home Assistant's own intents know them, for Milo's word rules.

Every name and alias of the entities exposed to Assist, and every area and floor with its
aliases. Left out: weather entities and Milo's own (the surf sensors), whose questions the
word rules are there to answer, and the agent's own satellite and its name ("do you like
milk, Milo?" is not about the media player called Milo).
"""

from __future__ import annotations

from homeassistant.components import conversation
from homeassistant.components.homeassistant.exposed_entities import async_should_expose
from homeassistant.core import HomeAssistant, State, callback
from homeassistant.helpers import (
    area_registry as ar,
    entity_registry as er,
    floor_registry as fr,
    intent,
)

from .const import DOMAIN
from .home_names import HomeNames, words

ANSWERED_DOMAINS = frozenset({"weather"})


@callback
def async_home_names(
    hass: HomeAssistant, *, persona_name: str, own_device_id: str | None
) -> HomeNames:
    """The names a request about this home may say."""
    names = [*async_entity_names(hass, own_device_id), *async_place_names(hass)]
    persona = words(persona_name)
    return HomeNames.of(name for name in names if words(name) != persona)


@callback
def async_entity_names(hass: HomeAssistant, own_device_id: str | None) -> list[str]:
    """The names and aliases of the entities exposed to Assist, but for weather entities,
    Milo's own and those of the device `own_device_id`."""
    return [
        name
        for state, entry in async_exposed_entities(hass, own_device_id)
        for name in intent.async_get_entity_aliases(hass, entry, state=state)
    ]


@callback
def async_exposed_entities(
    hass: HomeAssistant, own_device_id: str | None
) -> list[tuple[State, er.RegistryEntry | None]]:
    """The entities exposed to Assist with their registry entries, but for weather
    entities, Milo's own and those of the device `own_device_id`."""
    registry = er.async_get(hass)
    found: list[tuple[State, er.RegistryEntry | None]] = []
    for state in hass.states.async_all():
        if state.domain in ANSWERED_DOMAINS or not async_should_expose(
            hass, conversation.DOMAIN, state.entity_id
        ):
            continue
        entry = registry.async_get(state.entity_id)
        if entry is not None and (
            entry.platform == DOMAIN or (own_device_id and entry.device_id == own_device_id)
        ):
            continue
        found.append((state, entry))
    return found


@callback
def async_place_names(hass: HomeAssistant) -> list[str]:
    """The names and aliases of every area, then of every floor."""
    names: list[str] = []
    for area in ar.async_get(hass).async_list_areas():
        names.extend([area.name, *area.aliases])
    for floor in fr.async_get(hass).async_list_floors():
        names.extend([floor.name, *floor.aliases])
    return names
