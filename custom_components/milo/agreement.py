"""Whether a remark agrees with the facts Milo has just said (no Home Assistant needed).

After a surf or weather facts line the model adds a remark in character, and a tiny model
happily says "light rain" after "20% chance of rain", or "pumping" about knee-high mush.
A remark that contradicts the forecast is worse than none, so every sentence is checked
before it is spoken:
- what it says about rain, snow, sun, cloud, wind, cold, warmth, flat or big waves, the
  quality of the surf or the chop must be something the facts allow (`Truths`); a topic
  the facts say nothing about is not to be mentioned at all;
- it names no surf rating, number or name that the facts do not have;
- it does not recite the facts, the instructions or the question.
Negation is read only where it is plain ("no rain", "isn't sunny"); a sentence with a
negation elsewhere ("won't need an umbrella") must agree whichever way it is read. A
wrongly refused remark costs a template line; a wrongly passed one tells the user a lie.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from enum import StrEnum
import re

from .sentences import split_sentences, word_runs, words


class Topic(StrEnum):
    """What a remark can claim about the weather or the sea."""

    RAIN = "rain"
    SNOW = "snow"
    SUN = "sun"
    CLOUD = "cloud"
    WIND = "wind"
    COLD = "cold"
    WARM = "warm"
    FLAT = "flat"
    BIG = "big"
    GOOD_SURF = "good surf"
    CHOP = "chop"
    GRIM = "grim"


def _set(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Words that claim a topic is so, and words that claim it is not.
CLAIMS: Mapping[Topic, tuple[frozenset[str], frozenset[str]]] = {
    Topic.RAIN: (
        _set(
            "rain rains rainy raining rained drizzle drizzly drizzling shower showers showery "
            "downpour downpours pouring umbrella umbrellas brolly raincoat wellies puddle "
            "puddles storm storms stormy thunder thunderstorm thunderstorms lightning"
        ),
        _set("dry"),
    ),
    Topic.SNOW: (
        _set("snow snowy snowing snowman snowball snowflakes sleet sleety blizzard hail flurries"),
        _set(""),
    ),
    Topic.SUN: (
        _set(
            "sun sunny sunshine sunscreen suncream sunburn sunburnt sunglasses sunbathe "
            "sunbathing tan tanning sunhat rays"
        ),
        _set(""),
    ),
    Topic.CLOUD: (
        _set(
            "cloud clouds cloudy overcast grey gray gloomy gloom dull murky fog foggy mist "
            "misty haze hazy"
        ),
        _set(""),
    ),
    Topic.WIND: (
        _set("windy gale gales gusty gusts blustery blowy breezy howling"),
        _set("calm windless"),
    ),
    Topic.COLD: (
        _set(
            "cold colder chilly chill freezing frosty frost icy nippy baltic parky brr brrr "
            "shiver shivering frozen wintry"
        ),
        _set(""),
    ),
    Topic.WARM: (
        _set(
            "warm warmer warmth hot heat heatwave balmy toasty scorching scorcher boiling "
            "roasting sweltering tropical summery sizzling"
        ),
        _set(""),
    ),
    Topic.FLAT: (_set("flat flatter lake pond millpond ripple ripples bathtub"), _set("")),
    Topic.BIG: (_set("big bigger huge massive monster giant enormous overhead bombs"), _set("")),
    Topic.GOOD_SURF: (
        _set("epic firing pumping cooking cranking shred shredding stoked"),
        _set("rubbish junk crap mush mushy lame"),
    ),
    Topic.CHOP: (
        _set("choppy chop messy onshore bumpy blown"),
        _set("glassy clean offshore smooth"),
    ),
    # Only the gloomy words: "lovely" on a wet day is sarcasm, which is Milo's job.
    Topic.GRIM: (
        _set("nightmare awful terrible dreadful horrible miserable grim rotten bleak disaster"),
        _set(""),
    ),
}
RATINGS = _set("gnarly mid trash")
# What a remark about the sea or the sky talks about, besides the claims above: a sentence
# of a few words with none of these ("Talks in the dark.", "Hey, I did not know that!",
# both said after a surf report) is not a remark on the forecast at all.
SEA_AND_SKY = _set(
    "surf surfs surfing surfer surfers surfboard wave waves board boards sea seas ocean swell "
    "swells paddle paddling wetsuit wetsuits beach beaches strand spot spots session sessions "
    "water tide tides barrel barrels wax wipeout wipeouts sets set break peak lineup shore "
    "weather sky skies out outside outdoors forecast coat jacket hood layers wet soaked soggy "
    "drenched walk day days today tomorrow morning afternoon evening tonight"
)
# A sentence this short may be a plain reaction ("Shocking.", "Send it!").
REACTION_WORDS = 2
# Talk about the talk, not the sea or the sky: "You just forgot to tell me the weather
# forecast.", "Now you've made a joke about rain!", "You have just told me the facts."
ABOUT_THE_TALK = _set(
    "told tell telling forgot forgotten facts fact information question questions joke jokes "
    "confusion sorry apologize apologise user based"
)
NEGATIONS = _set("no not never without nothing zero hardly none nor cannot nae")
# A negation this close before a word negates it ("no rain", "isn't really sunny").
NEGATION_REACH = 2
NUMBER_WORDS = _set(
    "two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty "
    "ninety hundred dozen percent"
)
# Capitalised, but not names: "I", "I'm", "OK".
NOT_NAMES = frozenset({"i", "i'm", "i'd", "i'll", "i've", "ok"})

# Home Assistant's weather conditions, grouped by what they let a remark say.
RAINY = frozenset({"rainy", "pouring", "lightning-rainy", "snowy-rainy", "lightning", "hail"})
SNOWY = frozenset({"snowy", "snowy-rainy", "hail"})
SUNNY = frozenset({"sunny", "partlycloudy"})
CLOUDED = frozenset(
    {"cloudy", "partlycloudy", "fog", "rainy", "pouring", "lightning", "lightning-rainy",
     "snowy", "snowy-rainy", "hail", "windy-variant"}
)  # fmt: skip
WINDY = frozenset({"windy", "windy-variant"})
# Weather that "miserable" may be said of.
GLOOMY = RAINY | SNOWY | {"cloudy", "fog", "windy", "windy-variant", "exceptional"}
# Thresholds in °C, %, km/h and feet: where "cold", "warm", "windy", "flat" and "big" start
# being true, and stop being false. In between, both are fine.
COLD_BELOW, NOT_COLD_FROM = 13.0, 10.0
WARM_FROM, NOT_WARM_BELOW = 17.0, 20.0
RAIN_LIKELY_FROM, DRY_BELOW = 40.0, 50.0
WINDY_FROM, CALM_BELOW = 25.0, 30.0
FLAT_BELOW_FT, NOT_FLAT_FROM_FT = 2.0, 1.5
BIG_FROM_FT, NOT_BIG_BELOW_FT = 4.0, 5.0

# A name: a capitalised word, its possessive "'s" aside.
_NAME = re.compile(r"\b[A-Z][\w']*")


@dataclass(frozen=True, slots=True)
class Truths:
    """What the facts let a remark claim.

    `claims` holds, per topic, the claims that agree with the facts: True for "it is",
    False for "it is not". A topic the facts do not cover is absent: no claim agrees.
    """

    claims: Mapping[Topic, frozenset[bool]]
    ratings: frozenset[str] = frozenset()


def _either(is_so: bool, is_not: bool) -> frozenset[bool]:
    return frozenset(value for value, ok in ((True, is_so), (False, is_not)) if ok)


def weather_truths(
    conditions: Collection[str],
    temperatures_c: Collection[float],
    rain_chance: float | None,
    wind_kmh: float | None,
) -> Truths:
    """What a weather forecast allows: its conditions (now and later), the temperatures
    of the day (not the night's low), the chance of rain and the wind speed."""
    claims: dict[Topic, frozenset[bool]] = {}
    said = set(conditions)
    if said or rain_chance is not None:
        chance = rain_chance if rain_chance is not None else 0.0
        claims[Topic.RAIN] = _either(
            bool(said & RAINY) or chance >= RAIN_LIKELY_FROM,
            not said & RAINY and chance < DRY_BELOW,
        )
    if said:
        wet = bool(said & GLOOMY) or (rain_chance or 0) >= RAIN_LIKELY_FROM
        claims[Topic.GRIM] = _either(wet, True)
        claims[Topic.SNOW] = _either(bool(said & SNOWY), not said & SNOWY)
        claims[Topic.SUN] = _either(bool(said & SUNNY), not said <= {"sunny"})
        claims[Topic.CLOUD] = _either(bool(said & CLOUDED), bool(said & {"sunny", "clear-night"}))
    if temperatures_c:
        low, high = min(temperatures_c), max(temperatures_c)
        claims[Topic.COLD] = _either(low < COLD_BELOW, high >= NOT_COLD_FROM)
        claims[Topic.WARM] = _either(high >= WARM_FROM, low < NOT_WARM_BELOW)
    if wind_kmh is not None or said & WINDY:
        speed = wind_kmh if wind_kmh is not None else 0.0
        claims[Topic.WIND] = _either(
            speed >= WINDY_FROM or bool(said & WINDY), speed < CALM_BELOW and not said & WINDY
        )
    return Truths(claims=claims)


def surf_truths(
    ratings: Collection[str],
    wave_heights_ft: Collection[float],
    winds: Collection[str],
    wind_speeds_kmh: Collection[float],
) -> Truths:
    """What a surf report allows: its ratings, wave heights, wind relative to the beach
    (offshore, cross-offshore, onshore) and wind speeds."""
    claims: dict[Topic, frozenset[bool]] = {}
    if wave_heights_ft:
        highest = max(wave_heights_ft)
        claims[Topic.FLAT] = _either(highest < FLAT_BELOW_FT, highest >= NOT_FLAT_FROM_FT)
        claims[Topic.BIG] = _either(highest >= BIG_FROM_FT, highest < NOT_BIG_BELOW_FT)
    if ratings:
        claims[Topic.GOOD_SURF] = _either(
            "gnarly" in ratings, bool({"mid", "trash"} & set(ratings))
        )
        claims[Topic.GRIM] = _either(bool({"mid", "trash"} & set(ratings)), True)
    if winds:
        claims[Topic.CHOP] = _either(
            "onshore" in winds, bool({"offshore", "cross-offshore"} & set(winds))
        )
    if wind_speeds_kmh:
        claims[Topic.WIND] = _either(
            max(wind_speeds_kmh) >= WINDY_FROM, min(wind_speeds_kmh) < CALM_BELOW
        )
    return Truths(claims=claims, ratings=frozenset(ratings))


def _words(text: str) -> list[str]:
    """The words of a text as `sentences.words` hears them, curly apostrophes and a
    possessive "'s" aside ("isn't" typed with a curly apostrophe, "sun's")."""
    return [word.removesuffix("'s") for word in words(text.replace("\u2019", "'"))]


class RemarkCheck:
    """Judges the sentences of one remark against the facts just said."""

    def __init__(
        self, truths: Truths, facts: str, prompt: str, question: str, names: Collection[str] = ()
    ) -> None:
        """`facts` is the line said; `prompt` the model's instructions; `names` the proper
        names the remark may use besides those in the facts (the persona's own name)."""
        self._truths = truths
        self._recited = word_runs(_words(facts)) | word_runs(_words(prompt))
        self._question = _words(question)
        self._names = {w for text in (facts, *names) for w in _words(text)}

    def fault(self, sentence: str) -> str | None:
        """Why this sentence must not be said, or None when it may."""
        found = _words(sentence)
        if not found:
            return "empty"
        if any(char.isdigit() for char in sentence) or NUMBER_WORDS & set(found):
            return "a number"
        if stray := (RATINGS & set(found)) - self._truths.ratings:
            return f"a rating the facts do not have ({', '.join(sorted(stray))})"
        if name := self._stray_name(sentence):
            return f"a name the facts do not have ({name})"
        if self._recited & word_runs(found) or found == self._question:
            return "a recital of the facts, the instructions or the question"
        for topic, claim in _claims(found):
            allowed = self._truths.claims.get(topic, frozenset())
            if claim is None and allowed != {True, False}:
                return f"an unclear claim about {topic}"
            if claim is not None and claim not in allowed:
                return f"{'' if claim else 'no '}{topic}, against the facts"
        return None

    def about_the_forecast(self, sentence: str) -> bool:
        """Whether the sentence is a reaction of a word or two, or talks about the sea or
        the sky and not about the talk: a tiny model's non sequitur is not a remark on the
        facts."""
        found = _words(sentence)
        if ABOUT_THE_TALK & set(found):
            return False
        if len(found) <= REACTION_WORDS:
            return True
        return any(
            word in SEA_AND_SKY or word in RATINGS or any(word in side for side in sides)
            for word in found
            for sides in CLAIMS.values()
        )

    def _stray_name(self, sentence: str) -> str | None:
        """A capitalised word inside the sentence (not its first) that the facts lack."""
        for part in split_sentences(sentence.strip().replace("\u2019", "'")):
            for match in _NAME.finditer(part):
                name = match.group().removesuffix("'s")
                if match.start() > 0 and name.casefold() not in self._names | NOT_NAMES:
                    return name
        return None


def _claims(found: list[str]) -> list[tuple[Topic, bool | None]]:
    """Each topic mentioned, with its claim: True "is so", False "is not", None unclear."""
    negations = [i for i, word in enumerate(found) if _negates(word)]
    claims: list[tuple[Topic, bool | None]] = []
    for index, word in enumerate(found):
        for topic, (is_so, is_not) in CLAIMS.items():
            if word not in is_so and word not in is_not:
                continue
            claim: bool | None = word in is_so
            if any(index - NEGATION_REACH <= i < index for i in negations):
                claim = None if word in is_not else False
            elif negations:
                claim = None
            claims.append((topic, claim))
    return claims


def _negates(word: str) -> bool:
    return word in NEGATIONS or word.endswith("n't")
