"""The Docker and systemd files start commands that exist, on the contract ports."""

from __future__ import annotations

import configparser
from pathlib import Path
import re
import shlex
import tomllib

import pytest
import yaml

SERVICES_DIR = Path(__file__).resolve().parents[2] / "wyoming_services"
PORTS = {"milo-stt": [10300], "milo-tts": [10200], "milo-llm": [10500, 10501]}


def console_scripts() -> set[str]:
    pyproject = tomllib.loads((SERVICES_DIR / "pyproject.toml").read_text())
    return set(pyproject["project"]["scripts"])


def flag(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def test_compose_runs_the_three_services_on_their_ports():
    compose = yaml.safe_load((SERVICES_DIR / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == set(PORTS)
    for name, service in services.items():
        argv = service["command"]
        assert argv[0] == name
        assert argv[0] in console_scripts()
        port = int(flag(argv, "--uri").rsplit(":", 1)[1])
        published = [int(mapping.split(":")[0]) for mapping in service["ports"]]
        assert published == PORTS[name]
        assert port == PORTS[name][0]
        if name == "milo-llm":
            assert int(flag(argv, "--http-port")) == PORTS[name][1]
        assert service["build"] == "."
        assert service["restart"] == "unless-stopped"


def test_dockerfile_installs_the_package_and_runs_a_real_command():
    dockerfile = (SERVICES_DIR / "Dockerfile").read_text()
    assert 'pip install --no-cache-dir ".[all]"' in dockerfile
    for source in re.findall(r"^COPY (?!--from)(.+) \S+$", dockerfile, re.MULTILINE):
        for path in source.split():
            assert (SERVICES_DIR / path).exists(), path
    cmd = re.search(r"^CMD (\[.*\])$", dockerfile, re.MULTILINE)
    assert cmd is not None
    assert yaml.safe_load(cmd.group(1))[0] in console_scripts()


@pytest.mark.parametrize("name", sorted(PORTS))
def test_systemd_units(name: str):
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(SERVICES_DIR / "systemd" / f"{name}.service")
    argv = shlex.split(unit["Service"]["ExecStart"])
    assert Path(argv[0]).name == name
    assert name in console_scripts()
    assert int(flag(argv, "--uri").rsplit(":", 1)[1]) == PORTS[name][0]
    assert "--zeroconf" in argv
    assert unit["Service"]["KillSignal"] == "SIGTERM"
    assert unit["Install"]["WantedBy"] == "multi-user.target"
