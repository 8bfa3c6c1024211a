"""What Milo's agent and AI task entities share: each is one service device per subentry."""

from __future__ import annotations

from homeassistant.config_entries import ConfigSubentry
from homeassistant.helpers import device_registry as dr

from .const import DOMAIN
from .data import MiloConfigEntry


def subentry_device(entry: MiloConfigEntry, subentry: ConfigSubentry) -> dr.DeviceInfo:
    """The service device of an agent or AI task subentry, named by it, on the entry's model."""
    return dr.DeviceInfo(
        identifiers={(DOMAIN, subentry.subentry_id)},
        name=subentry.title,
        manufacturer="Milo",
        model=entry.runtime_data.model,
        entry_type=dr.DeviceEntryType.SERVICE,
    )
