"""script/validate: the integration passes, and each kind of mistake hassfest or HACS would
report is found in a copy of it that has that mistake."""

from __future__ import annotations

from collections.abc import Callable
import json
from pathlib import Path
import shutil
import subprocess
import sys
from typing import Any

from PIL import Image
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "script"))

from validate_integration import validate  # noqa: E402


def _edit_json(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data, indent=2))


def _unsorted_manifest(repo: Path) -> None:
    def change(manifest: dict[str, Any]) -> None:
        manifest["aaa"] = manifest.pop("codeowners")
        manifest["version"] = "latest"

    _edit_json(repo / "custom_components/milo/manifest.json", change)


def _missing_step(repo: Path) -> None:
    _edit_json(
        repo / "custom_components/milo/translations/en.json",
        lambda s: s["config"]["step"].pop("model"),
    )


def _missing_sensor_name(repo: Path) -> None:
    _edit_json(
        repo / "custom_components/milo/translations/en.json",
        lambda s: s["entity"]["sensor"]["rating"].pop("name"),
    )


def _missing_exception(repo: Path) -> None:
    _edit_json(
        repo / "custom_components/milo/translations/en.json",
        lambda s: s["exceptions"].pop("unknown_spot"),
    )


def _core_reference(repo: Path) -> None:
    _edit_json(
        repo / "custom_components/milo/translations/en.json",
        lambda s: s["config"]["abort"].update(
            already_configured="[%key:common::config_flow::abort::already_configured_device%]"
        ),
    )


def _unregistered_service(repo: Path) -> None:
    path = repo / "custom_components/milo/services.yaml"
    path.write_text(path.read_text() + "\nwave_hello:\n  fields: {}\n")


def _bad_selector(repo: Path) -> None:
    path = repo / "custom_components/milo/services.yaml"
    path.write_text(path.read_text().replace("text:", "no_such_selector:"))


def _bad_icons(repo: Path) -> None:
    def change(icons: dict[str, Any]) -> None:
        icons["services"].pop("surf_report")
        icons["entity"]["sensor"]["wave_height"]["default"] = "waves"
        icons["entity"]["sensor"]["rating"]["state"]["epic"] = "mdi:waves"

    _edit_json(repo / "custom_components/milo/icons.json", change)


def _small_icon(repo: Path) -> None:
    path = repo / "custom_components/milo/brand/icon.png"
    with Image.open(path) as image:
        image.resize((200, 200)).save(path)
    shutil.copy(path, path.with_name("icon_small.png"))


def _bad_hacs(repo: Path) -> None:
    _edit_json(repo / "hacs.json", lambda h: h.update(homeassistant="2026.10.0", zip=True))


CASES = {
    "manifest order and version": (
        _unsorted_manifest,
        [
            "manifest.json: unknown key 'aaa'",
            "manifest.json: keys must be domain, name, then the rest in alphabetical order",
            "manifest.json: 'codeowners' is required",
            "manifest.json: version 'latest' is not one HA accepts",
        ],
    ),
    "flow step": (_missing_step, ["no text for the flow step 'model' (config_flow.py)"]),
    "entity name": (_missing_sensor_name, ["entity.sensor.rating.name is missing (sensor.py)"]),
    "exception": (_missing_exception, ["exceptions.unknown_spot.message is missing"]),
    "core reference": (_core_reference, ["[%key:...%] references are only resolved"]),
    "unregistered service": (
        _unregistered_service,
        [
            "'wave_hello' is described but the code registers no such service",
            "services.wave_hello.name is missing",
            "services.wave_hello.description is missing",
            "icons.json: services.wave_hello.service (the action's icon) is missing",
        ],
    ),
    "bad selector": (_bad_selector, ["services.yaml: rejected by Home Assistant's schema"]),
    "icons": (
        _bad_icons,
        [
            "services.surf_report.service (the action's icon) is missing",
            "entity.sensor.wave_height.default: 'waves' is not an mdi: icon name",
            "entity.sensor.rating: state 'epic' has no text",
        ],
    ),
    "brand images": (
        _small_icon,
        [
            "brand/icon.png: must be 256x256 PNG, is PNG (200, 200)",
            "brand/icon_small.png: not served: the names are dark_icon.png",
        ],
    ),
    "hacs.json": (
        _bad_hacs,
        ["hacs.json: unknown key 'zip'", "hacs.json: homeassistant '2026.10.0' is not"],
    ),
}


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """The integration and hacs.json, in a repo layout of their own."""
    shutil.copytree(
        REPO / "custom_components/milo",
        tmp_path / "custom_components/milo",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    shutil.copy(REPO / "hacs.json", tmp_path / "hacs.json")
    return tmp_path


def test_the_integration_is_valid() -> None:
    """The real script, as CI's lint suite runs it."""
    done = subprocess.run(
        [str(REPO / "script/validate")], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "milo: valid" in done.stderr


def test_a_faithful_copy_is_valid(copy: Path) -> None:
    assert validate(copy, "milo") == []


@pytest.mark.parametrize("case", CASES)
def test_each_mistake_is_found(copy: Path, case: str) -> None:
    """The planted mistake is reported, with the file it is in, and nothing else new."""
    plant, expected = CASES[case]
    before = set(validate(copy, "milo"))
    plant(copy)
    found = [line for line in validate(copy, "milo") if line not in before]
    for message in expected:
        assert any(message in line for line in found), (message, found)
    assert len(found) == len(expected), found
