"""Send milo-stt the home's names, so that it hears the words Milo routes on.

whisper tiny.en mishears names it has never seen ("East Strand" as "least Strand", "Milo"
as "My lo"); written into its prompt, they come out right. Home Assistant 2026.10's Wyoming
STT sends only `Transcribe(language=...)`, so the names cannot ride on the request. This
integration pushes them instead, as a `milo-names` Wyoming event, to every milo-stt that
Home Assistant's Wyoming integration has set up; milo-stt keeps the latest list for all its
requests (see `milo_services/stt/biasing.py`).

Why push rather than let milo-stt fetch them with an access token, as wyoming-faster-whisper
does: no long-lived token (an admin's, for the registries) to create and keep in a speech
service; the names follow the registries' and the exposure settings' own change events
instead of a fetch per utterance; and only this integration knows Milo's own words, the
persona's name and the surf spots, which no registry holds.

Order is priority, since milo-stt's prompt holds only so many: Milo's name, the surf spots,
the areas and floors, the exposed entities' names and aliases, then the words of Milo's own
topics ("will it rain" was heard as "we'll train"; see bench/stt_names). They are sent again
when a Wyoming entry loads, and every `RESEND_INTERVAL` for a milo-stt restarted behind HA's
back.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from homeassistant.components import conversation
from homeassistant.components.homeassistant.exposed_entities import async_listen_entity_updates
from homeassistant.config_entries import (
    SIGNAL_CONFIG_ENTRY_CHANGED,
    ConfigEntry,
    ConfigEntryChange,
    ConfigEntryState,
)
from homeassistant.const import EVENT_HOMEASSISTANT_STOP, EVENT_STATE_CHANGED
from homeassistant.core import CALLBACK_TYPE, Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.helpers import (
    area_registry as ar,
    entity_registry as er,
    floor_registry as fr,
)
from homeassistant.helpers.debounce import Debouncer
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.event import async_track_time_interval

from .const import (
    CONF_PERSONA_NAME,
    DEFAULT_NAME,
    DOMAIN,
    LOGGER,
    SUBENTRY_CONVERSATION,
    SUBENTRY_SURF_SPOT,
)
from .exposed_names import async_entity_names, async_place_names

WYOMING = "wyoming"
MILO_STT = "milo-stt"  # the ASR program name milo-stt describes itself with
NAMES_EVENT = "milo-names"
NAMES_SAVED_EVENT = "milo-names-saved"
# Far more than Whisper's prompt holds (about 60 names); milo-stt refuses more than 2000.
MAX_NAMES = 500
MAX_NAME_CHARS = 100
# The words Milo's fast path answers on: last, so that they never crowd out a name.
TOPIC_WORDS = ("surf", "waves", "weather", "rain", "forecast")
# Registry changes come in bursts (a device added, HA starting): send once they settle.
SETTLE_SECONDS = 2.0
# A milo-stt (re)started after Home Assistant has no names until the next send.
RESEND_INTERVAL = timedelta(minutes=5)
SEND_TIMEOUT = 10.0


@callback
def async_stt_names(hass: HomeAssistant) -> list[str]:
    """The names milo-stt should hear, most important first, without repeats.

    Every Milo entry's agents and spots: one milo-stt serves the whole home, and each entry
    sends it the same list.
    """
    subentries = [
        sub
        for milo in hass.config_entries.async_entries(
            DOMAIN, include_ignore=False, include_disabled=False
        )
        for sub in milo.subentries.values()
    ]
    names = [
        *(
            sub.data.get(CONF_PERSONA_NAME, DEFAULT_NAME)
            for sub in subentries
            if sub.subentry_type == SUBENTRY_CONVERSATION
        ),
        *(sub.title for sub in subentries if sub.subentry_type == SUBENTRY_SURF_SPOT),
        *async_place_names(hass),
        *async_entity_names(hass, None),
        *TOPIC_WORDS,
    ]
    unique: dict[str, str] = {}
    for name in names:
        spoken = " ".join(name.split())
        if spoken and len(spoken) <= MAX_NAME_CHARS:
            unique.setdefault(spoken.casefold(), spoken)
    return list(unique.values())[:MAX_NAMES]


@callback
def async_milo_stt_addresses(hass: HomeAssistant) -> list[tuple[str, int]]:
    """Host and port of each loaded Wyoming entry whose speech-to-text is milo-stt."""
    addresses = []
    for wyoming_entry in hass.config_entries.async_loaded_entries(WYOMING):
        # The Wyoming integration's runtime data holds the service's `describe` answer.
        service = getattr(wyoming_entry.runtime_data, "service", None)
        info = getattr(service, "info", None)
        if info is not None and any(asr.name == MILO_STT and asr.installed for asr in info.asr):
            addresses.append((str(service.host), int(service.port)))  # type: ignore[union-attr]
    return addresses


class SttNameSync:
    """Keeps every milo-stt's names in step with the home's (one per Milo entry)."""

    def __init__(self, hass: HomeAssistant) -> None:
        self.hass = hass
        # milo-stt's last answer per address, for diagnostics: names kept and in its prompt.
        self.saved: dict[str, dict[str, int] | str] = {}
        self._debouncer = Debouncer(
            hass,
            LOGGER,
            cooldown=SETTLE_SECONDS,
            immediate=False,
            function=self.async_send,
            background=True,
        )

    @callback
    def async_start(self) -> CALLBACK_TYPE:
        """Send now and whenever the names may have changed; returns the stop callback."""
        schedule = self.async_schedule
        unsubscribe = [
            self.hass.bus.async_listen(er.EVENT_ENTITY_REGISTRY_UPDATED, schedule),
            self.hass.bus.async_listen(ar.EVENT_AREA_REGISTRY_UPDATED, schedule),
            self.hass.bus.async_listen(fr.EVENT_FLOOR_REGISTRY_UPDATED, schedule),
            self.hass.bus.async_listen(
                EVENT_STATE_CHANGED, schedule, event_filter=_added_removed_or_renamed
            ),
            async_listen_entity_updates(self.hass, conversation.DOMAIN, schedule),
            async_dispatcher_connect(
                self.hass, SIGNAL_CONFIG_ENTRY_CHANGED, self._async_entry_changed
            ),
            async_track_time_interval(
                self.hass, self._async_resend, RESEND_INTERVAL, cancel_on_shutdown=True
            ),
            # HA does not unload entries when it stops: a send still settling is dropped.
            self.hass.bus.async_listen_once(EVENT_HOMEASSISTANT_STOP, self._async_stopping),
        ]
        schedule()

        @callback
        def stop() -> None:
            for undo in unsubscribe:
                undo()
            self._debouncer.async_shutdown()

        return stop

    @callback
    def _async_stopping(self, _event: Event[Any]) -> None:
        self._debouncer.async_shutdown()

    @callback
    def async_schedule(self, _event: Event[Any] | None = None) -> None:
        """Send once the changes have settled."""
        if self.hass.is_stopping:  # a reload while HA stops: nobody to tell any more
            return
        self._debouncer.async_schedule_call()

    @callback
    def _async_resend(self, _now: datetime) -> None:
        self.async_schedule()

    @callback
    def _async_entry_changed(self, _change: ConfigEntryChange, entry: ConfigEntry) -> None:
        """A Wyoming entry loaded (milo-stt came up after Milo, or was reloaded): send now."""
        if entry.domain == WYOMING and entry.state is ConfigEntryState.LOADED:
            self.async_schedule()

    async def async_send(self) -> None:
        """Send the names to every milo-stt; one that is down gets them next time."""
        addresses = async_milo_stt_addresses(self.hass)
        if not addresses:
            return
        names = async_stt_names(self.hass)
        for host, port in addresses:
            where = f"{host}:{port}"
            try:
                async with asyncio.timeout(SEND_TIMEOUT):
                    self.saved[where] = await _send(host, port, names)
            except (OSError, TimeoutError, ValueError) as err:
                LOGGER.debug("Could not send the home's names to milo-stt at %s: %s", where, err)
                self.saved[where] = f"not sent: {err or type(err).__name__}"
            else:
                LOGGER.debug("milo-stt at %s has the home's names: %s", where, self.saved[where])


async def _send(host: str, port: int, names: list[str]) -> dict[str, int]:
    """One `milo-names` round trip; milo-stt's counts, or ValueError with its refusal."""
    # Imported here: the wyoming package comes with HA's Wyoming integration (a requirement
    # of its manifest), which is set up whenever there is a milo-stt to send to, and only then.
    from wyoming.client import AsyncTcpClient  # noqa: PLC0415
    from wyoming.error import Error  # noqa: PLC0415
    from wyoming.event import Event as WyomingEvent  # noqa: PLC0415

    async with AsyncTcpClient(host, port) as client:
        await client.write_event(WyomingEvent(NAMES_EVENT, {"names": names}))
        while (reply := await client.read_event()) is not None:
            if reply.type == NAMES_SAVED_EVENT:
                return {key: int(value) for key, value in (reply.data or {}).items()}
            if Error.is_type(reply.type):
                raise ValueError(Error.from_event(reply).text)
    raise ConnectionError("milo-stt closed the connection without an answer")


@callback
def _added_removed_or_renamed(data: EventStateChangedData) -> bool:
    old, new = data["old_state"], data["new_state"]
    return old is None or new is None or old.name != new.name
