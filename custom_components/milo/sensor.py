"""Per-spot surf sensors for dashboards and automations."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import override

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.config_entries import ConfigSubentry
from homeassistant.const import DEGREE, UnitOfLength, UnitOfSpeed, UnitOfTime
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.update_coordinator import CoordinatorEntity
from homeassistant.util import dt as dt_util
from homeassistant.util.unit_system import US_CUSTOMARY_SYSTEM

from .const import DOMAIN, SUBENTRY_SURF_SPOT
from .coordinator import SurfCoordinator
from .data import MiloConfigEntry
from .redact import redact_url
from .surf import Rating, SpotForecast

# The coordinator does the fetching; entities only read its data.
PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class SurfSensorDescription(SensorEntityDescription):
    """How a sensor reads its value from a spot's forecast."""

    value_fn: Callable[[SpotForecast, datetime], float | str | datetime | None]


def _now_value(
    read: Callable[..., float | str],
) -> Callable[[SpotForecast, datetime], float | str | None]:
    def value(forecast: SpotForecast, now: datetime) -> float | str | None:
        hour = forecast.at(now)
        return read(hour) if hour else None

    return value


def _next_session(forecast: SpotForecast, now: datetime) -> datetime | None:
    session = forecast.next_good_session(now)
    return session.time if session else None


SENSORS = (
    SurfSensorDescription(
        key="wave_height",
        translation_key="wave_height",
        device_class=SensorDeviceClass.DISTANCE,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfLength.METERS,
        suggested_display_precision=1,
        value_fn=_now_value(lambda h: h.wave_height_m),
    ),
    SurfSensorDescription(
        key="wave_period",
        translation_key="wave_period",
        device_class=SensorDeviceClass.DURATION,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfTime.SECONDS,
        suggested_display_precision=0,
        value_fn=_now_value(lambda h: h.corrected_period_s),
    ),
    SurfSensorDescription(
        key="wind_speed",
        translation_key="wind_speed",
        device_class=SensorDeviceClass.WIND_SPEED,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfSpeed.KILOMETERS_PER_HOUR,
        suggested_display_precision=0,
        value_fn=_now_value(lambda h: h.wind_speed_kmh),
    ),
    SurfSensorDescription(
        key="wind_direction",
        translation_key="wind_direction",
        device_class=SensorDeviceClass.WIND_DIRECTION,
        state_class=SensorStateClass.MEASUREMENT_ANGLE,
        native_unit_of_measurement=DEGREE,
        suggested_display_precision=0,
        value_fn=_now_value(lambda h: h.wind_direction_deg),
    ),
    SurfSensorDescription(
        key="rating",
        translation_key="rating",
        device_class=SensorDeviceClass.ENUM,
        options=[str(r) for r in Rating],
        value_fn=_now_value(lambda h: str(h.rating)),
    ),
    SurfSensorDescription(
        key="next_good_session",
        translation_key="next_good_session",
        device_class=SensorDeviceClass.TIMESTAMP,
        value_fn=_next_session,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: MiloConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the surf sensors of every spot."""
    coordinator = entry.runtime_data.surf
    if coordinator is None:
        return
    for subentry in entry.subentries.values():
        if subentry.subentry_type == SUBENTRY_SURF_SPOT:
            async_add_entities(
                [SurfSensor(coordinator, subentry, description) for description in SENSORS],
                config_subentry_id=subentry.subentry_id,
            )


class SurfSensor(CoordinatorEntity[SurfCoordinator], SensorEntity):
    """One surf figure for one spot."""

    _attr_has_entity_name = True
    entity_description: SurfSensorDescription

    def __init__(
        self,
        coordinator: SurfCoordinator,
        subentry: ConfigSubentry,
        description: SurfSensorDescription,
    ) -> None:
        """Attach the sensor to its spot's device."""
        super().__init__(coordinator)
        self.entity_description = description
        self._spot_id = subentry.subentry_id
        self._attr_unique_id = f"{subentry.subentry_id}_{description.key}"
        self._attr_device_info = dr.DeviceInfo(
            identifiers={(DOMAIN, subentry.subentry_id)},
            name=subentry.title,
            manufacturer="Open-Meteo",
            model="Surf spot",
            entry_type=dr.DeviceEntryType.SERVICE,
            configuration_url="https://open-meteo.com/en/docs/marine-weather-api"
            if coordinator.endpoints.public
            else redact_url(coordinator.endpoints.marine),
        )
        us_units = coordinator.hass.config.units is US_CUSTOMARY_SYSTEM
        if description.key == "wave_height" and us_units:
            self._attr_suggested_unit_of_measurement = UnitOfLength.FEET

    @property
    @override
    def available(self) -> bool:
        """Unavailable while Open-Meteo fails."""
        return super().available and self._spot_id in (self.coordinator.data or {})

    @property
    @override
    def attribution(self) -> str:
        """Open-Meteo, another server, or a recorded (not live) forecast: always said."""
        return self.coordinator.attribution

    @property
    @override
    def native_value(self) -> float | str | datetime | None:
        """Read the value for the current hour."""
        return self.entity_description.value_fn(self.coordinator.data[self._spot_id], dt_util.now())
