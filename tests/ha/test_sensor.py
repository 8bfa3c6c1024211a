"""Surf sensors, the repair issue after repeated Open-Meteo failures, diagnostics, the action."""

from __future__ import annotations

from datetime import timedelta

from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import (
    device_registry as dr,
    entity_registry as er,
    issue_registry as ir,
)
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.util import dt as dt_util
from homeassistant.util.unit_system import US_CUSTOMARY_SYSTEM
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.milo.const import DOMAIN, SUBENTRY_SURF_SPOT, SURF_FAILURES_BEFORE_ISSUE
from custom_components.milo.diagnostics import async_get_config_entry_diagnostics
from custom_components.milo.redact import redact_url
from custom_components.milo.surf import SurfApiError, _get_json

from .conftest import FakeCloud, agent_subentry


def _state(hass: HomeAssistant, entity_id: str) -> tuple[str, str | None]:
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return state.state, state.attributes.get("unit_of_measurement")


async def test_sensors_metric(hass: HomeAssistant, setup_entry) -> None:
    """Each spot has its six sensors, for the current hour, in metric units."""
    await setup_entry()
    assert _state(hass, "sensor.east_strand_wave_height") == ("1.2", "m")
    assert _state(hass, "sensor.east_strand_wave_period") == ("10.5", "s")
    assert _state(hass, "sensor.east_strand_wind_speed") == ("16.1", "km/h")
    assert _state(hass, "sensor.east_strand_wind_direction") == ("225.0", "°")
    assert _state(hass, "sensor.east_strand_rating") == ("gnarly", None)
    assert _state(hass, "sensor.west_strand_rating") == ("trash", None)
    assert hass.states.get("sensor.east_strand_rating").attributes["options"] == [
        "gnarly",
        "mid",
        "trash",
    ]
    assert _state(hass, "sensor.east_strand_next_good_session")[0] == "2026-06-01T07:00:00+00:00"
    assert _state(hass, "sensor.west_strand_next_good_session")[0] == "2026-06-02T05:00:00+00:00"
    attributes = hass.states.get("sensor.east_strand_wave_height").attributes
    assert attributes["attribution"] == "Weather data by Open-Meteo.com"


async def test_sensors_say_where_the_data_comes_from(
    hass: HomeAssistant, portrush: None, make_entry, cloud: FakeCloud
) -> None:
    """Another server is named; a recorded forecast says RECORDED, not live, everywhere."""
    entry = make_entry()
    host = cloud.url.removeprefix("http://")
    hass.config_entries.async_update_entry(
        entry,
        options={
            "marine_url": f"{cloud.url}/v1/marine",
            "forecast_url": f"{cloud.url}/v1/forecast",
        },
    )
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    state = hass.states.get("sensor.east_strand_rating")
    assert (state.state, state.attributes["attribution"]) == (
        "gnarly",
        f"Open-Meteo data from {host}",
    )
    entity = er.async_get(hass).async_get("sensor.east_strand_rating")
    device = dr.async_get(hass).async_get(entity.device_id)
    assert device.configuration_url == f"{cloud.url}/v1/marine"

    cloud.marine["recorded"] = {"note": "sample for the demo"}
    await entry.runtime_data.surf.async_refresh()
    await hass.async_block_till_done()
    state = hass.states.get("sensor.west_strand_wave_height")
    assert state.attributes["attribution"] == (
        f"RECORDED forecast, not live: sample for the demo (served by {host})"
    )


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        (
            "https://customer-marine-api.open-meteo.com/v1/marine?apikey=s3cret",
            "https://customer-marine-api.open-meteo.com/v1/marine?apikey=**REDACTED**",
        ),
        (
            "http://meteo.lan/v1/forecast?models=icon&Api_Key=s3cret&token=s3cret&key=s3cret",
            "http://meteo.lan/v1/forecast?models=icon&Api_Key=**REDACTED**"
            "&token=**REDACTED**&key=**REDACTED**",
        ),
        (
            "http://surfer:s3cret@meteo.lan/v1/marine",
            "http://**REDACTED**:**REDACTED**@meteo.lan/v1/marine",
        ),
        ("http://s3cret@meteo.lan/v1/marine", "http://**REDACTED**@meteo.lan/v1/marine"),
        ("http://meteo.lan:8080/v1/marine?keys=2", "http://meteo.lan:8080/v1/marine?keys=2"),
    ],
)
def test_redact_url(url: str, redacted: str) -> None:
    """Keys in the query and user:password@ are hidden; everything else stays readable."""
    assert redact_url(url) == redacted


async def test_diagnostics_redact_keys_inside_surf_urls(
    hass: HomeAssistant, portrush: None, make_entry, cloud: FakeCloud
) -> None:
    """A key inside a configured surf URL is in neither the options nor the surf section."""
    entry = make_entry()
    server = cloud.url.replace("http://", "http://surfer:s3cret@")
    hass.config_entries.async_update_entry(
        entry,
        options={
            "marine_url": f"{server}/v1/marine?apikey=s3cret",
            "forecast_url": f"{cloud.url}/v1/forecast?api_key=s3cret",
        },
    )
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert _state(hass, "sensor.east_strand_rating")[0] == "gnarly"  # the URLs work as given

    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    assert "s3cret" not in str(diagnostics)
    marine = "http://**REDACTED**:**REDACTED**@" + cloud.url.removeprefix("http://")
    assert diagnostics["entry"]["options"]["marine_url"] == (
        f"{marine}/v1/marine?apikey=**REDACTED**"
    )
    assert diagnostics["surf"]["forecast_url"] == f"{cloud.url}/v1/forecast?api_key=**REDACTED**"
    # The spot's device page links to the marine URL: without the key.
    spot = next(s for s in entry.subentries.values() if s.subentry_type == SUBENTRY_SURF_SPOT)
    device = dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, spot.subentry_id), entry.entry_id
    )
    assert device is not None
    assert device.configuration_url == f"{marine}/v1/marine?apikey=**REDACTED**"


async def test_a_failed_fetch_names_its_url_without_the_key(
    hass: HomeAssistant, cloud: FakeCloud
) -> None:
    """The error that reaches HA's log and the repair issue shows the URL, not its key."""
    server = cloud.url.replace("http://", "http://surfer:s3cret@")
    with pytest.raises(SurfApiError) as raised:
        await _get_json(async_get_clientsession(hass), f"{server}/v1/nowhere?apikey=s3cret", {})
    assert "s3cret" not in str(raised.value)
    assert "/v1/nowhere?apikey=**REDACTED**" in str(raised.value)


async def test_sensors_us_customary(hass: HomeAssistant, portrush: None, make_entry) -> None:
    """With US customary units the waves are in feet and the wind in mph."""
    hass.config.units = US_CUSTOMARY_SYSTEM
    entry = make_entry()
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    state, unit = _state(hass, "sensor.east_strand_wave_height")
    assert (round(float(state), 1), unit) == (3.9, "ft")
    state, unit = _state(hass, "sensor.east_strand_wind_speed")
    assert (round(float(state)), unit) == (10, "mph")


async def test_api_failures_make_sensors_unavailable_and_raise_an_issue(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud
) -> None:
    """Unavailable at once; a repair issue after about an hour of retries; both clear on recovery.

    Each jump of an hour fires the one pending refresh: the hourly update, then the retries.
    """
    entry = await setup_entry()
    issue_id = f"surf_api_unavailable_{entry.entry_id}"
    issues = ir.async_get(hass)
    cloud.weather_fails = True

    for failures in range(1, SURF_FAILURES_BEFORE_ISSUE + 1):
        async_fire_time_changed(hass, dt_util.utcnow() + timedelta(hours=1))
        await hass.async_block_till_done(wait_background_tasks=True)
        assert _state(hass, "sensor.east_strand_rating")[0] == STATE_UNAVAILABLE
        assert (issues.async_get_issue(DOMAIN, issue_id) is not None) == (
            failures == SURF_FAILURES_BEFORE_ISSUE
        )

    issue = issues.async_get_issue(DOMAIN, issue_id)
    assert issue.translation_key == "surf_api_unavailable"
    assert issue.translation_placeholders["failures"] == str(SURF_FAILURES_BEFORE_ISSUE)
    assert issue.translation_placeholders["host"] == cloud.url.removeprefix("http://")

    cloud.weather_fails = False
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(hours=1))
    await hass.async_block_till_done(wait_background_tasks=True)
    assert _state(hass, "sensor.east_strand_rating")[0] != STATE_UNAVAILABLE
    assert issues.async_get_issue(DOMAIN, issue_id) is None


async def test_removing_the_entry_removes_its_issue(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud
) -> None:
    """A repair issue does not outlive its entry."""
    entry = await setup_entry()
    cloud.weather_fails = True
    for _ in range(SURF_FAILURES_BEFORE_ISSUE):
        await entry.runtime_data.surf.async_refresh()
    issue_id = f"surf_api_unavailable_{entry.entry_id}"
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is not None
    await hass.config_entries.async_remove(entry.entry_id)
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None


async def test_surf_report_action(hass: HomeAssistant, setup_entry, cloud: FakeCloud) -> None:
    """The action returns reports from the hourly cache, for one spot or all."""
    entry = await setup_entry()
    calls_after_setup = cloud.open_meteo_calls
    response = await hass.services.async_call(
        DOMAIN,
        "surf_report",
        {"spot": "east", "day": "tomorrow", "config_entry_id": entry.entry_id},
        blocking=True,
        return_response=True,
    )
    assert [r["spot"] for r in response["spots"]] == ["East Strand"]
    assert response["spots"][0]["rating"] == "mid"
    assert response["spots"][0]["date"] == "2026-06-02"
    assert [h["time"][11:16] for h in response["spots"][0]["key_times"]] == [
        "09:00",
        "14:00",
        "18:00",
    ]
    assert response["summary"].startswith("The surf at East Strand is mid tomorrow.")

    everything = await hass.services.async_call(
        DOMAIN, "surf_report", {}, blocking=True, return_response=True
    )
    assert [(r["spot"], r["rating"]) for r in everything["spots"]] == [
        ("East Strand", "gnarly"),
        ("West Strand", "trash"),
    ]
    assert cloud.open_meteo_calls == calls_after_setup  # served from the cache


async def test_surf_report_action_errors(
    hass: HomeAssistant, setup_entry, cloud: FakeCloud
) -> None:
    """Unknown spots, missing entries and a dead API give translated errors."""
    entry = await setup_entry()
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN, "surf_report", {"spot": "Pipeline"}, blocking=True, return_response=True
        )
    assert err.value.translation_key == "unknown_spot"
    assert err.value.translation_placeholders["spots"] == "East Strand, West Strand"

    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN,
            "surf_report",
            {"config_entry_id": "nope"},
            blocking=True,
            return_response=True,
        )
    assert err.value.translation_key == "entry_not_loaded"

    cloud.weather_fails = True
    await entry.runtime_data.surf.async_refresh()
    with pytest.raises(HomeAssistantError) as err:
        await hass.services.async_call(
            DOMAIN, "surf_report", {}, blocking=True, return_response=True
        )
    assert err.value.translation_key == "surf_unavailable"


async def test_surf_report_action_without_spots(hass: HomeAssistant, setup_entry) -> None:
    """An entry without spots says so."""
    await setup_entry(subentries=[agent_subentry()])
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN, "surf_report", {}, blocking=True, return_response=True
        )
    assert err.value.translation_key == "no_spots"
