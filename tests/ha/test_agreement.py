"""Remarks that agree with the facts: scripted model outputs that contradict them."""

from __future__ import annotations

import pytest

from custom_components.milo import persona
from custom_components.milo.agreement import RemarkCheck, Topic, Truths, surf_truths, weather_truths

# "Partly cloudy, 20 % chance of rain", 15 °C, a light breeze: the example.
PARTLY_CLOUDY = weather_truths(["partlycloudy"], [15.0], 20, 12)
POURING = weather_truths(["rainy", "pouring"], [9.0], 90, 40)
HEATWAVE = weather_truths(["sunny"], [27.0], 0, 8)
SNOW = weather_truths(["snowy"], [-1.0], 70, 15)
# Gnarly: 1.2 m (4 ft) offshore at 9am; smaller and onshore later.
GNARLY = surf_truths(["gnarly"], [3.9, 2.6, 2.0], ["offshore", "onshore"], [16, 14])
FLAT = surf_truths(["trash"], [1.0, 1.0, 1.3], ["cross-offshore"], [8])
FACTS = "East Strand today: gnarly at 9am, waves 0.8 to 1.2 metres, offshore wind."
PROMPT = "You are Milo, a desk robot. Add one short spoken remark about them, in character."


def _fault(truths: Truths, sentence: str, question: str = "") -> str | None:
    return RemarkCheck(truths, FACTS, PROMPT, question, names=["Milo"]).fault(sentence)


@pytest.mark.parametrize(
    ("truths", "remark"),
    [
        # Rain where the forecast says it is unlikely, and dry where it pours.
        (PARTLY_CLOUDY, "They're mostly just light rain."),
        (PARTLY_CLOUDY, "Grab your umbrella."),
        (PARTLY_CLOUDY, "Showers all round, lovely."),
        (POURING, "Not a cloud in the sky, and dry as a bone."),
        (POURING, "No rain today, lucky you."),
        # Sun, cold and warmth against the sky and the temperatures.
        (POURING, "Slap on the sunscreen!"),
        (HEATWAVE, "Freezing out there, wrap up."),
        (SNOW, "A proper scorcher."),
        (PARTLY_CLOUDY, "Perfect beach weather, it's boiling."),
        (HEATWAVE, "Snow is on the way."),
        (HEATWAVE, "Hold on to your hat, it's blowing a gale."),
        (POURING, "Calm as you like."),
        # A negation that may go either way has to agree both ways.
        (PARTLY_CLOUDY, "You won't need an umbrella, probably."),
        # The surf: flat or big, good or rubbish, glassy or choppy.
        (FLAT, "It's huge out there, massive sets."),
        (FLAT, "Pumping, get out there!"),
        (GNARLY, "Flat as a pond."),
        (GNARLY, "Total mush today."),
        (FLAT, "Choppy and messy."),
        # Gloom about a good day.
        (GNARLY, "What a nightmare."),
        (HEATWAVE, "Miserable, isn't it."),
        # Ratings, numbers and names the facts do not have.
        (FLAT, "Properly gnarly."),
        (GNARLY, "Six foot and glassy!"),
        (GNARLY, "Waves of 1.5 metres."),
        (GNARLY, "Better than Bundoran, anyway."),
        # Weather talk after a surf report: the surf facts say nothing about the sky.
        (GNARLY, "Sunny too, bring the sunglasses."),
        # Recitals of the facts, the instructions or the question.
        (GNARLY, "East Strand today: gnarly at last!"),
        (GNARLY, "You are Milo, a desk robot."),
    ],
)
def test_contradicting_remarks_are_refused(truths: Truths, remark: str) -> None:
    """Each scripted remark contradicts its facts or says what they do not."""
    assert _fault(truths, remark) is not None


@pytest.mark.parametrize(
    ("truths", "remark"),
    [
        (PARTLY_CLOUDY, "Bit of sun, bit of cloud. Classic."),
        (PARTLY_CLOUDY, "No rain to speak of, so no excuses."),
        (POURING, "Bring a brolly, it's chucking it down."),
        (POURING, "Grey and gloomy, my favourite."),
        (POURING, "Miserable. Lovely weather for ducks."),
        (FLAT, "What a nightmare."),
        (HEATWAVE, "Sunglasses on, it's a scorcher."),
        (HEATWAVE, "Not a cloud about."),
        (SNOW, "Snowman time, wrap up, it's freezing."),
        (GNARLY, "Get out there, it's pumping!"),
        (GNARLY, "Wax up, Milo is jealous."),
        (GNARLY, "Go on, get wet!"),
        (FLAT, "Flat as a pond. Go for a swim instead."),
        (FLAT, "Nice and clean, but tiny."),
        (FLAT, "Trash, brother."),
    ],
)
def test_agreeing_remarks_pass(truths: Truths, remark: str) -> None:
    """Remarks that agree with their facts are said."""
    assert _fault(truths, remark) is None


@pytest.mark.parametrize(
    ("remark", "about"),
    [
        # Said after surf and weather facts by the embedded model (bench/character).
        ("Talks in the dark.", False),
        ("Now, I know what you're thinking - this is a joke.", False),
        ("Glass, this is a new one.", False),
        ("Why doesn't that answer the user's question?", False),
        ("Hi there, cool one.", False),
        ("Aww, no need to apologize, just an excuse.", False),
        ("Hey, I did not know that!", False),
        ("You just forgot to tell me the weather forecast.", False),
        ("Now you've made a joke about rain!", False),
        ("You have just told me the facts, but you've left out a crucial piece.", False),
        ("Good surf in portrush today, but good enough.", True),
        ("Aye, that's a great spot.", True),
        ("Grey. Beautifully, reliably grey.", True),
        ("Proper wet weather.", True),
        ("Mid everywhere tomorrow.", True),
        # A reaction of a word or two needs no subject.
        ("Shocking.", True),
        ("Send it!", True),
    ],
)
def test_a_remark_is_about_the_sea_or_the_sky(remark: str, about: bool) -> None:
    """A sentence of a remark must talk about the forecast, or be a short reaction."""
    check = RemarkCheck(GNARLY, FACTS, PROMPT, "", names=["Milo"])
    assert check.about_the_forecast(remark) is about


def test_a_parroted_question_is_refused() -> None:
    """Saying the question back is not a remark."""
    assert _fault(GNARLY, "How is the surf?", question="how is the surf") is not None


@pytest.mark.parametrize(
    ("condition", "line"),
    [
        (condition, line)
        for condition, tag in persona.WEATHER_TAGS.items()
        for line in (*persona.lines("weather", tag), *persona.lines("weather", "any"))
    ],
)
def test_weather_lines_agree_with_their_condition(condition: str, line: str) -> None:
    """Every bank line said instead of a refused remark agrees with its own condition."""
    truths = weather_truths([condition], [], None, None)
    check = RemarkCheck(truths, "", "", "", names=["Milo", "North Coast"])
    assert [check.fault(part) for part in line.split(". ")] == [None] * len(line.split(". "))


@pytest.mark.parametrize(
    ("rating", "line"),
    [
        (rating, line)
        for rating in ("gnarly", "mid", "trash")
        for line in persona.lines("surf", rating)
    ],
)
def test_surf_lines_agree_with_their_rating(rating: str, line: str) -> None:
    """Every bank line for a rating claims nothing about the sky, waves or wind."""
    truths = surf_truths([rating], [], [], [])
    check = RemarkCheck(truths, "", "", "", names=["Milo"])
    assert [check.fault(part) for part in line.split(". ")] == [None] * len(line.split(". "))


def test_truths_between_thresholds_allow_either_claim() -> None:
    """At 15 °C it is neither clearly cold nor clearly warm: saying it is not is fine,
    saying it is, is not; 45 % rain may go either way."""
    mild = weather_truths(["cloudy"], [15.0], 45, 27)
    assert mild.claims[Topic.COLD] == {False}
    assert mild.claims[Topic.WARM] == {False}
    assert mild.claims[Topic.RAIN] == {True, False}
    assert mild.claims[Topic.WIND] == {True, False}
