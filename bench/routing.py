"""What Home Assistant's own agent costs Milo on the sentences it declines.

Milo's agent lets HA's whole default agent (sentence triggers, intents, the gazetteer) try
every request first, so that it is never worse at device commands than HA alone. For surf,
weather and small talk that try finds nothing, and its time comes before Milo's first
audio. Timed here in a real Home Assistant core, in a home of lights in seven rooms plus
devices and areas named with surf, weather and milk words, against two peers in the same
run on the same sentences: HA's strict intent check (what Milo ran before, and what the
pipeline's "prefer local" runs), and Milo's own word rules with the home's names (its fast
path's routing). HA caches a sentence's recognition, and people rarely say the same thing
twice in a row, so every round clears that cache first.

    .venv-ha/bin/python bench/routing.py [--rounds N] [--lights N]
    results: bench/results/routing.json
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
import dataclasses
from datetime import UTC, datetime
import json
from pathlib import Path
import platform
import statistics
import sys
import tempfile
import time
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from homeassistant.components import conversation  # noqa: E402
from homeassistant.core import Context, CoreState, HomeAssistant  # noqa: E402
from homeassistant.helpers import area_registry as ar, entity_registry as er  # noqa: E402
from homeassistant.setup import async_setup_component  # noqa: E402
from pytest_homeassistant_custom_component.common import (  # noqa: E402
    async_test_home_assistant,
)

from custom_components.milo.exposed_names import async_home_names  # noqa: E402
from custom_components.milo.fast_path import recognise  # noqa: E402

RESULTS = REPO / "bench" / "results" / "routing.json"
ROOMS = ("Kitchen", "Hall", "Bedroom", "Office", "Living room", "Bathroom", "Garage")
TRAPS = {
    "light.surface_lamp": ("Surface lamp", "Office"),
    "switch.shredder": ("Shredder", "Office"),
    "switch.snow_globe": ("Snow globe", "Living room"),
    "switch.milk_frother": ("Milk frother", "Kitchen"),
    "media_player.surf_rock": ("Surf rock", "Living room"),
}
SPOTS = ["East Strand", "West Strand"]
# What HA's agent declines: Milo's fast path or the model answers these.
DECLINED = {
    "surf": [
        "What's the surf like today?",
        "How's the surf at East Strand tomorrow?",
        "any waves at west strand",
        "Should I go surfing?",
    ],
    "weather": [
        "Will it rain tomorrow?",
        "do I need an umbrella today",
        "is it going to snow tomorrow",
        "do I need a jacket",
    ],
    "small talk": [
        "hi there, how are you doing?",
        "tell me something funny about penguins",
        "what did you do today",
        "Do you like milk, Milo?",
    ],
}


def _add(hass: HomeAssistant, entity_id: str, name: str, area: str) -> None:
    domain, object_id = entity_id.split(".")
    registry = er.async_get(hass)
    entry = registry.async_get_or_create(
        domain, "bench", object_id, suggested_object_id=object_id, original_name=name
    )
    area_id = ar.async_get(hass).async_get_or_create(area).id
    registry.async_update_entity(entry.entity_id, area_id=area_id)
    hass.states.async_set(entity_id, "off", {"friendly_name": name})


async def _home(hass: HomeAssistant, lights: int) -> None:
    for component in ("homeassistant", "intent", "conversation"):
        assert await async_setup_component(hass, component, {})
    for index in range(lights):
        room = ROOMS[index % len(ROOMS)]
        name = f"{room} light {index // len(ROOMS) + 1}"
        _add(hass, f"light.{name.lower().replace(' ', '_')}", name, room)
    for entity_id, (name, area) in TRAPS.items():
        _add(hass, entity_id, name, area)
    await hass.async_block_till_done()


async def _timed(call: Callable[[], Awaitable[Any]]) -> float:
    start = time.perf_counter()
    await call()
    return (time.perf_counter() - start) * 1000


async def _run(rounds: int, lights: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as config_dir:
        async with async_test_home_assistant(
            config_dir=config_dir, initial_state=CoreState.not_running
        ) as hass:
            await _home(hass, lights)
            agent = conversation.async_get_agent(hass, conversation.HOME_ASSISTANT_AGENT)
            assert isinstance(agent, conversation.ConversationEntity)
            cache = agent._intent_cache
            times: dict[str, dict[str, list[float]]] = {}
            for _round in range(rounds + 1):  # round 0 loads the intents: not counted
                for kind, sentences in DECLINED.items():
                    for text in sentences:
                        cache.clear()
                        user_input = conversation.ConversationInput(
                            text=text,
                            context=Context(),
                            conversation_id=None,
                            device_id=None,
                            satellite_id=None,
                            language="en",
                            agent_id="conversation.milo",
                        )
                        log = conversation.ChatLog(hass, "bench")

                        async def whole(u=user_input, log=log) -> None:
                            trial = dataclasses.replace(log, content=log.content.copy())
                            handle = agent._async_handle_message
                            result = await handle(u, trial)
                            assert result.response.error_code is not None, u.text

                        async def strict(u=user_input, log=log) -> None:
                            assert await conversation.async_handle_intents(hass, u, log) is None

                        async def rules(u=user_input) -> None:
                            home = async_home_names(hass, persona_name="Milo", own_device_id=None)
                            recognise(u.text, SPOTS, home)

                        row = times.setdefault(kind, {"whole": [], "strict": [], "rules": []})
                        for name, call in (("whole", whole), ("strict", strict), ("rules", rules)):
                            cache.clear()
                            elapsed = await _timed(call)
                            if _round:
                                row[name].append(elapsed)
            await hass.async_stop(force=True)
    medians: dict[str, Any] = {}
    for kind, row in times.items():
        medians[kind] = {name: round(statistics.median(values), 2) for name, values in row.items()}
        medians[kind]["whole_over_strict"] = round(
            medians[kind]["whole"] / medians[kind]["strict"], 2
        )
    return medians


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--lights", type=int, default=100)
    args = parser.parse_args()
    medians = asyncio.run(_run(args.rounds, args.lights))
    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": platform.processor() or platform.machine(),
        "rounds": args.rounds,
        "entities": args.lights + len(TRAPS),
        "median_ms": medians,
    }
    print(json.dumps(result, indent=2))
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
