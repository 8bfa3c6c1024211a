"""Every path of the config flow, reconfigure, reauth, zeroconf and the subentry flows."""

from __future__ import annotations

from ipaddress import ip_address
from urllib.parse import urlparse

from homeassistant.config_entries import SOURCE_USER, SOURCE_ZEROCONF, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers.service_info.zeroconf import ZeroconfServiceInfo
import pytest

from custom_components.milo.const import DOMAIN

from .conftest import MODEL, FakeCloud


@pytest.fixture(autouse=True)
async def _core(hass: HomeAssistant, portrush: None) -> None:
    """Config flows create entries that set up; give them a Home Assistant to set up in."""


async def _start(hass: HomeAssistant) -> dict:
    return await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})


async def test_user_flow_creates_entry_with_agent_and_portrush(
    hass: HomeAssistant, cloud: FakeCloud
) -> None:
    """URL, then model; the entry comes with a Milo agent, an AI task and the Portrush spots."""
    cloud.models = [MODEL, "other"]
    result = await _start(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"url": cloud.base_url + "/ "}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "model"

    result = await hass.config_entries.flow.async_configure(result["flow_id"], {"model": MODEL})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == {"url": cloud.base_url, "model": MODEL}
    entry = result["result"]
    kinds = sorted((s.subentry_type, s.title) for s in entry.subentries.values())
    assert kinds == [
        ("ai_task_data", "Milo AI Task"),
        ("conversation", "Milo"),
        ("surf_spot", "East Strand"),
        ("surf_spot", "West Strand"),
    ]
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED


async def test_user_flow_keeps_the_api_key(hass: HomeAssistant, cloud: FakeCloud) -> None:
    """A server that needs a key gets it with every request."""
    cloud.api_key = "k3y"
    result = await _start(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"url": cloud.base_url, "api_key": " k3y "}
    )
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {"model": MODEL})
    assert result["data"]["api_key"] == "k3y"


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"api_key": "right"}, {"base": "invalid_auth"}),
        ({"models": []}, {"base": "no_models"}),
        ({"models_status": 404}, {"base": "cannot_connect"}),
    ],
)
async def test_user_flow_errors_then_recovers(
    hass: HomeAssistant, cloud: FakeCloud, change: dict, error: dict
) -> None:
    """Each server problem has its own error, and fixing it lets the flow finish."""
    for key, value in change.items():
        setattr(cloud, key, value)
    result = await _start(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"url": cloud.base_url}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == error

    cloud.api_key, cloud.models, cloud.models_status = None, [MODEL], 200
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"url": cloud.base_url}
    )
    assert result["step_id"] == "model"


async def test_user_flow_unreachable_and_invalid_url(
    hass: HomeAssistant, cloud: FakeCloud, unused_tcp_port: int
) -> None:
    """Nothing listening is cannot_connect; garbage is invalid_url."""
    result = await _start(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"url": f"http://127.0.0.1:{unused_tcp_port}/v1"}
    )
    assert result["errors"] == {"base": "cannot_connect"}
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {"url": "not a url"})
    assert result["errors"] == {"url": "invalid_url"}


async def test_user_flow_aborts_on_duplicate(
    hass: HomeAssistant, cloud: FakeCloud, make_entry
) -> None:
    """The same server twice is refused."""
    make_entry()
    result = await _start(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"url": cloud.base_url}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


def _discovery(cloud: FakeCloud) -> ZeroconfServiceInfo:
    port = urlparse(cloud.url).port
    return ZeroconfServiceInfo(
        ip_address=ip_address("127.0.0.1"),
        ip_addresses=[ip_address("127.0.0.1")],
        hostname="milo-pi.local.",
        name="milo-pi._milo-llm._tcp.local.",
        port=10500,
        type="_milo-llm._tcp.local.",
        properties={"path": "/v1", "version": "0.1.0", "http_port": str(port)},
    )


async def test_zeroconf_discovery(hass: HomeAssistant, cloud: FakeCloud) -> None:
    """A milo-llm announcement leads to a confirm step and an entry on its HTTP port."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_ZEROCONF}, data=_discovery(cloud)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "zeroconf_confirm"
    assert result["description_placeholders"] == {"url": cloud.base_url}

    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["step_id"] == "model"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {"model": MODEL})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"]["url"] == cloud.base_url
    assert result["result"].unique_id == "milo-pi._milo-llm._tcp.local."

    # The same server announced again is already set up.
    again = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_ZEROCONF}, data=_discovery(cloud)
    )
    assert again["type"] is FlowResultType.ABORT
    assert again["reason"] == "already_configured"


async def test_zeroconf_server_needing_a_key_falls_back_to_form(
    hass: HomeAssistant, cloud: FakeCloud
) -> None:
    """If the discovered server wants a key, the manual form asks for it."""
    cloud.api_key = "k3y"
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_ZEROCONF}, data=_discovery(cloud)
    )
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["step_id"] == "user"
    assert result["errors"] == {"base": "invalid_auth"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"url": cloud.base_url, "api_key": "k3y"}
    )
    assert result["step_id"] == "model"


async def test_reconfigure(hass: HomeAssistant, cloud: FakeCloud, setup_entry) -> None:
    """Reconfigure checks the server and the model, then reloads."""
    entry = await setup_entry()
    cloud.models = [MODEL, "bigger"]
    result = await entry.start_reconfigure_flow(hass)
    assert result["step_id"] == "reconfigure"

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"url": cloud.base_url, "model": "missing"}
    )
    assert result["errors"] == {"model": "model_not_found"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"url": "nope", "model": "bigger"}
    )
    assert result["errors"] == {"url": "invalid_url"}
    cloud.models_status = 500
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"url": cloud.base_url, "model": "bigger"}
    )
    assert result["errors"] == {"base": "cannot_connect"}
    cloud.models_status = 200
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"url": cloud.base_url, "model": "bigger"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.data["model"] == "bigger"
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED


async def test_reauth(hass: HomeAssistant, cloud: FakeCloud, setup_entry) -> None:
    """A new key fixes a rejected one."""
    entry = await setup_entry()
    cloud.api_key = "new"
    result = await entry.start_reauth_flow(hass)
    assert result["step_id"] == "reauth_confirm"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {"api_key": "old"})
    assert result["errors"] == {"base": "invalid_auth"}
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {"api_key": "new"})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert entry.data["api_key"] == "new"


async def _subentry_flow(hass: HomeAssistant, entry, kind: str) -> dict:
    return await hass.config_entries.subentries.async_init(
        (entry.entry_id, kind), context={"source": SOURCE_USER}
    )


async def test_add_and_reconfigure_conversation_agent(hass: HomeAssistant, setup_entry) -> None:
    """Agents are subentries with persona, sarcasm, tools, devices and model limits."""
    entry = await setup_entry()
    result = await _subentry_flow(hass, entry, "conversation")
    assert result["type"] is FlowResultType.FORM
    options = {
        "name": "Polite Milo",
        "persona_name": "Milo",
        "sarcasm": 0,
        "prompt": "Speak like a pirate.",
        "llm_hass_api": ["assist"],
        "temperature": 0.2,
        "max_history": 3,
        "max_tokens": 4096,
        "context_size": 2048,
    }
    result = await hass.config_entries.subentries.async_configure(result["flow_id"], options)
    assert result["errors"] == {"max_tokens": "max_tokens_too_large"}
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], options | {"max_tokens": 200}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Polite Milo"
    assert result["data"]["llm_hass_api"] == ["assist"]
    assert result["data"]["max_tokens"] == 200
    await hass.async_block_till_done()
    assert hass.states.get("conversation.polite_milo") is not None

    subentry = next(s for s in entry.subentries.values() if s.title == "Polite Milo")
    result = await entry.start_subentry_reconfigure_flow(hass, subentry.subentry_id)
    assert result["step_id"] == "set_options"
    new = {k: v for k, v in options.items() if k != "name"} | {"max_tokens": 100, "sarcasm": 3}
    result = await hass.config_entries.subentries.async_configure(result["flow_id"], new)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.subentries[subentry.subentry_id].data["sarcasm"] == 3


async def test_add_and_reconfigure_surf_spot(hass: HomeAssistant, setup_entry) -> None:
    """Spots need a unique name and sensible wind directions."""
    entry = await setup_entry()
    result = await _subentry_flow(hass, entry, "surf_spot")
    spot = {
        "name": "Whiterocks",
        "latitude": 55.204,
        "longitude": -6.61,
        "offshore": ["S", "SSE"],
        "cross_offshore": ["S"],
    }
    result = await hass.config_entries.subentries.async_configure(result["flow_id"], spot)
    assert result["errors"] == {"cross_offshore": "overlapping_directions"}
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], spot | {"name": "east strand", "cross_offshore": []}
    )
    assert result["errors"] == {"name": "spot_exists"}
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], spot | {"name": "  ", "cross_offshore": []}
    )
    assert result["errors"] == {"name": "name_required"}
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], spot | {"cross_offshore": ["SE"]}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Whiterocks"
    assert result["data"] == {k: v for k, v in spot.items() if k != "name"} | {
        "cross_offshore": ["SE"]
    }
    await hass.async_block_till_done()
    assert hass.states.get("sensor.whiterocks_rating") is not None

    subentry = next(s for s in entry.subentries.values() if s.title == "Whiterocks")
    result = await entry.start_subentry_reconfigure_flow(hass, subentry.subentry_id)
    changed = {k: v for k, v in spot.items() if k != "name"} | {"cross_offshore": []}
    result = await hass.config_entries.subentries.async_configure(result["flow_id"], changed)
    assert result["reason"] == "reconfigure_successful"
    assert entry.subentries[subentry.subentry_id].data["cross_offshore"] == []


async def test_zeroconf_ipv6_url(hass: HomeAssistant) -> None:
    """An IPv6 announcement becomes a bracketed URL."""
    info = ZeroconfServiceInfo(
        ip_address=ip_address("fd00::5"),
        ip_addresses=[ip_address("fd00::5")],
        hostname="milo-pi.local.",
        name="v6._milo-llm._tcp.local.",
        port=10501,
        type="_milo-llm._tcp.local.",
        properties={},
    )
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_ZEROCONF}, data=info
    )
    assert result["description_placeholders"] == {"url": "http://[fd00::5]:10501/v1"}


async def test_options_point_the_surf_at_another_open_meteo(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud, unused_tcp_port: int
) -> None:
    """The options take a self-hosted Open-Meteo or a mirror, tested before saving."""
    entry = await setup_entry()
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["step_id"] == "init"
    suggested = {
        field.schema: field.description["suggested_value"] for field in result["data_schema"].schema
    }
    assert suggested == {
        "marine_url": "https://marine-api.open-meteo.com/v1/marine",
        "forecast_url": "https://api.open-meteo.com/v1/forecast",
    }

    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"marine_url": "ftp://meteo.lan/marine", "forecast_url": "not a url"}
    )
    assert result["errors"] == {"marine_url": "invalid_url", "forecast_url": "invalid_url"}

    dead = f"http://127.0.0.1:{unused_tcp_port}/v1"
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"marine_url": f"{dead}/marine", "forecast_url": f"{dead}/forecast"}
    )
    assert result["errors"] == {"base": "open_meteo_failed"}
    assert dead in result["description_placeholders"]["error"]

    calls = cloud.open_meteo_calls
    mirror = {
        "marine_url": f"{cloud.url}/v1/marine",
        "forecast_url": f" {cloud.url}/v1/forecast ",
    }
    result = await hass.config_entries.options.async_configure(result["flow_id"], mirror)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert entry.options == {
        "marine_url": f"{cloud.url}/v1/marine",
        "forecast_url": f"{cloud.url}/v1/forecast",
    }
    # Tested once, then the reloaded entry fetched both spots from the new server.
    assert cloud.open_meteo_calls == calls + 3
    assert entry.runtime_data.surf.endpoints.marine == f"{cloud.url}/v1/marine"
    assert hass.states.get("sensor.east_strand_rating").state == "gnarly"


async def test_options_without_spots_only_check_the_urls(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud
) -> None:
    """With no spot to ask about, well-formed URLs are saved as they are."""
    entry = await setup_entry(subentries=[])
    result = await hass.config_entries.options.async_init(entry.entry_id)
    mirror = {"marine_url": "http://meteo.lan/v1/marine", "forecast_url": "http://meteo.lan/v1/f"}
    result = await hass.config_entries.options.async_configure(result["flow_id"], mirror)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == mirror
    assert cloud.open_meteo_calls == 0
