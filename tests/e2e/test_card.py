"""Milo's dashboard card in a real browser: headless Chromium on a real Home Assistant with
the demo's satellite, buddy and surf spots; the assertions read the card's rendered DOM.

The stack is the demo's (no spoken requests); the card goes on a dashboard saved through
HA's Lovelace API and the browser logs in with the demo owner's token. Screenshots of each
mood land in the test's directory (`MILO_CARD_SHOTS=docs/images` writes the docs' ones).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
import json
import os
from pathlib import Path
from typing import Any

from browser import BrowserError, Page, chromium
from conftest import HA_VENVS, REPO, loopback_sockets
from milo_demo.errors import poll, stage
from milo_demo.playback import play_request
from milo_demo.run import run_demo
from milo_demo.satellite import NAME as SATELLITE
from milo_demo.scenario import BUDDY, Request
from milo_demo.speech import synthesize_requests
from milo_demo.stack import DemoStack, StackOptions
import pytest

SURF_SPOTS = ("East Strand", "West Strand")
RATINGS = {"Gnarly", "Mid", "Trash"}
DASHBOARD_PATH = "milo-desk"
DASHBOARD = {
    "title": "Milo",
    "views": [
        {
            "title": "Milo",
            "path": "milo",
            "cards": [{"type": "custom:milo-card", "satellite": SATELLITE}],
        },
        {
            "title": "Typo",
            "path": "typo",
            "cards": [{"type": "custom:milo-card", "satellite": "mlio"}],
        },
    ],
}
CARD_S = 90.0
# Where the page stood when the card did not show as expected (for the failure message).
PAGE_STATE = """(() => {
  const card = deepQuery(document, "milo-card");
  return {
    url: location.href,
    defined: Boolean(customElements.get("milo-card")),
    card: card ? (card.shadowRoot ? card.shadowRoot.innerHTML.slice(-3000) : "no shadow root")
      : "not on the page",
    text: document.body.innerText.slice(0, 500),
  };
})()"""
# What the card shows, read from its shadow DOM.
READ_CARD = """(() => {
  const card = deepQuery(document, "milo-card");
  const root = card && card.shadowRoot;
  if (!root || !root.querySelector(".surf li")) return null;
  return {
    eyes: root.querySelectorAll("svg.face .eye").length,
    pupils: [...root.querySelectorAll(".pupil")].map((p) => p.style.transform),
    mood: root.getElementById("mood").className,
    state: root.getElementById("state").textContent,
    person: root.getElementById("person").textContent,
    warning: root.getElementById("warning").hidden ? "" : "shown",
    surf: [...root.querySelectorAll(".surf li")].map((li) => [
      li.querySelector(".spot").textContent, li.querySelector(".rating").textContent]),
    buttons: [...root.querySelectorAll("button")].map((b) => [b.textContent, b.disabled]),
  };
})()"""


# Records each change of the mood's word (states can be shorter than a poll).
WATCH_MOODS = """(() => {
  const word = deepQuery(document, "milo-card").shadowRoot.getElementById("state");
  window.miloMoods = [word.textContent];
  new MutationObserver(() => {
    if (window.miloMoods.at(-1) !== word.textContent) window.miloMoods.push(word.textContent);
  }).observe(word, { childList: true, characterData: true, subtree: true });
  return true;
})()"""
QUESTION = Request("surf", "How is the surf at East Strand today?", ("surf",))


@dataclass
class CardRun:
    """What the browser saw."""

    first: dict[str, Any] = field(default_factory=dict)
    panned: dict[str, Any] = field(default_factory=dict)
    sleeping: dict[str, Any] = field(default_factory=dict)
    muted: dict[str, Any] = field(default_factory=dict)
    typo: dict[str, Any] = field(default_factory=dict)  # a satellite name that matches none
    moods: list[str] = field(default_factory=list)  # the mood's changes during a question
    look_around: tuple[str, str] = ("", "")  # before and after a click on its button
    shots: list[Path] = field(default_factory=list)


async def read_card_when(page: Page, condition: str) -> dict[str, Any]:
    """The card's contents once `condition` (JS over `c`, the contents) holds."""
    try:
        found = await page.wait_for(
            f"(() => {{ const c = {READ_CARD}; return c && ({condition}) && c; }})()", CARD_S
        )
    except BrowserError as err:
        raise BrowserError(f"{err}\nthe page then: {await page.evaluate(PAGE_STATE)}") from None
    return dict(found)


async def look_at_card(stack: DemoStack, shots: Path, profile: Path) -> CardRun:
    """Put the card on a dashboard, open it in Chromium, change the satellite, read it."""
    hass = stack.hass
    [spoken] = await synthesize_requests(
        (QUESTION,),
        profile.parent / "speech",
        services_python=REPO / ".venv" / "bin" / "python",
        log=profile.parent / "speech.log",
    )
    assert hass.ws is not None
    assert hass.rest is not None
    assert hass.rest.token
    seen = CardRun()
    # A dashboard of its own, as a user would add one (a new HA's default one is "Overview").
    await hass.ws.call(
        "lovelace/dashboards/create",
        url_path=DASHBOARD_PATH,
        title="Milo",
        mode="storage",
        show_in_sidebar=True,
        require_admin=False,
    )
    await hass.ws.call("lovelace/config/save", url_path=DASHBOARD_PATH, config=DASHBOARD)
    entity = await satellite_entities(stack)
    async with chromium(profile) as page:
        # The frontend reads its login from localStorage, which belongs to HA's origin.
        await page.goto(f"{hass.base_url}/manifest.json")
        tokens = {
            "access_token": hass.rest.token,
            "token_type": "Bearer",
            "expires_in": 315360000,
            "expires": 4102444800000,  # 2100: a long-lived token needs no refresh
            "refresh_token": "",
            "hassUrl": hass.base_url,
            "clientId": f"{hass.base_url}/",
        }
        await page.evaluate(f"localStorage.setItem('hassTokens', {json.dumps(json.dumps(tokens))})")
        await page.goto(f"{hass.base_url}/{DASHBOARD_PATH}/milo")
        seen.first = await read_card_when(page, f"c.person === {json.dumps(BUDDY)}")
        await shoot(page, shots, "milo-card.png", seen)

        # The head holds still where it is told to (no face to follow): the eyes follow.
        await hass.call_service("switch", "turn_off", entity_id=entity["face_tracking"])
        await hass.call_service("number", "set_value", entity_id=entity["head_pan"], value=40)
        await hass.call_service("number", "set_value", entity_id=entity["head_tilt"], value=0)
        seen.panned = await read_card_when(page, "c.pupils[0] === 'translate(-7px, 0px)'")

        await hass.call_service("switch", "turn_on", entity_id=entity["sleep"])
        seen.sleeping = await read_card_when(page, "c.state === 'sleeping'")
        await shoot(page, shots, "milo-card-sleeping.png", seen)
        await hass.call_service("switch", "turn_off", entity_id=entity["sleep"])
        await hass.call_service("switch", "turn_on", entity_id=entity["mute"])
        seen.muted = await read_card_when(page, "c.state === 'muted'")
        await hass.call_service("switch", "turn_off", entity_id=entity["mute"])

        # A button goes through HA to the satellite and back: it toggles the switch.
        before = (await hass.state(entity["look_around"]))["state"]
        await page.evaluate(
            "deepQuery(document, 'milo-card').shadowRoot.getElementById('look').click()"
        )

        async def toggled() -> bool:
            return bool((await hass.state(entity["look_around"]))["state"] != before)

        async with stage("the card's Look around button", 30.0, hass.log):
            await poll(toggled, 0.25)
        seen.look_around = (before, (await hass.state(entity["look_around"]))["state"])

        # A spoken question: the mood follows the satellite through the pipeline.
        await page.evaluate(WATCH_MOODS)
        result = await play_request(stack, spoken)
        assert not result.error, result.error
        seen.moods = await page.wait_for(
            "window.miloMoods.at(-1) === 'idle' && window.miloMoods", CARD_S
        )

        await page.goto(f"{hass.base_url}/{DASHBOARD_PATH}/typo")
        seen.typo = await read_card_when(page, "c.warning === 'shown'")
    return seen


async def satellite_entities(stack: DemoStack) -> dict[str, str]:
    """The satellite's entity ids by object id suffix (docs/contracts.md)."""
    keys = ("head_pan", "head_tilt", "face_tracking", "sleep", "mute", "look_around")
    registered = await stack.hass.entities_of(stack.configured.entries["esphome"])
    ids = [e["entity_id"] for e in registered]
    return {key: next(i for i in ids if i.endswith(f"_{key}")) for key in keys}


async def shoot(page: Page, shots: Path, name: str, seen: CardRun) -> None:
    """A screenshot of the card after its transitions settle."""
    await asyncio.sleep(1.0)
    path = shots / name
    await page.screenshot(path, "milo-card")
    seen.shots.append(path)


@pytest.fixture(scope="module", params=HA_VENVS)
def card_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> CardRun:
    """The demo's stack, no spoken requests, and the card in Chromium while it runs, on each
    Home Assistant release the e2e covers (the frontend changes with each)."""
    run_dir = tmp_path_factory.mktemp("card")
    shots = Path(os.environ.get("MILO_CARD_SHOTS", run_dir / "shots"))
    shots.mkdir(parents=True, exist_ok=True)
    options = StackOptions(
        repo=REPO, run_dir=run_dir, default_ports=False, ha_venv=str(request.param)
    )
    seen = CardRun()

    async def hold(stack: DemoStack, _run: object) -> None:
        nonlocal seen
        seen = await look_at_card(stack, shots, run_dir / "chromium")

    with loopback_sockets():
        run = asyncio.run(run_demo(options, (), hold=hold))
    assert not run.leftovers
    return seen


def test_card_shows_eyes_buddy_surf_and_buttons(card_run: CardRun) -> None:
    card = card_run.first
    assert card["eyes"] == 2
    assert card["warning"] == ""
    assert card["state"] == "idle"
    assert card["person"] == BUDDY
    assert [spot for spot, _ in card["surf"]] == list(SURF_SPOTS)
    assert {rating for _, rating in card["surf"]} <= RATINGS
    assert card["buttons"] == [
        ["Centre head", False],
        ["Nod", False],
        ["Shake", False],
        ["Look around", False],
    ]


def test_eyes_look_where_the_head_looks(card_run: CardRun) -> None:
    # Pan 40 of 80 degrees to Milo's right: half the eyes' reach (14 px), to your left.
    assert card_run.panned["pupils"] == ["translate(-7px, 0px)"] * 2


def test_sleep_switch_closes_the_eyes(card_run: CardRun) -> None:
    assert card_run.sleeping["mood"] == "mood sleeping"


def test_mood_follows_a_spoken_question(card_run: CardRun) -> None:
    # assist_satellite: idle, listening, processing, responding, idle (each one render).
    assert card_run.moods == ["idle", "listening", "thinking", "speaking", "idle"]


def test_mute_switch_greys_the_eyes(card_run: CardRun) -> None:
    assert card_run.muted["mood"] == "mood muted"


def test_unknown_satellite_warns_and_disables_the_buttons(card_run: CardRun) -> None:
    card = card_run.typo
    assert card["warning"] == "shown"
    assert card["person"] == "not known"
    assert all(disabled for _, disabled in card["buttons"])
    assert [spot for spot, _ in card["surf"]] == list(SURF_SPOTS)


def test_look_around_button_reaches_the_satellite(card_run: CardRun) -> None:
    assert card_run.look_around == ("off", "on")


def test_screenshots_taken(card_run: CardRun) -> None:
    for shot in card_run.shots:
        assert shot.read_bytes().startswith(b"\x89PNG")
