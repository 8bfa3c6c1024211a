"""Every translation key the code uses exists in translations/en.json."""

from __future__ import annotations

import json
from pathlib import Path
import re

INTEGRATION = Path(__file__).resolve().parents[2] / "custom_components" / "milo"
STRINGS = json.loads((INTEGRATION / "translations" / "en.json").read_text())
SOURCES = "\n".join(p.read_text() for p in INTEGRATION.glob("*.py"))


def test_exception_keys_exist() -> None:
    """Every translated exception has a message."""
    used = set(re.findall(r'translation_domain=DOMAIN,\s*translation_key="(\w+)"', SOURCES))
    assert {"surf_unavailable", "unknown_spot", "invalid_auth"} <= used
    assert used <= set(STRINGS["exceptions"])
    assert "surf_api_unavailable" in STRINGS["issues"]


def test_flow_errors_exist() -> None:
    """Every form error the flows return is translated for its flow."""
    used = set(re.findall(r'(?:"base"|CONF_\w+): "(\w+)"', SOURCES))
    used |= set(re.findall(r'errors\[(?:CONF_\w+|key|"base")\] = "(\w+)"', SOURCES))
    assert {"cannot_connect", "invalid_auth", "no_models", "spot_exists"} <= used
    assert {"invalid_url", "open_meteo_failed"} <= used
    known = set(STRINGS["config"]["error"]) | set(STRINGS["options"]["error"])
    for subentry in STRINGS["config_subentries"].values():
        known |= set(subentry.get("error", {}))
    assert used <= known
    # The options flow (Open-Meteo URLs) has its own error texts.
    assert {"invalid_url", "open_meteo_failed"} <= set(STRINGS["options"]["error"])


def test_entities_and_services_are_translated() -> None:
    """Entity keys (sensor descriptions, switch and number classes) and the action's fields
    have names."""
    keys = set(re.findall(r'translation_key="(\w+)",\n', SOURCES)) - set(STRINGS["exceptions"])
    keys |= set(re.findall(r'_attr_translation_key = "(\w+)"', SOURCES))
    assert keys == {key for platform in STRINGS["entity"].values() for key in platform}
    assert {"greet_buddies", "greeting_gap"} <= keys
    services = (INTEGRATION / "services.yaml").read_text()
    for field in ("config_entry_id", "spot", "day"):
        assert f"{field}:" in services
        assert field in STRINGS["services"]["surf_report"]["fields"]


def test_manifest_and_hacs_metadata() -> None:
    """Keys in hassfest's order (domain, name, then sorted); HACS metadata matches."""
    manifest = json.loads((INTEGRATION / "manifest.json").read_text())
    keys = list(manifest)
    assert keys[:2] == ["domain", "name"]
    assert keys[2:] == sorted(keys[2:])
    assert manifest["zeroconf"] == ["_milo-llm._tcp.local."]
    assert manifest["config_flow"] is True
    assert manifest["requirements"] == []
    hacs = json.loads((INTEGRATION.parents[1] / "hacs.json").read_text())
    assert hacs["name"] == manifest["name"]
    assert (INTEGRATION / "brand" / "icon.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (INTEGRATION / "brand" / "icon@2x.png").exists()
