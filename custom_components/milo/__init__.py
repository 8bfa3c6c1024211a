"""Milo: a sarcastic but friendly conversation agent that knows the surf and the weather."""

from __future__ import annotations

from types import MappingProxyType

from homeassistant.config_entries import ConfigSubentry
from homeassistant.const import CONF_API_KEY, CONF_MODEL, CONF_URL, Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryAuthFailed
from homeassistant.helpers import config_validation as cv, issue_registry as ir
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.typing import ConfigType

from .card import async_register_card
from .client import LLMAuthError, LLMError, OpenAICompatibleClient
from .const import (
    DEFAULT_AI_TASK_NAME,
    DEFAULT_AI_TASK_OPTIONS,
    DOMAIN,
    ISSUE_SURF_API,
    LOGGER,
    SUBENTRY_AI_TASK,
    SUBENTRY_SURF_SPOT,
)
from .coordinator import SurfCoordinator
from .data import MiloConfigEntry, MiloData
from .greeting import BuddyGreeter
from .services import async_setup_services
from .speculation import Speculations
from .stt_names import SttNameSync
from .stt_speculation import SttSpeculation

PLATFORMS = (
    Platform.AI_TASK,
    Platform.CONVERSATION,
    Platform.NUMBER,
    Platform.SENSOR,
    Platform.SWITCH,
)
CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the actions and the dashboard card once, whatever entries exist."""
    async_setup_services(hass)
    await async_register_card(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: MiloConfigEntry) -> bool:
    """Connect to the chat server and start the surf forecasts."""
    # First, before anything waits: options saved while this setup runs (a reload that
    # an agent's new options started, say) then reload it again, instead of being missed.
    entry.async_on_unload(entry.add_update_listener(_async_reload))
    client = OpenAICompatibleClient(
        async_get_clientsession(hass), entry.data[CONF_URL], entry.data.get(CONF_API_KEY)
    )
    try:
        await client.async_list_models()
    except LLMAuthError as err:
        raise ConfigEntryAuthFailed(
            translation_domain=DOMAIN, translation_key="invalid_auth"
        ) from err
    except LLMError as err:
        # Load anyway: surf, weather, the easter eggs and HA's intents work without the
        # model, and every other answer says the brain is offline until it is back.
        LOGGER.warning(
            "Cannot reach the chat server at %s (%s); Milo answers from its fast path until "
            "it is back",
            entry.data[CONF_URL],
            err,
        )

    surf = None
    if any(s.subentry_type == SUBENTRY_SURF_SPOT for s in entry.subentries.values()):
        surf = SurfCoordinator(hass, entry)
        # Not first_refresh: Open-Meteo being down must not take the agent down with it.
        await surf.async_refresh()
    stt_names = SttNameSync(hass)
    greeter = BuddyGreeter(hass, entry)
    entry.runtime_data = MiloData(
        client=client,
        model=entry.data[CONF_MODEL],
        surf=surf,
        stt_names=stt_names,
        greeter=greeter,
        speculations=Speculations(),
    )
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    entry.async_on_unload(stt_names.async_start())
    entry.async_on_unload(SttSpeculation(hass, entry).async_start())
    greeter.async_start()
    return True


async def async_unload_entry(hass: HomeAssistant, entry: MiloConfigEntry) -> bool:
    """Unload the platforms."""
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)


async def async_migrate_entry(hass: HomeAssistant, entry: MiloConfigEntry) -> bool:
    """Bring an entry from an older Milo up to date (HA refuses entries from a newer one)."""
    if entry.minor_version < 2:
        # 1.2 added AI tasks: an existing entry gets the default one, as a new entry does.
        hass.config_entries.async_add_subentry(
            entry,
            ConfigSubentry(
                data=MappingProxyType(dict(DEFAULT_AI_TASK_OPTIONS)),
                subentry_type=SUBENTRY_AI_TASK,
                title=DEFAULT_AI_TASK_NAME,
                unique_id=None,
            ),
        )
        hass.config_entries.async_update_entry(entry, minor_version=2)
    return True


async def async_remove_entry(hass: HomeAssistant, entry: MiloConfigEntry) -> None:
    """Take the entry's repair issue with it."""
    ir.async_delete_issue(hass, DOMAIN, f"{ISSUE_SURF_API}_{entry.entry_id}")


async def _async_reload(hass: HomeAssistant, entry: MiloConfigEntry) -> None:
    """Subentries or data changed: rebuild everything."""
    await hass.config_entries.async_reload(entry.entry_id)
