"""Check the integration the way hassfest and HACS do, offline (run by `script/validate`).

hassfest lives in Home Assistant's repository and HACS's checks run as GitHub actions, so
neither is available here. This re-implements the checks that matter for a custom
integration, with Home Assistant's own schemas where the wheel ships them (the manifest's
keys, services.yaml's schema and selectors, the version rules of the loader).
"""

from __future__ import annotations

import argparse
import ast
from collections.abc import Iterator
import json
from pathlib import Path
import re
import sys
from typing import Any, get_type_hints

from awesomeversion import AwesomeVersion, AwesomeVersionException, AwesomeVersionStrategy
from homeassistant import loader
from homeassistant.components import __path__ as components_path
from homeassistant.components.brands.const import ALLOWED_IMAGES
from homeassistant.const import __version__ as ha_version
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import service as ha_service
from homeassistant.util.yaml import load_yaml_dict
from PIL import Image
import probatio

# hassfest's rules that the loader does not enforce.
IOT_CLASSES = {
    "assumed_state",
    "calculated",
    "cloud_polling",
    "cloud_push",
    "local_polling",
    "local_push",
}
# What HACS requires of an integration's manifest.
HACS_MANIFEST_KEYS = {"domain", "name", "version", "codeowners", "documentation", "issue_tracker"}
# hacs.json's keys (HACS's repository schema).
HACS_KEYS = {
    "name",
    "content_in_root",
    "zip_release",
    "filename",
    "hide_default_branch",
    "country",
    "homeassistant",
    "persistent_directory",
    "render_readme",
}
# The loader's accepted version formats for custom integrations.
VERSION_STRATEGIES = [
    AwesomeVersionStrategy.CALVER,
    AwesomeVersionStrategy.SEMVER,
    AwesomeVersionStrategy.SIMPLEVER,
    AwesomeVersionStrategy.BUILDVER,
    AwesomeVersionStrategy.PEP440,
]
# Brand images (home-assistant/brands rules): square icons of an exact size, logos whose
# shortest side lies in a range.
ICON_SIZES = {"icon.png": 256, "icon@2x.png": 512}
LOGO_SIDES = {"logo.png": (128, 256), "logo@2x.png": (256, 512)}
MDI_ICON = re.compile(r"^mdi:[a-z0-9]+(-[a-z0-9]+)*$")
PLATFORMS = {"sensor", "binary_sensor", "button", "select", "switch", "number", "text"}


class Problems:
    """Everything found, as 'file: message' lines."""

    def __init__(self, repo: Path) -> None:
        self.repo = repo
        self.lines: list[str] = []

    def add(self, path: Path, message: str) -> None:
        self.lines.append(f"{path.relative_to(self.repo)}: {message}")


def _load_json(path: Path, problems: Problems) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        problems.add(path, "missing")
        return {}
    except ValueError as err:
        problems.add(path, f"not valid JSON: {err}")
        return {}
    if not isinstance(data, dict):
        problems.add(path, "not a JSON object")
        return {}
    return data


def check_manifest(  # noqa: C901, PLR0912 - a checklist: one branch per hassfest rule
    integration: Path, problems: Problems
) -> dict[str, Any]:
    """Keys the loader knows, in hassfest's order, with values hassfest and HACS accept."""
    path = integration / "manifest.json"
    manifest = _load_json(path, problems)
    if not manifest:
        return manifest
    known = get_type_hints(loader.Manifest)
    for key in manifest:
        if key not in known:
            problems.add(path, f"unknown key '{key}'")
    keys = list(manifest)
    if keys[:2] != ["domain", "name"] or keys[2:] != sorted(keys[2:]):
        problems.add(path, "keys must be domain, name, then the rest in alphabetical order")
    for key in sorted(HACS_MANIFEST_KEYS - set(manifest)):
        problems.add(path, f"'{key}' is required")
    if manifest.get("domain") != integration.name:
        problems.add(path, f"domain '{manifest.get('domain')}' is not the folder's name")
    try:
        AwesomeVersion(str(manifest.get("version")), ensure_strategy=VERSION_STRATEGIES)
    except AwesomeVersionException:
        problems.add(path, f"version '{manifest.get('version')}' is not one HA accepts")
    integration_types = known["integration_type"].__args__
    if manifest.get("integration_type", "hub") not in integration_types:
        problems.add(path, f"integration_type must be one of {', '.join(integration_types)}")
    if manifest.get("integration_type") != "virtual" and manifest.get("iot_class") not in (
        IOT_CLASSES
    ):
        problems.add(path, f"iot_class must be one of {', '.join(sorted(IOT_CLASSES))}")
    for key in ("documentation", "issue_tracker"):
        if key in manifest and not str(manifest[key]).startswith("https://"):
            problems.add(path, f"{key} must be an https URL")
    for owner in manifest.get("codeowners", []):
        if not str(owner).startswith("@"):
            problems.add(path, f"code owner '{owner}' must start with @")
    components = Path(components_path[0])
    for key in ("dependencies", "after_dependencies"):
        for domain in manifest.get(key, []):
            if not (components / domain / "manifest.json").exists():
                problems.add(path, f"{key}: '{domain}' is not a Home Assistant integration")
    for requirement in manifest.get("requirements", []):
        if "==" not in requirement:
            problems.add(path, f"requirement '{requirement}' must be pinned with ==")
    for entry in manifest.get("zeroconf", []):
        kind = entry.get("type") if isinstance(entry, dict) else entry
        if not str(kind).endswith("._tcp.local.") and not str(kind).endswith("._udp.local."):
            problems.add(path, f"zeroconf type '{kind}' must end in ._tcp.local. or ._udp.local.")
    if manifest.get("config_flow") != (integration / "config_flow.py").exists():
        problems.add(path, "config_flow must be true exactly when config_flow.py exists")
    return manifest


def _literals(sources: dict[Path, ast.Module]) -> dict[str, str]:
    """Module-level string constants (SERVICE_X = "x"), by name."""
    found: dict[str, str] = {}
    for tree in sources.values():
        for node in tree.body:
            target: ast.expr | None = node.target if isinstance(node, ast.AnnAssign) else None
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target = node.targets[0]
            value = getattr(node, "value", None)
            if (
                isinstance(target, ast.Name)
                and isinstance(value, ast.Constant)
                and isinstance(value.value, str)
            ):
                found[target.id] = value.value
    return found


def _calls(sources: dict[Path, ast.Module]) -> Iterator[tuple[Path, ast.Call, str]]:
    """Every call in the sources, with the called attribute's or function's name."""
    for path, tree in sources.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                yield path, node, name


def _keyword(call: ast.Call, name: str, constants: dict[str, str]) -> str | None:
    for keyword in call.keywords:
        if keyword.arg == name:
            return _text(keyword.value, constants)
    return None


def _text(node: ast.expr, constants: dict[str, str]) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return constants.get(node.id)
    return None


def check_services(
    integration: Path, sources: dict[Path, ast.Module], problems: Problems
) -> dict[str, Any]:
    """services.yaml passes HA's schema and selectors and matches the registered services."""
    path = integration / "services.yaml"
    constants = _literals(sources)
    registered: set[str] = set()
    for _, call, name in _calls(sources):
        # hass.services.async_register(DOMAIN, name, ...); entity services: (name, ...).
        position = {"async_register": 1, "async_register_admin_service": 2}.get(name)
        if name == "async_register_entity_service":
            position = 0
        if position is not None and len(call.args) > position:
            service = _text(call.args[position], constants)
            registered |= {service} if service else set()
    if not path.exists():
        if registered:
            problems.add(path, f"missing, but the code registers {', '.join(sorted(registered))}")
        return {}
    try:
        services = load_yaml_dict(str(path))
    except HomeAssistantError as err:
        problems.add(path, f"not valid YAML: {err}")
        return {}
    try:
        ha_service._SERVICES_SCHEMA(services)
    except probatio.Invalid as err:
        # The rest of the checks still read the file as written.
        problems.add(path, f"rejected by Home Assistant's schema: {err}")
    for name in sorted(set(services) - registered):
        problems.add(path, f"'{name}' is described but the code registers no such service")
    for name in sorted(registered - set(services)):
        problems.add(path, f"the code registers '{name}' but it is not described here")
    return dict(services)


def _translation_keys(
    sources: dict[Path, ast.Module], constants: dict[str, str]
) -> Iterator[tuple[Path, str, str]]:
    """(file, kind, key) for each translation key the code uses: exception, issue, entity."""
    for path, call, name in _calls(sources):
        key = _keyword(call, "translation_key", constants)
        if key is None:
            continue
        if name == "async_create_issue":
            yield path, "issue", key
        elif any(k.arg == "translation_domain" for k in call.keywords):
            yield path, "exception", key
        elif path.stem in PLATFORMS:
            yield path, path.stem, key
    for path, tree in sources.items():
        for node in ast.walk(tree):
            if not isinstance(node, ast.Assign) or path.stem not in PLATFORMS:
                continue
            names = {getattr(t, "id", getattr(t, "attr", "")) for t in node.targets}
            if "_attr_translation_key" in names and (key := _text(node.value, constants)):
                yield path, path.stem, key


def _flow_sections(strings: dict[str, Any]) -> list[dict[str, Any]]:
    sections = [strings.get("config", {}), strings.get("options", {})]
    sections += list(strings.get("config_subentries", {}).values())
    return [s for s in sections if isinstance(s, dict)]


def check_translations(  # noqa: C901, PLR0912 - a checklist: one branch per rule
    integration: Path,
    sources: dict[Path, ast.Module],
    services: dict[str, Any],
    problems: Problems,
) -> dict[str, Any]:
    """Every key the code, the flows and services.yaml use has English text."""
    path = integration / "translations" / "en.json"
    strings = _load_json(path, problems)
    if not strings:
        return strings
    constants = _literals(sources)
    text = path.read_text(encoding="utf-8")
    if "[%key:" in text:
        problems.add(path, "[%key:...%] references are only resolved for HA's own integrations")
    sections = _flow_sections(strings)
    steps = {step for s in sections for step in s.get("step", {})}
    aborts = {reason for s in sections for reason in s.get("abort", {})}
    for source, call, name in _calls(sources):
        step = _keyword(call, "step_id", constants)
        if name in ("async_show_form", "async_show_menu") and step and step not in steps:
            problems.add(path, f"no text for the flow step '{step}' ({source.name})")
        reason = _keyword(call, "reason", constants)
        if name == "async_abort" and reason and reason not in aborts:
            problems.add(path, f"no text for the abort reason '{reason}' ({source.name})")
    for kind, section in strings.get("config_subentries", {}).items():
        for key in ("initiate_flow", "entry_type"):
            if key not in section:
                problems.add(path, f"config_subentries.{kind} has no {key}")
    where = {"exception": ("exceptions", "message"), "issue": ("issues", "title")}
    for source, kind, key in _translation_keys(sources, constants):
        group, field = where.get(kind, ("entity", "name"))
        table = strings.get(group, {})
        entry = table.get(kind, {}).get(key) if group == "entity" else table.get(key)
        if not isinstance(entry, dict) or field not in entry:
            dotted = f"{group}.{kind}.{key}" if group == "entity" else f"{group}.{key}"
            problems.add(path, f"{dotted}.{field} is missing ({source.name})")
    for name, service in services.items():
        described = strings.get("services", {}).get(name, {})
        for key in ("name", "description"):
            if key not in described:
                problems.add(path, f"services.{name}.{key} is missing")
        for field_name, field in ((service or {}).get("fields") or {}).items():
            texts = described.get("fields", {}).get(field_name, {})
            if "name" not in texts or "description" not in texts:
                problems.add(path, f"services.{name}.fields.{field_name} needs name, description")
            select = (field.get("selector") or {}).get("select") or {}
            if selector_key := select.get("translation_key"):
                options = strings.get("selector", {}).get(selector_key, {}).get("options", {})
                for option in select.get("options", []):
                    value = option["value"] if isinstance(option, dict) else option
                    if value not in options:
                        problems.add(path, f"selector.{selector_key}.options.{value} is missing")
    return strings


def check_icons(
    integration: Path, services: dict[str, Any], strings: dict[str, Any], problems: Problems
) -> None:
    """Every action has an icon; every icon is an mdi name for something that exists."""
    path = integration / "icons.json"
    icons = _load_json(path, problems) if path.exists() or services else {}
    for name in services:
        if "service" not in icons.get("services", {}).get(name, {}):
            problems.add(path, f"services.{name}.service (the action's icon) is missing")
    for name in set(icons.get("services", {})) - set(services):
        problems.add(path, f"an icon for '{name}', which services.yaml does not describe")
    for platform, entities in icons.get("entity", {}).items():
        for key, entry in entities.items():
            known = strings.get("entity", {}).get(platform, {}).get(key)
            if known is None:
                problems.add(path, f"entity.{platform}.{key} has no translation")
                continue
            # Sensors and selects name their own states; on/off and the like are HA's.
            own_states = platform in ("sensor", "select")
            for state in entry.get("state", {}) if own_states else ():
                if state not in known.get("state", {}):
                    problems.add(path, f"entity.{platform}.{key}: state '{state}' has no text")

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{where}.{key}" if where else key)
        elif not isinstance(node, str) or not MDI_ICON.match(node):
            problems.add(path, f"{where}: '{node}' is not an mdi: icon name")

    walk(icons, "")


def check_brand(integration: Path, problems: Problems) -> None:
    """The images HA's brands integration serves from a custom integration's brand/."""
    folder = integration / "brand"
    for path in sorted(folder.iterdir()) if folder.is_dir() else ():
        if path.name not in ALLOWED_IMAGES:
            problems.add(path, f"not served: the names are {', '.join(sorted(ALLOWED_IMAGES))}")
    for prefix in ("", "dark_"):
        for name, side in ICON_SIZES.items():
            path = folder / f"{prefix}{name}"
            if not path.exists():
                if not prefix:
                    problems.add(path, "missing")
                continue
            with Image.open(path) as image:
                if image.format != "PNG" or image.size != (side, side):
                    problems.add(path, f"must be {side}x{side} PNG, is {image.format} {image.size}")
        for name, (low, high) in LOGO_SIDES.items():
            path = folder / f"{prefix}{name}"
            if not path.exists():
                continue
            with Image.open(path) as image:
                if image.format != "PNG" or not low <= min(image.size) <= high:
                    problems.add(
                        path, f"must be a PNG whose shortest side is {low}-{high}, is {image.size}"
                    )


def check_hacs(repo: Path, manifest: dict[str, Any], problems: Problems) -> None:
    """hacs.json's keys, one integration under custom_components/, the tested minimum."""
    path = repo / "hacs.json"
    hacs = _load_json(path, problems)
    if not hacs:
        return
    for key in sorted(set(hacs) - HACS_KEYS):
        problems.add(path, f"unknown key '{key}'")
    if "name" not in hacs:
        problems.add(path, "'name' is required")
    elif manifest and hacs["name"] != manifest.get("name"):
        problems.add(path, f"name '{hacs['name']}' is not the manifest's '{manifest.get('name')}'")
    if not hacs.get("content_in_root", False):
        found = [p.parent.name for p in (repo / "custom_components").glob("*/manifest.json")]
        if len(found) != 1:
            problems.add(path, f"custom_components/ must hold exactly one integration: {found}")
    # The oldest release the tests run against is this environment's (.venv-ha).
    if hacs.get("homeassistant") != ha_version:
        problems.add(
            path,
            f"homeassistant '{hacs.get('homeassistant')}' is not {ha_version}, the oldest "
            "release the tests run against",
        )


def validate(repo: Path, domain: str) -> list[str]:
    """Every problem found in custom_components/DOMAIN and hacs.json."""
    problems = Problems(repo)
    integration = repo / "custom_components" / domain
    sources = {
        p: ast.parse(p.read_text(encoding="utf-8")) for p in sorted(integration.glob("*.py"))
    }
    manifest = check_manifest(integration, problems)
    services = check_services(integration, sources, problems)
    strings = check_translations(integration, sources, services, problems)
    check_icons(integration, services, strings, problems)
    check_brand(integration, problems)
    check_hacs(repo, manifest, problems)
    return problems.lines


def main() -> int:
    """Print the problems; exit 1 if there are any."""
    parser = argparse.ArgumentParser(prog="script/validate", description=__doc__)
    parser.add_argument("--repo", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--domain", default="milo")
    args = parser.parse_args()
    problems = validate(args.repo.resolve(), args.domain)
    for line in problems:
        print(line)
    print(
        f"{args.domain}: {len(problems)} problem(s)" if problems else f"{args.domain}: valid",
        file=sys.stderr,
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
