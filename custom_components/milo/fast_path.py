"""Recognise Milo's own questions in plain text, without a model.

The embedded model is tiny and unreliable at calling tools, so surf, weather, the two
easter eggs, the original robot's tricks (dance, drop a beat, disco biscuits), jokes asked
for, insults aimed at Milo, and questions about Milo itself (what its camera sees, its
favourites and friends, something to do when bored) are spotted here with word rules, like
the original robot did; their tools run directly, or the line bank answers.
The rules stand back for requests about the home (a device, list or area is named, a
device command, an indoor temperature): those are for Home Assistant's intents or the
model with the Assist tools.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
import re
from typing import Literal

from .home_names import NO_NAMES, HomeNames

Trick = Literal["dance", "beat", "disco"]
Kind = Literal[
    "surf", "weather", "milk", "troggs", "notes", "joke", "comeback", "greeting", "goodbye",
    "see", "bored", "favourite", "favourite_why", "be_friends", Trick,
]  # fmt: skip

# Whole words only: "Surface lamp", "Shredder" and "Milk frother" are not surf or milk.
# "ways like": how whisper tiny.en often hears "what are the waves like".
_SURF = re.compile(
    r"\b(surf(s|ing|in|er|ers|able|board|boards|y)?|serf(s|ing|in)?|waves|swells?|barrels?|"
    r"shred(s|ding|din)?|paddl(e|ing) out|boards? out|good session|ways like)\b"
)
_WEATHER = re.compile(
    r"\b(weather|forecast|rain(s|ing|y|fall)?|sunny|sunshine|temperature|umbrella|"
    r"how (hot|cold|warm|windy)|is it (hot|cold|warm|windy|wet)|snow(s|ing|y|fall)?|jacket|coat|"
    r"brolly)\b"
    r"|\b(good|nice|bad|decent) day for\b.*\b(walk|run|outside|out|picnic|barbecue|bbq|washing)\b"
)
_MILK = re.compile(r"\bmilk(s|y|shakes?)?\b")
# "What did I write about fins?", "search my notes for Portugal": the user's notes
# (notes_search.py), about the topic that follows. "right": whisper's "write".
_NOTES = re.compile(
    r"\b(what (did|have|had) i (wr[io]te|written|right|noted?|jotted|jot)( down)?"
    r"|what i (wrote|written|noted|jotted)( down)?"
    r"|(in|from|search|check|through) my notes"
    r"|my notes (say|said|have|got))\b"
    r"( (anything|something))?( (about|on|regarding|concerning|for|of))?(?P<topic>.*)$"
)
_TROGGS = re.compile(r"\btrogg?s?\b")
# Milo's tricks, asked for outright ("Dance!", "Milo, get jiggy", "can you drop a beat"):
# the whole sentence is the request, so "I went to a dance" or "what's your favourite
# dance" stay small talk. A command ("play dance music") or a name ("the Beat box") is the
# home's, as for every kind. "Disco biscuits" is a catchphrase wherever it is said.
_ASK = (
    r"^((hey|ok|okay|oi|yo|right|come on|go on|now|so|milo)\s+)*"
    r"((can|could|would|will|wanna) (you|u)\s+|please\s+|let'?s\s+|let us\s+|time to\s+|"
    r"i want (you )?to\s+|show (me|us) (how )?you\s+)*"
)
_THEN = (
    r"(\s+(with me|with us|with it|for me|for us|again|now|right now|please|milo|then|"
    r"a bit|a wee bit|already))*$"
)
_TRICKS: dict[Trick, re.Pattern[str]] = {
    "dance": re.compile(
        _ASK + r"(dance|boogie|bop|groove|get (jiggy|down|funky|your groove on)|bust a move|"
        r"throw (some )?shapes|show (me|us) (your|some) (dance )?moves|"
        r"(do|have|give (me|us)) (a|the|a little|a wee|your|us a|me a) (dance|boogie|bop))" + _THEN
    ),
    "beat": re.compile(
        _ASK + r"(drop|lay down|give (me|us)|hit (me|us) with|spit) "
        r"(a|the|some|us a|me a|a sick|a phat|a fat|a wee|a little) (beat|beats|bars)" + _THEN
    ),
    "disco": re.compile(r"\bdisco biscuits?\b"),
}
# A device command ("turn on the snow globe", "could you play some surf rock") or a list
# ("add milk to my list") is for the home even when the device or list isn't exposed.
_HOME_REQUEST = re.compile(
    r"^((hey |ok |okay )?milo |please |(can|could|would|will) (you|u) )*"
    r"(turn|switch|add|put|remove|delete|set|open|close|lock|unlock|start|stop|pause|resume|"
    r"play|dim|brighten|activate|run|toggle|cancel)\b"
    r"|\b(my|the|a) (\w+ )?lists?\b"
)
# Indoors, a temperature is the thermostat's or a sensor's, never the outdoor forecast.
_INDOORS = re.compile(
    r"\b(inside|indoors|in here|in the house|upstairs|downstairs|rooms?|kitchen|bedroom|"
    r"bathroom|lounge|hall|hallway|landing|office|study|garage|attic|loft|basement|cellar|"
    r"nursery|conservatory|thermostat|heating|heater|radiator|air ?con\w*)\b"
)
# "Know any surfing jokes?" asks for a joke, not the forecast: small talk for the model (the
# milk and Troggs eggs still answer their jokes).
_PLAY = re.compile(r"\b(jokes?|funny|puns?|riddles?|story|stories|poems?|songs?|limericks?|rap)\b")
# A joke asked for ("tell me a joke", "know any surfing jokes?", "make me laugh", "roast me"),
# said from the bank: the tiny model's own were "That's a joke." six times in a row. Not the
# user offering one ("I know a joke", "did you hear the one...").
_JOKE = re.compile(
    r"^(?!(i (know|have|got|heard|made)|i've (got|heard)|let me tell|here's|here is|did you hear|"
    r"have you heard)\b).*("
    r"\b(tell|give|got|know|have|share|say|crack|hit me with|want|hear|do)\b.*"
    r"\b(jokes?|puns?|riddles?|one-liners?|funny|funnier|sarcastic|witty)\b"
    r"|\b(how|what) about\b.*\b(jokes?|puns?|riddles?)\b"
    r"|\bmake me (laugh|smile|giggle)\b|\broast me\b|\bbe funny\b|\bfunniest thing\b"
    r"|^((a|another|one more|any) )?(good |funny )?(jokes?|puns?)$)"
)
# "Another one!" after a joke asks for another joke.
_ANOTHER = re.compile(
    r"^((and|ok|okay|go on|come on|right|ha|haha|lol|nice|good one) )*"
    r"((tell me |give me |do |got )?(another|one more|more|again|another one|a better one|"
    r"a funnier one)|encore|hit me again)"
    r"( one)?( please| then| milo)*$"
)
# Insults aimed at Milo ("You're useless", "Even my kettle is funnier than you", "Shut up"):
# a comeback from the bank; the tiny model answered them meekly or not at all.
_PUT_DOWN = (
    r"(useless|stupid|dumb|dumbest|idiot|idiotic|rubbish|terrible|awful|pathetic|boring|"
    r"annoying|lame|broken|slow|worst|ugly|thick|hopeless|toaster|tin can|a joke|"
    r"not (very )?(funny|smart|clever|helpful))"
)
_INSULT = re.compile(
    r"\byou(?:'re| are| r|r)(?: (?:so|such|just|really|completely|totally|utterly|the|a|an|"
    rf"pretty|very|kind of|bit of a|actually|literally))* {_PUT_DOWN}\b"
    r"|\b(?:are|why are|why're) you (?:so |such |being |just |really )*(?:\w+ or (?:just )?)?"
    rf"{_PUT_DOWN}\b"
    r"|\byour (?:jokes?|puns?|answers?|voice|face) (?:are|is|were|was) (?:so |really |just )?"
    rf"{_PUT_DOWN}\b"
    r"|\b(?:smarter|funnier|cleverer|better|faster|quicker|more useful) than you\b"
    r"|\b(?:nobody|no one|no-one) (?:likes|loves|wants|needs) you\b"
    r"|\bi (?:hate|can't stand) you\b|\byou suck\b|\bshut (?:up|it)\b"
)
# A hello or a goodbye and nothing else ("Good morning!", "Thanks, bye!"): the bank's; the
# tiny model answered "Good morning!" with "YAY!" and "Goodnight" with a film plot.
_GREETING = re.compile(
    r"^((hey|hi|hiya|hello|howdy|yo|morning|good (morning|afternoon|evening)|bout ye)"
    r"( there| again| you)?( milo)? ?)+$"
)
_GOODBYE = re.compile(
    r"^((thanks|thank you|cheers|ok|okay|right|well|anyway)( milo)? )*"
    r"(bye|goodbye|bye bye|bye for now|goodnight|good night|night night|night|"
    r"see you( later| soon| tomorrow)?|see ya|later|cheerio|ciao|i'm off|i'm off to bed)"
    r"( now| then| milo| for now| for today)*$"
)
# "Can you see me?", "Who's there?", "Do you know who I am?": the whole sentence asks what
# the camera of the Milo that heard it sees (the answer says who, or why it can't).
_SEE = re.compile(
    r"^((hey|ok|okay|so|oi|well|right|and|but|milo)\s+)*("
    r"(can|could) (you|u) (see|spot) (me|us|anyone|anybody|someone|somebody|who'?s (here|there))"
    r"|(do|did) (you|u) (see|recogni[sz]e|know|remember) "
    r"(me|us|who i am|who this is|who'?s (here|there|talking))"
    r"|(you|u) know who (i am|this is)|who am i"
    r"|who('s| is) (there|here|that|this|talking|in the room)"
    r"|(who|what) (do|can) (you|u) see"
    r"|(is|are) (anyone|anybody|someone|somebody) (there|here|in the room)"
    r"|are (you|u) (looking at|watching) me"
    r")( (now|right now|at the moment|milo|then|today|properly))*$"
)
# "I'm bored. Any ideas?": something to do, from the bank. Only boredom said outright:
# "What should I do?" alone may follow a danger-zone question, "I'm bored of this lamp"
# is about the lamp.
_BORED = re.compile(
    r"^((oh|ugh|god|man|so|well|honestly|hey|right|ok|okay|milo)\s+)*("
    r"((i'?m|i am|i feel|i'm feeling|feeling|getting) )?"
    r"(so |soo+ |still |really |very |just |dead |totally |a bit |a wee bit |kind of |kinda |"
    r"super |pretty |quite |bored )*bored"
    r"( stiff| silly| to death| to tears| out of my (mind|skull|tree))?"
    r"|i('ve| have|'ve got| have got| got) nothing to do|there's nothing to do|"
    r"entertain me|amuse me|i need something to do|give me something to do)"
    r"( (milo|now|again|today|then|here|any ideas|got any ideas|ideas|any suggestions|"
    r"suggestions|please|help( me)?|what now|entertain me|amuse me|"
    r"what (should|can|could|shall|do) i do( now| today| then)?))*$"
)
# "What's your favourite band?", "Which food do you like best?", "Who are your friends?":
# the persona's own favourites, from the bank, by subject (line_bank.FAVOURITE_SUBJECTS).
# A subject Milo has no lines for ("your favourite lamp") is left to the model.
_FAVOURITE = re.compile(
    r"^((so|and|ok|okay|hey|well|milo)\s+)*("
    r"(what'?s|what is|what are|what're|who'?s|who is|who are|who're|which is|which'?s|"
    r"name|tell me) (your|ur) (very )?(fav(ou?rite)?|fave|best|number one|top) (?P<what>.+?)"
    r"|(do|have) (you|u) (have|got) (a|any) (fav(ou?rite)?|fave) (?P<had>.+?)"
    r"|(what|which) (?P<liked>.+?) do (you|u) (like|love|prefer|rate)( (best|most|the most))?"
    r"|(who are|who're|who'?s) (your|ur) (?P<friends>friends|mates|pals|buddies|best mates?)"
    r"|(do|have) (you|u) (have|got) (any )?(?P<any>friends|mates|pals|buddies)"
    r"|(what are|what're|what'?s|what is) (your|ur) (?P<hobby>hobbies|hobby|pastimes?)"
    r"|(do|have) (you|u) (have|got) (any |a )?(?P<hobbies>hobbies|hobby|pastimes?)"
    r")( (then|milo|of all|ever|of all time|in the world|at all|please))*$"
)
_SUBJECTS = tuple(
    (subject, re.compile(pattern))
    for subject, pattern in (
        ("shop", r"(surf )?(shop|store)s?"),
        ("spot", r"(surf(ing)? )?(spot|break|beach|wave|strand)s?|place( to surf)?|places"),
        ("band", r"(band|group|singer|artist|musician)s?"),
        ("music", r"music|(kind|type|sort) of music|(song|tune|album|track|genre)s?"),
        ("food", r"food|thing to eat|(meal|dinner|lunch|snack|biscuit|dish|treat|dessert)s?"),
        ("drink", r"(drink|beverage)s?|thing to drink"),
        ("colour", r"colou?rs?"),
        ("film", r"(film|movie|tv show|show|programme)s?"),
        ("animal", r"(animal|pet|creature|sea creature|bird)s?"),
        ("friends", r"(friend|mate|buddy|pal|human|person)s?"),
    )
)
# "Okay, sorry. Can we be friends?"
_BE_FRIENDS = re.compile(
    r"\b((can|could|shall|should) we be|(will|would) (you|u) be my|be my|are we( still)?|"
    r"let'?s be|we('re| are)) (friends|mates|pals|buddies|friend|mate|pal|buddy)"
    r"( (again|then|now|milo|please|yeah|right|okay|ok))*$"
)
# "Why them?" after a favourite: the reason for it.
_WHY = re.compile(
    r"^((and|so|but|ok|okay|oh|hmm|really) )*"
    r"(why|how come|why's that|why is that|what for|"
    r"why (them|that|those|it|that one|them ones|so|not)|"
    r"what's so (good|great|special) about (them|it|that|those))"
    r"( (then|though|milo|exactly))*$"
)
_TOMORROW = re.compile(r"\b(tomorrow|tommorow|tomorow|tmrw|tmr|the morrow)\b")
_TODAY = re.compile(r"\b(today|now|later|tonight|this (morning|afternoon|evening))\b")
# "And tomorrow?", "What about West Strand?": a follow-up names only a day or a spot, and
# asks the previous question again about it.
_FOLLOW_UP = re.compile(r"^((and|so|but|ok|okay) )?((what|how) about )?(?P<rest>.*?)( then)?$")
_DAY_WORDS = frozenset({
    "tomorrow", "tommorow", "tomorow", "tmrw", "tmr", "morrow", "today", "now", "later",
    "tonight", "this", "morning", "afternoon", "evening", "for", "on", "the",
})  # fmt: skip
_COMPASS = {"east": "East Strand", "west": "West Strand"}
# Words too common to identify a spot on their own.
_STOP_WORDS = {"the", "beach", "bay", "point", "strand", "at", "of"}


@dataclass(frozen=True, slots=True)
class FastIntent:
    """What the text asks for: the kind, for surf/weather the day and spot, for notes the
    topic, for a favourite its subject (line_bank.FAVOURITE_SUBJECTS)."""

    kind: Kind
    day: Literal["today", "tomorrow"] = "today"
    spot: str | None = None
    topic: str | None = None


def recognise(
    text: str,
    spot_names: Iterable[str],
    home: HomeNames = NO_NAMES,
    previous: FastIntent | None = None,
) -> FastIntent | None:
    """Return the fast-path intent of `text`, or None to leave it to HA's intents or the
    model: always when it names one of the `home`'s devices, lists or places.

    `previous` is what the conversation's previous turn asked: a follow-up that names only
    a day or a spot ("And tomorrow?") asks for the same again (`follow_up`).
    """
    lowered = _lowered(text)
    # "What did I write about the garage door": the notes, even when it names the home.
    if topic := _notes_topic(lowered):
        return FastIntent("notes", topic=topic)
    if _HOME_REQUEST.search(lowered) or home.named_in(lowered):
        return None
    for trick, pattern in _TRICKS.items():
        if pattern.search(lowered):
            return FastIntent(trick)
    if banter := _banter(lowered, previous) or _about_milo(lowered, previous):
        return banter
    day: Literal["today", "tomorrow"] = "tomorrow" if _TOMORROW.search(lowered) else "today"
    spot = _find_spot(lowered, list(spot_names))
    if previous is not None and (again := follow_up(lowered, spot, previous)):
        return again
    if not _PLAY.search(lowered):
        if _SURF.search(lowered) or (spot and _asks_about_conditions(lowered)):
            return FastIntent("surf", day, spot)
        if _WEATHER.search(lowered):
            return None if indoors(lowered) else FastIntent("weather", day)
    if _MILK.search(lowered):
        return FastIntent("milk")
    if _TROGGS.search(lowered):
        return FastIntent("troggs")
    return FastIntent("joke") if asks_joke(lowered) else None


def _banter(lowered: str, previous: FastIntent | None) -> FastIntent | None:
    """A comeback to an insult aimed at Milo, a hello or a goodbye, or another joke after
    one ("One more!")."""
    if _INSULT.search(lowered):
        return FastIntent("comeback")
    if _GREETING.match(lowered):
        return FastIntent("greeting")
    if _GOODBYE.match(lowered):
        return FastIntent("goodbye")
    if previous is not None and previous.kind == "joke" and _ANOTHER.match(lowered):
        return FastIntent("joke")
    return None


def _about_milo(lowered: str, previous: FastIntent | None) -> FastIntent | None:
    """What Milo sees, something to do when bored, its favourites and friends, and the
    reason for a favourite just named ("Why them?")."""
    if _SEE.match(lowered):
        return FastIntent("see")
    if _BORED.match(lowered):
        return FastIntent("bored")
    if _BE_FRIENDS.search(lowered):
        return FastIntent("be_friends")
    if (
        previous is not None
        and previous.kind in ("favourite", "favourite_why")
        and _WHY.match(lowered)
    ):
        return FastIntent("favourite_why", topic=previous.topic)
    if (match := _FAVOURITE.match(lowered)) is None:
        return None
    if match["friends"] or match["any"]:
        return FastIntent("favourite", topic="friends")
    if match["hobby"] or match["hobbies"]:
        return FastIntent("favourite", topic="hobby")
    what = match["what"] or match["had"] or match["liked"]
    subject = next((name for name, pattern in _SUBJECTS if pattern.fullmatch(what)), None)
    return FastIntent("favourite", topic=subject) if subject else None


def follow_up(lowered: str, spot: str | None, previous: FastIntent) -> FastIntent | None:
    """The surf or weather question `previous` asked again for the day or spot named in
    `lowered` (a spot makes it about surf), or None when it names anything else."""
    match = _FOLLOW_UP.match(lowered)
    if previous.kind not in ("surf", "weather") or match is None or not match["rest"]:
        return None
    named = set(match["rest"].split()) - _DAY_WORDS
    if spot:
        named -= {*spot.casefold().split(), *_COMPASS, *_STOP_WORDS}
    if named:
        return None
    day: Literal["today", "tomorrow"] = previous.day
    if _TOMORROW.search(lowered):
        day = "tomorrow"
    elif _TODAY.search(lowered):
        day = "today"
    if spot:
        return FastIntent("surf", day, spot)
    return FastIntent(previous.kind, day, previous.spot)


def asks_joke(text: str) -> bool:
    """Whether `text` asks Milo for a joke."""
    return bool(_JOKE.search(_lowered(text)))


def asks_notes(text: str) -> bool:
    """Whether `text` asks what the user's notes say about something."""
    return _notes_topic(_lowered(text)) is not None


def _notes_topic(lowered: str) -> str | None:
    """What a notes question asks about; None for a command that mentions the notes ("put
    fins in my notes") or a question with no topic."""
    notes = _NOTES.search(lowered)
    if notes is None or _HOME_REQUEST.match(lowered):
        return None
    return notes["topic"].strip() or None


def indoors(text: str) -> bool:
    """Whether `text` is about a place inside ("in the kitchen", "upstairs", the thermostat),
    whose temperature is a sensor's or the thermostat's, not the forecast's."""
    return bool(_INDOORS.search(_lowered(text)))


def _lowered(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s'-]", " ", text.casefold()).split())


def _find_spot(text: str, spot_names: list[str]) -> str | None:
    """Find a configured spot by full name, a distinctive word, or east/west."""
    for name in spot_names:
        if name.casefold() in text:
            return name
    words = set(re.findall(r"[\w'-]+", text))
    for name in spot_names:
        distinctive = set(name.casefold().split()) - _STOP_WORDS
        if distinctive and distinctive <= words:
            return name
    for word, name in _COMPASS.items():
        if word in words and name in spot_names:
            return name
    return None


def _asks_about_conditions(text: str) -> bool:
    """'How's West Strand looking?', 'Is West Strand any good?': surf without the word."""
    return bool(
        re.search(r"\b(how|what)('s| is| are)?\b.*\b(look\w*|like|doing)\b", text)
        or re.search(r"\b(any good|worth (it|going)|pumping|firing|flat)\b", text)
    )
