"""Two Milos in two rooms, adopted by one real Home Assistant.

Two `milo-satellite --simulate` processes (the office Milo's camera sees a person, the
bedroom Milo's a coffee cup) are adopted by HA's own ESPHome integration. One request is
spoken to the office Milo through a real Assist pipeline; the others reach Milo's agent
with the ids such a pipeline run carries (the assist_satellite entity and its device, see
assist_satellite/entity.py). The head that moves, the camera asked who is talking and the
lamp that goes off are those of the room that heard it. A text chat, heard by no device,
falls back to the agent's configured Milo.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from homeassistant.components import conversation
from homeassistant.core import Context, HomeAssistant
from homeassistant.helpers import area_registry as ar, device_registry as dr, entity_registry as er
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_mock_service

from custom_components.milo.notes import without_area_line
from custom_components.milo.relevance import devices, named_devices, words

from .conftest import FakeCloud, agent_subentry, spot_subentries
from .test_conversation import AGENT, speech
from .test_esphome_satellite import (
    SATELLITE,
    Satellite,
    _piper_say,
    _record_states,
    _say_when_listening,
    _until,
    adopt,
    # Fixtures used here too: the log check (autouse), and for the spoken request the
    # voice pipeline (milo-stt, Milo's agent, milo-tts) with HA reachable over HTTP.
    media_server,  # noqa: F401
    milo_pipeline,  # noqa: F401
    no_errors_in_the_log,  # noqa: F401
    run_satellite,
    write_picture,
    write_silence,
    wyoming_ports,  # noqa: F401
)

needs_satellites = pytest.mark.skipif(
    not SATELLITE.exists(), reason="needs the satellite environment (.venv, script/setup)"
)


@dataclass(frozen=True)
class Milo:
    """One adopted satellite: its device, entity ids' prefix and voice satellite entity."""

    device_id: str
    prefix: str  # "office_milo": number.office_milo_head_pan
    satellite_id: str

    def entity(self, domain: str, object_id: str) -> str:
        return f"{domain}.{self.prefix}_{object_id}"


ROOMS = {
    # node name: (friendly name, MAC, camera picture, area)
    "office-milo": ("Office Milo", "02:00:00:00:4d:01", "astronaut", "Office"),
    "bedroom-milo": ("Bedroom Milo", "02:00:00:00:4d:02", "coffee", "Bedroom"),
}


@pytest.fixture
def office_says(request: pytest.FixtureRequest) -> str | None:
    """What the office Milo's microphone hears (indirect parameter); None: silence."""
    return getattr(request, "param", None)


@pytest.fixture
def satellites(
    socket_enabled: None, tmp_path: Path, office_says: str | None
) -> Iterator[dict[str, Satellite]]:
    """The two satellite processes; the bedroom's microphone hears a second of silence."""
    silence = write_silence(tmp_path / "silence.wav")
    with ExitStack() as stack:
        running = {}
        for name, (friendly, mac, picture, _area) in ROOMS.items():
            folder = tmp_path / name
            folder.mkdir()
            mic = silence
            if office_says and name == "office-milo":
                mic = _piper_say(office_says, folder / "mic.wav")
            running[name] = stack.enter_context(
                run_satellite(
                    folder,
                    mic_wav=mic,
                    camera=write_picture(folder / f"{picture}.png", picture),
                    name=name,
                    friendly_name=friendly,
                    mac=mac,
                )
            )
        yield running


@pytest.fixture
async def milos(
    hass: HomeAssistant, mock_bluetooth: None, satellites: dict[str, Satellite]
) -> AsyncIterator[dict[str, Milo]]:
    """Both adopted, each in its room's area, their heads still (no tracking, no idle
    look-around) so that only what the agent asks for moves them."""
    assert await async_setup_component(hass, "homeassistant", {})
    entries: list[MockConfigEntry] = []
    found: dict[str, Milo] = {}
    for name, (_friendly, mac, _picture, area) in ROOMS.items():
        entry = await adopt(hass, satellites[name], name=name, mac=mac)
        entries.append(entry)
        device = dr.async_get(hass).async_get_device_by_connection(
            (dr.CONNECTION_NETWORK_MAC, mac.lower()), entry.entry_id
        )
        assert device is not None
        area_id = ar.async_get(hass).async_get_or_create(area).id
        dr.async_get(hass).async_update_device(device.id, area_id=area_id)
        entities = er.async_entries_for_device(er.async_get(hass), device.id)
        satellite_id = next(e.entity_id for e in entities if e.domain == "assist_satellite")
        milo = Milo(
            device.id, satellite_id.split(".")[1].removesuffix("_assist_satellite"), satellite_id
        )
        for switch in ("face_tracking", "look_around"):
            await hass.services.async_call(
                "switch", "turn_off", {"entity_id": milo.entity("switch", switch)}, blocking=True
            )
            await _until(lambda s=switch, m=milo: _state(hass, m.entity("switch", s)) == "off")
        found[area] = milo
    yield found
    for entry in entries:
        await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


def _state(hass: HomeAssistant, entity_id: str) -> str | None:
    state = hass.states.get(entity_id)
    return None if state is None else state.state


async def _hear(
    hass: HomeAssistant, text: str, milo: Milo | None = None
) -> conversation.ConversationResult:
    """`text` as a pipeline run from `milo` hands it to the agent; None: a text chat."""
    return await conversation.async_converse(
        hass,
        text,
        None,
        Context(),
        language="en",
        agent_id=AGENT,
        device_id=milo.device_id if milo else None,
        satellite_id=milo.satellite_id if milo else None,
    )


def _note(request: dict[str, Any]) -> str:
    """The newest question as the model read it, note included."""
    return str(next(m["content"] for m in reversed(request["messages"]) if m["role"] == "user"))


@needs_satellites
async def test_the_milo_that_heard_it_moves_and_sees(
    hass: HomeAssistant,
    milos: dict[str, Milo],
    cloud: FakeCloud,
    make_entry: Callable[..., MockConfigEntry],
) -> None:
    """Heard by the office Milo: the office head turns and nods, the bedroom head stays
    still, and the model is told it is in the office, talking to the stranger the office
    camera sees. A text chat moves the configured (bedroom) Milo, whose camera sees nobody."""
    office, bedroom = milos["Office"], milos["Bedroom"]
    await _until(lambda: _state(hass, office.entity("sensor", "person_in_view")) == "stranger", 120)
    assert _state(hass, bedroom.entity("sensor", "person_in_view")) in ("", "unknown")
    entry = make_entry(
        [agent_subentry(satellite_device=bedroom.device_id, llm_hass_api=[]), *spot_subentries()]
    )
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    office_tilt = _record_states(hass, office.entity("number", "head_tilt"))
    bedroom_pan = _record_states(hass, bedroom.entity("number", "head_pan"))
    bedroom_tilt = _record_states(hass, bedroom.entity("number", "head_tilt"))

    cloud.reply(tool_calls=[("look_at", {"pan": -40, "tilt": 0})])
    cloud.reply("Fine, I'm looking left. Thrilling.")
    assert speech(await _hear(hass, "Look to your left.", office)) == (
        "Fine, I'm looking left. Thrilling."
    )
    await _until(lambda: _state(hass, office.entity("number", "head_pan")) == "-40.0")
    note = _note(cloud.chat_requests()[0])
    assert "You are in Office" in note
    assert "don't recognise" in note  # the office camera's stranger

    cloud.reply(tool_calls=[("nod", {})])
    cloud.reply("Nodded.")
    assert speech(await _hear(hass, "Nod your head if you agree.", office)) == "Nodded."
    await _until(lambda: any(float(tilt) < 0 for tilt in office_tilt))  # the nod, down first
    assert bedroom_pan == bedroom_tilt == []  # the other Milo never moved

    cloud.reply(tool_calls=[("look_at", {"pan": 0, "tilt": 30})])
    cloud.reply("Looking up. Riveting ceiling.")
    await _hear(hass, "Look up.")  # typed: no device heard it
    await _until(lambda: _state(hass, bedroom.entity("number", "head_tilt")) == "30.0")
    assert _state(hass, office.entity("number", "head_pan")) == "-40.0"
    note = _note(cloud.chat_requests()[-2])
    assert note.endswith("Look up.")
    assert "You are in" not in note
    assert "camera" not in note  # the bedroom camera sees a coffee cup


@needs_satellites
@pytest.mark.parametrize("office_says", ["Look to your left."], indirect=True)
# In this order: HA's HTTP test client (media_server) freezes its routes, which the
# ESPHome integration's dependencies still add to when the Milos are adopted.
@pytest.mark.usefixtures("milo_pipeline", "milos", "media_server")
async def test_a_spoken_request_moves_the_head_that_heard_it(
    hass: HomeAssistant,
    milos: dict[str, Milo],
    satellites: dict[str, Satellite],
    cloud: FakeCloud,
) -> None:
    """Spoken to the office Milo, through HA's ESPHome integration and a real Assist
    pipeline (milo-stt, Milo's agent with no satellite configured, milo-tts): the office
    head turns, the bedroom head stays still, and the answer comes out of the office Milo."""
    office, bedroom = milos["Office"], milos["Bedroom"]
    bedroom_pan = _record_states(hass, bedroom.entity("number", "head_pan"))
    cloud.reply(tool_calls=[("look_at", {"pan": -40, "tilt": 0})])
    cloud.reply("Left it is. Nothing there, obviously.")
    await _say_when_listening(hass, satellites["office-milo"], office.satellite_id)
    await _until(lambda: _state(hass, office.entity("number", "head_pan")) == "-40.0", 180)
    heard = _note(cloud.chat_requests()[0])
    assert "left" in heard.lower(), heard
    assert "You are in Office" in heard
    await _until(lambda: satellites["office-milo"].played("tts"), within=120)
    await _until(lambda: _state(hass, office.satellite_id) == "idle", within=60)
    assert satellites["bedroom-milo"].played("tts") == []
    assert bedroom_pan == []


@needs_satellites
async def test_the_lamp_in_the_room_that_heard_it(
    hass: HomeAssistant,
    milos: dict[str, Milo],
    cloud: FakeCloud,
    make_entry: Callable[..., MockConfigEntry],
) -> None:
    """Two lamps called "Lamp", one per room. "Turn off the lamp" turns off the lamp of
    the room that heard it: through HA's own agent (it matches the sentence), and through
    the model (a wording HA has no sentence for), which is told its room and whose tool
    call names no room. The cached system prompt names no room."""
    assert await async_setup_component(hass, "intent", {})
    registry = er.async_get(hass)
    lamps = {}
    for area in ("Office", "Bedroom"):
        entry = registry.async_get_or_create(
            "light",
            "test",
            f"{area}-lamp",
            suggested_object_id=f"{area.lower()}_lamp",
            original_name="Lamp",
        )
        area_id = ar.async_get(hass).async_get_or_create(area).id
        registry.async_update_entity(entry.entity_id, area_id=area_id)
        hass.states.async_set(entry.entity_id, "on", {"friendly_name": "Lamp"})
        lamps[area] = entry.entity_id
    turned_off = async_mock_service(hass, "light", "turn_off")
    entry = make_entry([agent_subentry(llm_hass_api=["assist"]), *spot_subentries()])
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    await _hear(hass, "Turn off the lamp.", milos["Bedroom"])
    await _hear(hass, "Turn off the lamp.", milos["Office"])
    assert [call.data["entity_id"] for call in turned_off] == [
        [lamps["Bedroom"]],
        [lamps["Office"]],
    ]
    assert cloud.chat_requests() == []  # HA's own agent did it

    cloud.reply(tool_calls=[("HassTurnOff", {"name": "Lamp", "domain": ["light"]})])
    cloud.reply("Lamp off. Enjoy the gloom.")
    answer = await _hear(hass, "It's way too bright in here, kill that lamp.", milos["Office"])
    assert speech(answer) == "Lamp off. Enjoy the gloom."
    assert turned_off[-1].data["entity_id"] == [lamps["Office"]]
    request = cloud.chat_requests()[0]
    assert "You are in Office" in _note(request)
    system = request["messages"][0]["content"]
    assert "always call the intent tools" in system  # HA's device prompt went out,
    assert "You are in area" not in system  # without its line naming the room


async def test_a_device_without_a_head(
    hass: HomeAssistant, cloud: FakeCloud, make_entry: Callable[..., MockConfigEntry]
) -> None:
    """Heard by a voice satellite with no head, no head is offered to move (not even the
    configured Milo's, in another room); the room is that of the satellite entity, which
    HA lets differ from its device's. A text chat still gets the configured Milo's head."""
    assert await async_setup_component(hass, "homeassistant", {})
    esphome = MockConfigEntry(domain="esphome", data={"device_name": "voice"})
    esphome.add_to_hass(hass)
    devices_ = dr.async_get(hass)
    areas = ar.async_get(hass)
    voice = devices_.async_get_or_create(
        config_entry_id=esphome.entry_id, identifiers={("esphome", "voice")}, name="Voice"
    )
    devices_.async_update_device(voice.id, area_id=areas.async_create("Hall").id)
    satellite = er.async_get(hass).async_get_or_create(
        "assist_satellite", "esphome", "voice-assist", device_id=voice.id, config_entry=esphome
    )
    er.async_get(hass).async_update_entity(
        satellite.entity_id, name="Kitchen voice", area_id=areas.async_create("Kitchen").id
    )
    milo = devices_.async_get_or_create(
        config_entry_id=esphome.entry_id, identifiers={("esphome", "milo")}, name="Milo"
    )
    entry = make_entry(
        [agent_subentry(satellite_device=milo.id, llm_hass_api=[]), *spot_subentries()]
    )
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    def offered(request: dict[str, Any]) -> list[str]:
        return [tool["function"]["name"] for tool in request.get("tools") or []]

    cloud.reply("I have no head here.")
    await conversation.async_converse(
        hass, "Look to your left.", None, Context(), "en", AGENT, voice.id, satellite.entity_id
    )
    cloud.reply("Fine.")
    await conversation.async_converse(hass, "Look to your left.", None, Context(), "en", AGENT)
    heard, typed = cloud.chat_requests()
    assert "look_at" not in offered(heard)
    assert "You are in Kitchen" in _note(heard)
    assert "look_at" in offered(typed)
    assert "You are in" not in _note(typed)


def test_named_devices_of_the_room_first() -> None:
    """ "The lamp" names every lamp; those in the room that heard it come first."""
    known = devices(
        {
            "light.bedroom_lamp": {"names": "Lamp", "domain": "light", "areas": "Bedroom"},
            "light.office_lamp": {"names": "Lamp", "domain": "light", "areas": "Office, Den"},
            "light.office_desk": {"names": "Desk light", "domain": "light", "areas": "Office"},
        }
    )
    said = words("turn off the lamp")
    assert [d.label for d in named_devices(said, known)] == [
        "Lamp (light, in Bedroom)",
        "Lamp (light, in Office, Den)",
    ]
    assert [d.label for d in named_devices(said, known, "Den")] == [
        "Lamp (light, in Office, Den)",
        "Lamp (light, in Bedroom)",
    ]


def test_without_area_line() -> None:
    """HA's area line leaves the API prompt (the note says the room); the rest stays."""
    prompt = (
        "When controlling Home Assistant always call the intent tools.\n"
        "You are in area Office (floor Upstairs) and all generic commands like 'turn on "
        "the lights' should target this area.\n"
        "This device is not able to start timers."
    )
    assert without_area_line(prompt) == (
        "When controlling Home Assistant always call the intent tools.\n"
        "This device is not able to start timers."
    )
    assert without_area_line(prompt.rsplit("\n", 1)[0]) == (
        "When controlling Home Assistant always call the intent tools."
    )
