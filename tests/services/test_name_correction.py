"""milo-stt puts back the home's names that whisper misheard, and leaves ordinary speech
alone. The misheard lines are whisper tiny.en's own, on espeak-ng and piper speech with the
names in its prompt (bench/stt_names)."""

from __future__ import annotations

import pytest
from wyoming.asr import Transcribe, Transcript
from wyoming.event import Event

from milo_services.stt.biasing import NAMES_EVENT, NAMES_SAVED_EVENT, Vocabulary
from milo_services.stt.name_correction import NameCorrector, sound_key
from milo_services.stt.transcriber import Transcriber
from tests.services.helpers import ThreadedServer, audio_events, espeak, normalize, read_until
from tests.services.test_stt_names import server  # noqa: F401 - a milo-stt of its own

# The bench's home, as Milo's integration sends it: persona, spots, areas, entities, and
# the words of Milo's topics in lower case.
HOME = [
    "Milo", "East Strand", "West Strand", "Living Room", "Kitchen", "Bedroom", "Snug",
    "Scullery", "Utility room", "Conservatory", "Landing", "Shopping List",
    "Roborock Downstairs", "Nanoleaf panels", "Ecobee", "Thermostat", "Sonos Arc",
    "Snow globe", "Lava lamp", "Kettle", "Dyson fan", "Entry lock", "Front door",
    "surf", "waves", "weather", "rain", "forecast",
]  # fmt: skip


@pytest.fixture(scope="module")
def corrector() -> NameCorrector:
    return NameCorrector(HOME)


@pytest.mark.parametrize(
    ("heard", "meant"),
    [
        ("Play some music on the Sonos mark.", "Play some music on the Sonos Arc."),
        ("Turn off the nice and fan on the landing.", "Turn off the Dyson fan on the landing."),
        ("Turn on the nice and fun.", "Turn on the Dyson fan."),
        ("At least Strand, Bedroom, This evening.", "At East Strand, Bedroom, This evening."),
        ("Turn off the Nanoleaf panel in the sound.", "Turn off the Nanoleaf panels in the Snug."),
        ("How warm is it in my sound?", "How warm is it in my Snug?"),
        ("It's cold in the sun.", "It's cold in the Snug."),
        ("Turn off the Nanoleaf panels in the snow.", "Turn off the Nanoleaf panels in the Snug."),
    ],
)  # fmt: skip
def test_misheard_names_are_put_back(corrector: NameCorrector, heard: str, meant: str) -> None:
    assert corrector.correct(heard) == meant


@pytest.mark.parametrize(
    "text",
    [
        # Names already said are never rewritten, even when another name is meant.
        "Milo, East Strand, Working today.",
        "Turn off the Sonos Arc and the Lava lamp.",
        # Ordinary words that sound a little like a name.
        "What is the wind like at East Strand?",  # "wind like" / "Entry lock"
        "Turn off the entry light.",  # a kind of device is not rewritten
        "Turn on the desk fan.",  # "desk" / "Dyson": too far
        "Turn on the fan.",
        "Play the news on the radio.",
        "Play some jazz in the car.",
        "Turn the volume up on the speaker.",
        "Play a sound in the kitchen.",  # not a place
        "Turn up the sound on the television.",
        "Tell me a joke about the sun.",
        "Milo will train tomorrow.",  # topic words ("rain") are prompt words, not names
        "Set a timer for ten minutes.",
        "What is the surf like at Portrush today?",
        "Remind me to buy milk tomorrow morning.",
        "",
    ],
)
def test_ordinary_speech_is_left_alone(corrector: NameCorrector, text: str) -> None:
    assert corrector.correct(text) == text


def test_a_name_inside_a_longer_one_is_kept_and_completed() -> None:
    """The area "Kitchen" is said; the lamp's name around it is put back."""
    corrector = NameCorrector(["Kitchen", "Kitchen lamp", "East Strand", "West Strand"])
    assert corrector.correct("Turn on the kitchen lamb.") == "Turn on the Kitchen lamp."
    assert corrector.correct("Turn on the kitchen light.") == "Turn on the kitchen light."
    assert corrector.correct("Is East Strand good?") == "Is East Strand good?"


def test_the_spelling_decides_between_names_that_sound_alike() -> None:
    """ "East" and "West" have the same consonants; "least" is one letter from "East"."""
    assert sound_key("East") == sound_key("West")
    corrector = NameCorrector(["West Strand", "East Strand"])
    assert corrector.correct("Is least Strand good?") == "Is East Strand good?"


def test_two_names_that_fit_equally_well_leave_the_words_alone() -> None:
    corrector = NameCorrector(["Sonos Arc", "Sonos Ark"])  # one letter from "Arq" each
    assert corrector.correct("Play it on the Sonos Arq") == "Play it on the Sonos Arq"


def test_digits_and_accents_are_parts_of_names() -> None:
    """ "Lamp 2" is two words ("lamp" alone is not it); "Küche" is one."""
    corrector = NameCorrector(["Lamp 2", "Küche"])
    assert corrector.correct("Turn on the lamp in the hall.") == "Turn on the lamp in the hall."
    assert corrector.correct("Is it warm in the Kuche?") == "Is it warm in the Küche?"


def test_no_names_no_change() -> None:
    assert NameCorrector().correct("Turn on the nice and fan.") == "Turn on the nice and fan."


def test_the_vocabulary_corrects_english_with_every_name(transcriber: Transcriber) -> None:
    """Names past the prompt's budget are put back too; other languages are left alone
    (the sound rules are English spelling's); the corrector is built once per list, and
    equal lists give equal correctors (a speculative transcript's job matches the final
    one's even when another connection's request names came in between)."""
    vocabulary = Vocabulary(transcriber.count_tokens)
    lamps = [f"Lamp number {n}" for n in range(300)]
    saved = vocabulary.set_home_names([*lamps, "Dyson fan"])
    assert saved.data["in_prompt"] < 301
    english = vocabulary.corrector(language="en")
    assert english.correct("Turn on the nice and fan.") == "Turn on the Dyson fan."
    assert vocabulary.corrector(language="en") is english
    german = vocabulary.corrector(language="de")
    assert german.correct("Turn on the nice and fan.") == "Turn on the nice and fan."
    assert vocabulary.corrector(["Kitchen"], language="en") != english
    assert vocabulary.corrector(language="en") == english
    vocabulary.set_home_names(["Dyson fan"])
    assert vocabulary.corrector(language="en") != english


async def test_the_home_names_come_out_right_through_the_wyoming_client(
    server: ThreadedServer,  # noqa: F811 - the imported fixture
) -> None:
    """espeak-ng's voice, which tiny.en heard as "the nice and fan" and "the Nanoleaf panel
    in the sound" even with the names in its prompt (bench/stt_names, 2026-12-06)."""
    async with server.client() as client:
        await client.write_event(Event(NAMES_EVENT, {"names": HOME}))
        assert (await read_until(client, NAMES_SAVED_EVENT))[-1].data["names"] == len(HOME)
    for said, names in [
        ("Turn off the Dyson fan on the landing.", ["dyson fan"]),
        ("Turn off the Nanoleaf panels in the snug.", ["nanoleaf panels", "snug"]),
    ]:
        async with server.client() as client:
            await client.write_event(Transcribe(language="en").event())  # all HA sends
            for event in audio_events(espeak(said)):
                await client.write_event(event)
            reply = (await read_until(client, "transcript"))[-1]
        heard = f" {normalize(Transcript.from_event(reply).text)} "
        assert all(f" {name} " in heard for name in names), heard
