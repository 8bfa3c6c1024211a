"""What a loaded Milo config entry keeps at runtime."""

from __future__ import annotations

from dataclasses import dataclass

from homeassistant.config_entries import ConfigEntry

from .client import OpenAICompatibleClient
from .coordinator import SurfCoordinator


@dataclass(slots=True)
class MiloData:
    """The chat server client, its model, and the surf coordinator (None without spots)."""

    client: OpenAICompatibleClient
    model: str
    surf: SurfCoordinator | None


MiloConfigEntry = ConfigEntry[MiloData]
