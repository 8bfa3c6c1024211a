"""What a loaded Milo config entry keeps at runtime."""

from __future__ import annotations

from dataclasses import dataclass

from homeassistant.config_entries import ConfigEntry

from .client import OpenAICompatibleClient
from .coordinator import SurfCoordinator
from .greeting import BuddyGreeter
from .speculation import Speculations
from .stt_names import SttNameSync


@dataclass(slots=True)
class MiloData:
    """The chat server client, its model, the surf coordinator (None without spots), what
    keeps milo-stt hearing the home's names, the greeter of buddies at the satellites, and
    the model calls started on milo-stt's speculative transcripts."""

    client: OpenAICompatibleClient
    model: str
    surf: SurfCoordinator | None
    stt_names: SttNameSync
    greeter: BuddyGreeter
    speculations: Speculations


MiloConfigEntry = ConfigEntry[MiloData]
