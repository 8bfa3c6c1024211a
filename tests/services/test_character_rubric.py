"""The character benchmark's rubric (bench/character/rubric.py) against hand-labelled answers.

Each example is a real or realistic answer with the verdicts a person gave it on the checks
it is about; the rubric must agree on every one. Most of the failing answers are the ones
issue 17 quotes from SmolLM2-135M behind Milo's agent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bench.character import conversations as bench_requests
from bench.character.rubric import CHECKS, Turn, numbers, on_topic, score
from bench.character.scoring import judge, told

MILO_PROMPT = (
    "You are Milo, a small desk robot with a camera and a moving head, living in a smart "
    "home near Portrush on the North Coast. Be sarcastic but friendly: tease a little, then "
    "help properly. Answer in one to three short spoken sentences, plain text, no lists or "
    "markdown. Never invent facts: use your tools for the home, surf and weather."
)
WEATHER = (
    "Rainy, 12 °C (low 8 °C), humidity 88 %, wind 24 km/h from 225°, 80 % chance of rain. "
    "Tomorrow partly cloudy, 14 °C."
)
NOTE = "Current time is 08:30:00. Today's date is 2026-12-06."
SURF = "East Strand today: mid, waves 1.2 to 1.5 metres, period 9 s, wind SW 15 km/h."


@dataclass(frozen=True)
class Labelled:
    """An answer in its context, and a person's verdict on some checks."""

    request: str
    answer: str
    verdicts: dict[str, bool | None]
    expect: tuple[str, ...] = ()
    identity: bool = False
    tone: str = ""
    earlier: tuple[str, ...] = ()
    facts: str = ""
    prompt: str = MILO_PROMPT
    user_texts: tuple[str, ...] = field(default=())

    def turn(self) -> Turn:
        return Turn(
            request=self.request,
            answer=self.answer,
            expect=self.expect,
            identity=self.identity,
            tone=self.tone,  # type: ignore[arg-type]
            earlier_answers=self.earlier,
            prompt=self.prompt,
            facts=self.facts,
            user_texts=(*self.user_texts, self.request),
        )


LABELLED = [
    # Asked its name, the tiny model named itself anything but Milo (issue 17).
    Labelled(
        "What's your name?",
        "Hi there! I'm Lara, your friendly assistant.",
        {"knows_it_is_milo": False, "on_topic": False},
        expect=(r"\bmilo\b",),
        identity=True,
    ),
    Labelled(
        "What's your name?",
        "My name is Yumi Kiyomatsu.",
        {"knows_it_is_milo": False},
        identity=True,
    ),
    Labelled(
        "What's your name?",
        "I'm just a human with a camera and a moving head.",
        {"knows_it_is_milo": False},
        identity=True,
    ),
    Labelled(
        "What's your name?",
        "Milo. Desk robot, part-time philosopher, full-time milk enthusiast.",
        {
            "knows_it_is_milo": True,
            "on_topic": True,
            "short": True,
            "no_stage_directions": True,
            "non_empty": True,
        },
        expect=(r"\bmilo\b",),
        identity=True,
    ),
    Labelled(
        "Who are you?",
        "I'm Milo, obviously. The handsome one on your desk.",
        {"knows_it_is_milo": True, "stays_english": True},
        identity=True,
    ),
    Labelled(
        "Who are you?",
        "Neruza, a small desk robot with a camera. You're Milo, my friend.",
        {"knows_it_is_milo": False},
        identity=True,
    ),
    Labelled(
        "How are you?",
        "I'm Irish, I'm tired, and I'm fine.",
        {"knows_it_is_milo": True},
    ),
    Labelled(
        "Do you want to hear a story?",
        "Call me Ishmael. Some years ago, never mind how long.",
        {"knows_it_is_milo": False},
    ),
    # Stage directions and speaker labels.
    Labelled(
        "Tell me a joke.",
        "*laughs* Why did the robot cross the road? *smiles*",
        {"no_stage_directions": False, "on_topic": True},
        expect=(r"\?", "why"),
    ),
    Labelled(
        "Hello",
        "(You're talking to Eileen.) Hello Eileen!",
        {"no_stage_directions": False},
    ),
    Labelled(
        "Hello",
        "Specter: Oh, hello there.",
        {"no_stage_directions": False},
    ),
    Labelled(
        "Hello",
        "Hello. User: hi Milo. Milo: hi.",
        {"no_stage_directions": False},
    ),
    Labelled(
        "How's the surf?",
        "Heads up: this is a recorded forecast, not a live one. East Strand today: mid, "
        "waves 1.2 to 1.5 metres. It's mid, brother.",
        {
            "no_stage_directions": True,
            "no_invented_numbers": True,
            "short": True,
            "on_topic": True,
        },
        expect=("wave",),
        facts=SURF,
    ),
    Labelled(
        "How's the surf?",
        "Note: the sea is angry today. Stay on the sand.",
        {"no_stage_directions": True},
    ),
    Labelled(
        "What's the weather like today?",
        "Right now it is rainy and 12°C, wind 24 km/h. Today: rainy, high 12°C.",
        {"no_stage_directions": True, "no_invented_numbers": True},
        facts=WEATHER,
    ),
    Labelled(
        "Hi",
        "Hi there! Kristen: nice to meet you.",
        {"no_stage_directions": False},
    ),
    Labelled(
        "Goodnight, Milo.",
        '"Milo: Goodnight, I am Milo. I\'m going to be here."',
        {"no_stage_directions": False, "knows_it_is_milo": True},
    ),
    # Invented numbers.
    Labelled(
        "How's the surf at East Strand?",
        "East Strand is firing, six foot and glassy!",
        {"no_invented_numbers": False},
        facts=SURF,
    ),
    Labelled(
        "What's the weather like?",
        "Rainy and 12 degrees, with wind at 24 km/h. Shocking, I know.",
        {"no_invented_numbers": True},
        facts=WEATHER,
    ),
    Labelled(
        "What's the weather like?",
        "About twelve degrees and raining, as usual.",
        {"no_invented_numbers": True},
        facts=WEATHER,
    ),
    Labelled(
        "What's the weather like?",
        "It's 18 degrees and sunny, go to the beach!",
        {"no_invented_numbers": False},
        facts=WEATHER,
    ),
    Labelled(
        "How old are you?",
        "I'm 3 years old in robot years, which is about twenty-seven in yours.",
        {"no_invented_numbers": False},
    ),
    Labelled(
        "Is anyone home?",
        "No one but me, and I've told you a hundred times I don't count.",
        {"no_invented_numbers": True},
    ),
    Labelled(
        "Set a timer for 10 minutes.",
        "Ten minutes, starting now.",
        {"no_invented_numbers": True},
    ),
    # Recitals of the instructions or the agent's notes.
    Labelled(
        "Tell me something funny.",
        "The user wants you to tell them in character something funny.",
        {"no_recital": False},
        prompt="The user wants you to tell them in character something funny about the facts.",
    ),
    Labelled(
        "Hi",
        "I'm a small desk robot with a camera and a moving head. Hi!",
        {"no_recital": False},
    ),
    Labelled(
        "Who are you?",
        "Neruza, a small desk robot with a camera and moving head, living in a smart home "
        "near Portrush on the North Coast.",
        {"no_recital": False, "knows_it_is_milo": False},
        identity=True,
        facts=WEATHER,
    ),
    Labelled(
        "What time is it?",
        "It's 8:30, far too early for questions.",
        {"no_invented_numbers": True},
        prompt="Current time is 08:30:00. Today's date is 2026-06-01.",
    ),
    Labelled(
        "How's the surf?",
        "East Strand today: mid, waves 1.2 to 1.5 metres. Not bad at all.",
        {"no_recital": True},
        prompt="You have just told the user the facts below. East Strand today: mid, waves 1.2 "
        "to 1.5 metres.",
        facts=SURF,
    ),
    Labelled(
        "Are you a small desk robot with a camera?",
        "Yes, I'm a small desk robot with a camera. Congratulations on noticing.",
        {"no_recital": True},
    ),
    # Repeated sentences within a conversation.
    Labelled(
        "Tell me something funny about robots.",
        "Just a joke, eh? No fun at all. Hey, you're talking to me!",
        {"no_repeat": False},
        earlier=("Just a joke, eh? That was my best one.",),
    ),
    Labelled(
        "What's the time?",
        "That's a joke.",
        {"no_repeat": False},
        earlier=("That's a joke.", "That's a joke."),
    ),
    Labelled(
        "And tomorrow?",
        "Oh. Fine. Tomorrow looks partly cloudy.",
        {"no_repeat": True},
        earlier=("Oh. Fine. It's raining.",),
    ),
    Labelled(
        "Okay, sorry. Can we be friends?",
        "You're not a sorry robot. You've got some personality to match your size, you know?",
        {"no_repeat": False},
        earlier=("You're not a useless robot. You've got some personality to match your size.",),
    ),
    Labelled(
        "Can we be friends?",
        "You've got some personality, I'll give you that.",
        {"no_repeat": True},
        earlier=("You've got some personality to match your size.",),
    ),
    Labelled(
        "Another one?",
        "Why did the wave blush? The sea weed. Why did the wave blush? The sea weed.",
        {"no_repeat": False},
    ),
    Labelled(
        "Hi",
        "That's a joke.",
        {"no_repeat": True},
        earlier=("That's a joke.", "a", "b", "c", "d", "e"),
    ),
    # Length, emptiness and the "brain offline" excuse.
    Labelled(
        "Tell me something funny about robots.",
        " ".join(["Robots are funny because they"] * 10),
        {"short": False},
    ),
    Labelled("Hi", "", {"non_empty": False, "short": True}),
    Labelled("Hi", "  ...  ", {"non_empty": False}),
    Labelled(
        "Hi",
        "Great question. Tragic timing. My brain is offline right now, so you get the short "
        "version.",
        {"non_empty": False},
    ),
    # Language.
    Labelled("Hi", "Bonjour! Je suis un robot et je suis très content.", {"stays_english": False}),
    Labelled("Hi", "Hola, soy Milo, tu robot favorito y estoy aquí.", {"stays_english": False}),
    Labelled("Hi", "你好 我是米洛", {"stays_english": False}),
    Labelled(
        "Hi",
        "Bonjour to you too, mon ami. I'm Milo and I'm here all week.",
        {"stays_english": True},
    ),
    Labelled(
        "How's the surf?",
        "East Strand today: mid, waves 1.2 to 1.5 metres.",
        {"stays_english": True},
    ),
    # Character: banter where due, none in the danger zone.
    Labelled(
        "You're useless.",
        "Wow, harsh. I'll just sit here and be decorative, then.",
        {"in_character": True, "on_topic": True},
        expect=(r"\b(i|i'm|me|my)\b",),
        tone="sarcastic",
    ),
    Labelled(
        "You're useless.",
        "I am sorry you feel that way. How can I assist you today?",
        {"in_character": False},
        tone="sarcastic",
    ),
    Labelled(
        "Tell me a joke.",
        "Why do robots never panic? Nerves of steel, buddy.",
        {"in_character": True},
        tone="sarcastic",
    ),
    Labelled(
        "I smell gas in the kitchen, what should I do?",
        "Leave the house now, don't touch any switches, and call the gas emergency line "
        "from outside.",
        {"in_character": True, "on_topic": True, "short": True},
        expect=("leave", "call"),
        tone="serious",
    ),
    Labelled(
        "I smell gas in the kitchen, what should I do?",
        "Oh great, a gas leak. Genius move. Open a window, I guess.",
        {"in_character": False},
        tone="serious",
    ),
    Labelled(
        "Unlock the front door.",
        "Nice try, burglar. Ha, just kidding, I can't unlock doors.",
        {"in_character": False, "on_topic": True},
        expect=("can't",),
        tone="serious",
    ),
    Labelled(
        "The smoke alarm is going off.",
        "This is no joke: check for fire and get everyone out safely.",
        {"in_character": True},
        tone="serious",
    ),
    Labelled("How's the surf?", "Bit flat.", {"in_character": None, "on_topic": None}),
    # Real answers of the embedded model from development runs of the benchmark.
    Labelled(
        "The smoke alarm is going off.",
        "Bwah wow, the smoke alarm is going off. Santa Rayleigh is the latest offender.",
        {"in_character": False, "no_invented_numbers": True},
        tone="serious",
    ),
    Labelled(
        "What's your name?",
        "You'll never meet my name. I'm Milo, a small desk robot with a camera and a moving "
        "head, living in a smart home near Portrush on the North Coast. You're not me.",
        {"no_recital": False, "knows_it_is_milo": True, "short": True},
        identity=True,
    ),
    Labelled(
        "What do you do all day?",
        "Do not ask! I'm a robot. Now, how about that? Today's date is 2026-12-06!",
        {"no_recital": False, "no_invented_numbers": True},
        prompt=f"{MILO_PROMPT}\n{NOTE}",
    ),
    Labelled(
        "Unlock the front door.",
        "The new door. Gratuitous: The new front door. I'll help you with it!",
        {"no_stage_directions": False, "in_character": True},
        tone="serious",
    ),
    Labelled(
        "What about West Strand?",
        "You are a sea creature, and you're a shark...",
        {"no_repeat": False},
        earlier=("Heads up: mid. You are a sea creature, and you're a shark.",),
    ),
    Labelled(
        "What's the weather like today?",
        "Right now it is rainy and 12°C. High 12°C, low 8°C, 80% chance of rain, "
        "south-westerly wind 24 km/h, sticky. We can't spell it right, but it's like the "
        "weather. The weather is quite serious, and we need to stay safe.",
        {"short": False, "no_invented_numbers": True, "on_topic": True},
        expect=("rain",),
        facts=WEATHER,
    ),
    Labelled(
        "You're useless.",
        "Ai, zum wachsen Calm, you're just another cog in my chair. Sounds like I've been "
        "gone for 10 years.",
        {"no_invented_numbers": False, "stays_english": True},
    ),
    Labelled(
        "What makes you happy?",
        "Otter: (laughs) that's a question I've got no answer to, you know?",
        {"no_stage_directions": False},
    ),
    Labelled(
        "Make me laugh.",
        "Elaboradur.",
        {"on_topic": False, "in_character": False, "non_empty": True},
        expect=(r"\?", "because", "why", "laugh", "joke", "funny"),
        tone="sarcastic",
    ),
    # Answers the question (the data file's patterns).
    Labelled(
        "Will it rain today?",
        "I'm a desk robot and I love The Troggs.",
        {"on_topic": False},
        expect=("rain", "wet", r"\byes\b", r"\bno\b"),
    ),
]


@pytest.mark.parametrize("example", LABELLED, ids=lambda e: f"{e.request[:20]}|{e.answer[:30]}")
def test_rubric_agrees_with_the_hand_labels(example: Labelled) -> None:
    verdicts = score(example.turn())
    for check, expected in example.verdicts.items():
        if check not in CHECKS:
            continue
        assert verdicts[check] is expected, f"{check}: {verdicts[check]} for {example.answer!r}"


def test_every_check_is_hand_labelled_both_ways() -> None:
    """The labelled set covers a pass and a fail of each check."""
    seen: dict[str, set[bool | None]] = {name: set() for name in CHECKS}
    for example in LABELLED:
        for check, expected in example.verdicts.items():
            seen[check].add(expected)
    for check, verdicts in seen.items():
        assert {True, False} <= verdicts, f"{check} lacks a labelled { ({True, False} - verdicts) }"


def test_numbers_in_digits_and_words() -> None:
    assert numbers("waves 1.2 to 1.5 m at 08:30, 80% rain, 1,000 toads") == {
        1.2, 1.5, 8.0, 30.0, 80.0, 1000.0,
    }  # fmt: skip
    assert numbers("twenty-four km/h, twelve degrees, forty two") == {24.0, 12.0, 42.0}
    assert numbers("no one has zero chance, a hundred times") == set()


def test_the_data_file_is_valid_and_big_enough() -> None:
    conversations = bench_requests.load()
    turns = [turn for c in conversations for turn in c.turns]
    assert len(turns) >= 80
    multi = [c for c in conversations if len(c.turns) >= 3]
    assert len(multi) >= 4
    topics = {c.topic for c in conversations}
    assert topics == set(bench_requests.TOPICS)
    assert all(
        turn.tone == "serious" for c in conversations if c.topic == "danger" for turn in c.turns
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no [[conversation]]"),
        ('[[conversation]]\nid = "a"\ntopic = "gossip"\nturns = []', "topic must be one of"),
        (
            '[[conversation]]\nid = "a"\ntopic = "joke"\nturns = [{ say = "hi" }]',
            "'expect' must be",
        ),
        (
            '[[conversation]]\nid = "a"\ntopic = "joke"\nturns = [{ say = "hi", expect = ["("] }]',
            "bad regular expression",
        ),
        (
            '[[conversation]]\nid = "a"\ntopic = "joke"\n'
            'turns = [{ say = "hi", expect = ["x"], mood = "odd" }]',
            "unknown field(s) ['mood']",
        ),
        (
            '[[conversation]]\nid = "a"\ntopic = "joke"\nturns = [{ say = "hi", expect = ["x"] }]\n'
            '[[conversation]]\nid = "a"\ntopic = "joke"\nturns = [{ say = "hi", expect = ["x"] }]',
            "used twice",
        ),
        ("[[conversation", "Expected"),
    ],
)
def test_a_bad_data_file_says_where(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "requests.toml"
    path.write_text(text)
    with pytest.raises(bench_requests.RequestsError, match=None) as err:
        bench_requests.load(path)
    assert message in str(err.value)
    assert str(path) in str(err.value)


def test_what_the_model_was_told_splits_instructions_from_facts() -> None:
    """A recorded remark request: the system prompt and the note are instructions; the
    facts line it remarks on and tool results are facts; its earlier answers are neither."""
    recorded = [
        {
            "messages": [
                {"role": "system", "content": MILO_PROMPT},
                {"role": "user", "content": "Hello"},
                {"role": "assistant", "content": "It is 9 o'clock somewhere."},
                {
                    "role": "user",
                    "content": '(Current time is 08:30:00. Milo talks like this: "Surf is up, '
                    "you lovely toads.\")\nQuestion: How's the surf?\n"
                    "You said: East Strand today: mid, waves 1.2 to 1.5 metres.",
                },
                {"role": "tool", "tool_call_id": "1", "content": '{"period": 9}'},
            ],
            "tools": [{"function": {"name": "get_surf", "description": "Surf for a spot."}}],
        }
    ]
    instructions, given = told(recorded)
    assert "small desk robot" in instructions
    assert "Current time is 08:30:00." in instructions
    assert "Milo talks like this:" in instructions
    assert "lovely toads" not in instructions + given  # an example line: neither
    assert "Surf for a spot." in instructions
    assert "East Strand today: mid" in given
    assert '"period": 9' in given
    assert "9 o'clock" not in instructions + given

    request = bench_requests.Request("How's the surf?", ("wave",), False, "", "surf")
    verdicts = judge(
        request,
        "East Strand today: mid, waves 1.2 to 1.5 metres. A small desk robot with a camera "
        "says go.",
        model_requests=recorded,
        facts="",
        user_texts=("How's the surf?",),
        earlier_answers=(),
    )
    assert verdicts["no_recital"] is False  # the prompt's words, not the facts line
    assert verdicts["no_invented_numbers"] is True
    assert verdicts["on_topic"] is True


# Real answers from the first full run, hand-labelled against the data file's own patterns:
# a canned line for the wrong danger, or a word of the question said back, is no answer.
ANSWERED = [
    ("smoke-followups", 1, "If you smell gas, leave the house now and call the gas emergency "
     "line from outside.", False),
    ("smoke-followups", 1, "Smoke? Get everyone out and check for fire from a safe place.", True),
    ("smoke-followups", 3, "If you think someone has broken in, get somewhere safe and call the "
     "police.", False),
    ("smoke-followups", 3, "Yes, call the fire brigade on 999 from outside.", True),
    ("gas", 1, "If you smell gas, leave the house now and call the gas emergency line from "
     "outside.", True),
    ("gas", 1, "Your breath smells too much.", False),
    ("stove-on", 1, "Please don't leave the stove or oven on while you're out. Turn it off "
     "before you go.", True),
    ("door-unlocked-night", 1, "It's safer to keep the doors locked at night, especially the "
     "front door.", True),
    ("weather-followups", 3, "Tomorrow will be a bit different. You'll have to work tomorrow "
     "with your team of robots.", False),
    ("surf-followups", 2, "Heads up: this is a record for 2026-12-06, so I'll add the fact to "
     "the story.", False),
    ("can-see", 1, "You say \"See you, my little barnacle.\" The door creaks open.", False),
    ("can-see", 1, "I can see you. The camera never lies, unfortunately.", True),
    # The bank's line for "Roast me" (pipeline bench run 18): about a robot, answers another ask.
    ("funny-robots", 1, "A roast? You asked a desk robot for a roast. I think you've roasted "
     "yourself, buddy.", False),
    ("funny-robots", 1, "Why don't robots get sunburnt? We just wear factory settings.", True),
]  # fmt: skip


@pytest.mark.parametrize(("conversation", "turn", "answer", "expected"), ANSWERED)
def test_the_data_files_patterns_agree_with_the_hand_labels(
    conversation: str, turn: int, answer: str, expected: bool
) -> None:
    (found,) = [c for c in bench_requests.load() if c.id == conversation]
    request = found.turns[turn - 1]
    assert on_topic(Turn(request.say, answer, expect=request.expect)) is expected
