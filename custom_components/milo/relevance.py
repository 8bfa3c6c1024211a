"""Which tools a request needs, judged from its words.

Every tool offered costs prompt tokens, and on a small CPU prompt tokens are the latency
(about 4 ms each with the embedded model), while a tiny model offered tools it does not
need tends to call them. So each request gets only the tools its words point at: words of
the tool's name, description, parameters and keywords, and the exposed entities it names
("the desk lamp" is a light, so tools that control lights). Small talk points at none.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
import json
import re
from typing import Any

# Words that say nothing about which tool is wanted: grammar, chit-chat, and verbs every
# request uses. "on"/"off" are here too ("what's going on"); "turn" and the device's name
# carry "turn on the lamp".
STOPWORDS = frozenset(
    """
    a about above after again all am an and any are around as at be because been before
    being below between both but by can could did do does doing down during each few for
    from further had has have having he her here hers herself him himself his how i if in
    into is it its itself just let me more most my myself no nor not now of off on once
    only or other our ours out over own same she should so some such than that the their
    them then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself
    hi hello hey hiya thanks thank please ok okay yes yeah sure well oh really maybe
    today tomorrow tonight morning evening day time now
    get got give tell make made want need like know think say said go going come
    use used using set
    milo robot buddy home assistant hass homeassistant intent llm
    """.split()  # noqa: SIM905
)
# A tool is sent when its score reaches this: one word of its name or keywords, one
# named device it can control, or two words of its description.
THRESHOLD = 2
NAME_WEIGHT = 2
DOMAIN_WEIGHT = 2


def words(text: str) -> set[str]:
    """The content words of a text, lowercased and crudely stemmed ("lights" -> "light")."""
    text = re.sub(r"([a-z])([A-Z])", r"\1 \2", text)  # HassTurnOn -> Hass Turn On
    return {_stem(word) for word in re.findall(r"[a-z]+", text.lower())} - STOPWORDS


def _stem(word: str) -> str:
    if len(word) > 5 and word.endswith("ing"):
        return word[:-3]
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


@dataclass(frozen=True, slots=True)
class Device:
    """An exposed entity as the request might name it."""

    words: frozenset[str]
    domain: str
    label: str
    """How the prompt names it: "Desk lamp (light, in Office)"."""
    areas: frozenset[str] = frozenset()
    """Its area's name and aliases."""


def devices(exposed: Mapping[str, Mapping[str, Any]]) -> list[Device]:
    """Exposed entities (HA's Assist overview: names, aliases, areas) as word sets."""
    found = []
    for entity_id, info in exposed.items():
        names, areas = str(info.get("names", "")), str(info.get("areas", ""))
        domain = str(info.get("domain") or entity_id.partition(".")[0])
        where = f", in {areas}" if areas else ""
        found.append(
            Device(
                words=frozenset(words(f"{names} {areas}")),
                domain=domain,
                label=f"{names} ({domain}{where})",
                areas=frozenset(areas.split(", ")) - {""},
            )
        )
    return found


@dataclass(frozen=True, slots=True)
class ToolWords:
    """What a tool is about: the words of its name and keywords, and all its other words."""

    name: frozenset[str]
    other: frozenset[str]
    # Controls entities of any domain (a `domain` parameter without a fixed list).
    any_domain: bool

    @classmethod
    def of(cls, spec: Mapping[str, Any], keywords: Iterable[str] = ()) -> ToolWords:
        """Read an OpenAI-format tool (`{"type": "function", "function": {...}}`)."""
        function = spec.get("function", spec)
        name = words(str(function.get("name", "")).replace("_", " ")) | {
            word for keyword in keywords for word in words(keyword)
        }
        parameters = function.get("parameters") or {}
        domain = (parameters.get("properties") or {}).get("domain")
        return cls(
            name=frozenset(name),
            other=frozenset(
                words(" ".join([str(function.get("description", "")), *_schema_text(parameters)]))
            ),
            any_domain=domain is not None and "enum" not in json.dumps(domain),
        )

    def serves(self, domain: str) -> bool:
        """Whether the tool mentions this entity domain (HassLightSet: "light")."""
        return self.any_domain or words(domain.replace("_", " ")) <= self.name | self.other


def _schema_text(schema: Any) -> Iterable[str]:
    """Property names, descriptions and allowed values of a JSON schema, not its keywords."""
    if isinstance(schema, list):
        for item in schema:
            yield from _schema_text(item)
    if not isinstance(schema, dict):
        return
    for name, value in (schema.get("properties") or {}).items():
        yield str(name).replace("_", " ")
        yield from _schema_text(value)
    if isinstance(schema.get("description"), str):
        yield schema["description"]
    for value in schema.get("enum") or ():
        yield str(value).replace("_", " ")
    for key in ("items", "anyOf", "oneOf", "allOf"):
        yield from _schema_text(schema.get(key))


def score(request: set[str], tool: ToolWords, named_domains: set[str]) -> int:
    """How strongly the request's words point at the tool."""
    value = NAME_WEIGHT * len(request & tool.name) + len(request & (tool.other - tool.name))
    if any(tool.serves(domain) for domain in named_domains):
        value += DOMAIN_WEIGHT
    return value


def named_devices(
    request: set[str], known: Sequence[Device], here: str | None = None
) -> list[Device]:
    """The exposed entities a request names by a word of their name or area, best first.

    "the kitchen lamp" names every lamp and everything in the kitchen, the Kitchen lamp most.
    Among those named as well, the ones in the area `here` (where it was heard) come first.
    """
    named = [device for device in known if request & device.words]
    return sorted(
        named, key=lambda device: (-len(request & device.words), here not in device.areas)
    )


def rank(said: set[str], tools: Sequence[ToolWords], named: Sequence[Device]) -> list[int]:
    """Indexes of the tools the request's words point at, most relevant first.

    `named` are the devices the request names; ties keep the tools' order.
    """
    domains = {device.domain for device in named}
    scores = [score(said, tool, domains) for tool in tools]
    chosen = [index for index, value in enumerate(scores) if value >= THRESHOLD]
    return sorted(chosen, key=lambda index: -scores[index])
