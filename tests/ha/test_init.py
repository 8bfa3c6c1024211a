"""Setup, unload, reload and diagnostics of the Milo integration."""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType

from homeassistant.config_entries import ConfigEntryState, ConfigSubentry
from homeassistant.core import HomeAssistant
from homeassistant.loader import async_get_integration

import custom_components.milo
from custom_components.milo.diagnostics import async_get_config_entry_diagnostics

from .conftest import FakeCloud, agent_subentry

REPO_INTEGRATION = Path(__file__).resolve().parents[2] / "custom_components" / "milo"


def test_imports_this_repositorys_integration() -> None:
    """The suite must test this repository's code, not a copy elsewhere on sys.path."""
    assert Path(custom_components.milo.__file__).resolve().parent == REPO_INTEGRATION


async def test_home_assistant_loads_the_integration(hass: HomeAssistant) -> None:
    """HA finds the integration as a custom integration with a valid manifest."""
    integration = await async_get_integration(hass, "milo")
    assert integration.file_path == REPO_INTEGRATION
    assert integration.config_flow
    assert "_milo-llm._tcp.local." in str(integration.manifest["zeroconf"])


async def test_setup_unload_reload(hass: HomeAssistant, setup_entry, cloud: FakeCloud) -> None:
    """The entry loads its agent and sensors, reloads on change, and unloads cleanly."""
    entry = await setup_entry()
    assert entry.state is ConfigEntryState.LOADED
    assert hass.states.get("conversation.milo") is not None
    assert hass.states.get("sensor.east_strand_rating").state == "gnarly"

    hass.config_entries.async_add_subentry(
        entry,
        ConfigSubentry(
            subentry_type="conversation",
            title="Grumpy Milo",
            data=MappingProxyType(agent_subentry(sarcasm=3)["data"]),
            unique_id=None,
        ),
    )
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert hass.states.get("conversation.grumpy_milo") is not None

    assert await hass.config_entries.async_unload(entry.entry_id)
    assert entry.state is ConfigEntryState.NOT_LOADED


async def test_loads_while_the_server_is_down(
    hass: HomeAssistant, portrush: None, make_entry, cloud: FakeCloud
) -> None:
    """A server that is down does not take Milo down: the fast path still answers."""
    cloud.models_status = 500
    entry = make_entry()
    await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.LOADED
    assert hass.states.get("conversation.milo") is not None


async def test_setup_with_wrong_key_starts_reauth(
    hass: HomeAssistant, portrush: None, make_entry, cloud: FakeCloud
) -> None:
    """A rejected key fails setup and asks the user for a new one."""
    cloud.api_key = "right"
    entry = make_entry(api_key="wrong")
    await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_ERROR
    flows = hass.config_entries.flow.async_progress_by_handler("milo")
    assert [f["context"]["source"] for f in flows] == ["reauth"]


async def test_entry_without_spots_has_no_sensors(hass: HomeAssistant, setup_entry) -> None:
    """Without surf spots there is no coordinator and no sensor."""
    entry = await setup_entry(subentries=[agent_subentry()])
    assert entry.runtime_data.surf is None
    assert not hass.states.async_entity_ids("sensor")


async def test_diagnostics_redact_the_key(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud
) -> None:
    """Diagnostics never contain the API key."""
    cloud.api_key = "s3cret"
    entry = await setup_entry(api_key="s3cret")
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    assert "s3cret" not in str(diagnostics)
    assert diagnostics["entry"]["data"]["api_key"] == "**REDACTED**"
    assert diagnostics["surf"]["last_update_success"] is True
    assert diagnostics["surf"]["forecast_hours"] == {"East Strand": 66, "West Strand": 66}
    assert diagnostics["surf"]["attribution"] == "Weather data by Open-Meteo.com"
    assert diagnostics["surf"]["marine_url"].endswith("/marine")
