"""What the demo says to Milo: one request of each kind, and more phrasings for the benchmark."""

from __future__ import annotations

from dataclasses import dataclass

WAKE_WORD = "okay_nabu"
# piper's joe voice saying this triggers pymicro-wakeword's okay_nabu model.
WAKE_PHRASE = "Okay Nabu."
# The face the satellite's camera sees (scikit-image's astronaut is Eileen Collins); the
# demo enrols it as a buddy so Milo knows who is talking.
BUDDY = "Eileen"


@dataclass(frozen=True)
class Request:
    """A spoken request and the words its transcript must contain."""

    kind: str  # "device", "weather", "surf" or "small_talk"
    text: str
    keywords: tuple[str, ...]

    @property
    def slug(self) -> str:
        """A file-name-safe name for the request's audio."""
        words = "".join(c if c.isalnum() else " " for c in self.text.lower()).split()
        return f"{self.kind}-{'-'.join(words)[:48]}"


DEMO_REQUESTS = (
    Request("device", "Turn on the desk lamp.", ("desk", "lamp")),
    Request("weather", "What's the weather like tomorrow?", ("weather", "tomorrow")),
    Request("surf", "How is the surf at East Strand today?", ("surf", "strand")),
    Request("small_talk", "Tell me something funny about robots.", ("funny", "robots")),
)

# Five phrasings of each kind for the latency benchmark's medians. Device commands alternate
# on and off so each one really changes the lamp.
BENCH_REQUESTS = (
    Request("device", "Turn on the desk lamp.", ("desk", "lamp")),
    Request("device", "Turn off the desk lamp.", ("desk", "lamp")),
    Request("device", "Switch on the desk lamp.", ("desk", "lamp")),
    Request("device", "Switch off the desk lamp.", ("desk", "lamp")),
    Request("device", "Turn on the desk lamp please.", ("desk", "lamp")),
    Request("weather", "What's the weather like tomorrow?", ("weather",)),
    Request("weather", "What is the weather today?", ("weather",)),
    Request("weather", "Will it rain tomorrow?", ("rain",)),
    Request("weather", "How warm is it outside today?", ("warm",)),
    Request("weather", "What's the forecast for tomorrow?", ("forecast",)),
    Request("surf", "How is the surf at East Strand today?", ("surf",)),
    Request("surf", "Is West Strand any good tomorrow?", ("strand",)),
    Request("surf", "What are the waves like in Portrush today?", ("waves",)),
    Request("surf", "Should I go surfing tomorrow?", ("surf",)),
    Request("surf", "What's the surf report for East Strand?", ("surf",)),
    Request("small_talk", "Tell me something funny about robots.", ("robots",)),
    Request("small_talk", "How are you today?", ("how",)),
    Request("small_talk", "What is your favourite food?", ("food",)),
    Request("small_talk", "Do you like music?", ("music",)),
    Request("small_talk", "What did you do at the weekend?", ("weekend",)),
)
