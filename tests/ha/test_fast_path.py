"""The fast path recognises the phrasings people use for surf, weather and the easter eggs."""

from __future__ import annotations

import pytest

from custom_components.milo.fast_path import FastIntent, recognize

SPOTS = ["East Strand", "West Strand", "Whiterocks", "Castlerock Beach"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("What's the surf like today?", FastIntent("surf", "today", None)),
        ("surf tomorrow", FastIntent("surf", "tomorrow", None)),
        (
            "i needa serf at east  strand today right now",
            FastIntent("surf", "today", "East Strand"),
        ),
        ("Is West Strand surfable tommorow?", FastIntent("surf", "tomorrow", "West Strand")),
        ("any waves at the east tmrw", FastIntent("surf", "tomorrow", "East Strand")),
        ("How's the swell at Whiterocks?", FastIntent("surf", "today", "Whiterocks")),
        ("how's castlerock looking", FastIntent("surf", "today", "Castlerock Beach")),
        ("How is West Strand looking today?", FastIntent("surf", "today", "West Strand")),
        ("Surf report for east strand, please!", FastIntent("surf", "today", "East Strand")),
        ("Should I go surfing?", FastIntent("surf", "today", None)),
        ("What's the weather like?", FastIntent("weather", "today")),
        ("Is it going to rain tomorrow?", FastIntent("weather", "tomorrow")),
        ("do I need an umbrella", FastIntent("weather", "today")),
        ("how cold is it outside", FastIntent("weather", "today")),
        ("uh so u like milk milo?", FastIntent("milk")),
        ("MILKSHAKE time", FastIntent("milk")),
        ("what do you think of troggs", FastIntent("troggs")),
        ("Trogs is where I got my board", FastIntent("troggs")),
    ],
)
def test_recognised(text: str, expected: FastIntent) -> None:
    """Each phrasing maps to its tool, day and spot."""
    assert recognize(text, SPOTS) == expected


@pytest.mark.parametrize(
    "text",
    [
        "turn on the kitchen light",
        "wave at me",
        "jeez relax bro",
        "turn on the east landing light",
        "what time is it",
        "",
    ],
)
def test_left_to_the_model_or_intents(text: str) -> None:
    """Everything else is for HA's intents or the model."""
    assert recognize(text, SPOTS) is None


def test_east_and_west_need_the_default_spots() -> None:
    """'East' only means East Strand when East Strand is configured."""
    assert recognize("surf in the east", ["Bundoran"]) == FastIntent("surf", "today", None)
