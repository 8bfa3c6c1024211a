"""Every ESPHome YAML in esphome/ passes `esphome config` (offline, no compiling).

ESPHome runs from its own tool environment (.venv-esphome), which `esphome/validate`
creates on first use; script/setup should create it up front.
"""

from __future__ import annotations

from pathlib import Path
import subprocess

ROOT = Path(__file__).resolve().parents[3]
VALIDATE = ROOT / "esphome" / "validate"


def _validate(*files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(VALIDATE), *map(str, files)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def test_every_esphome_yaml_is_valid() -> None:
    configs = [p for p in sorted((ROOT / "esphome").glob("*.yaml")) if "secrets" not in p.name]
    assert configs, "no ESPHome configs found"
    result = _validate()
    assert result.returncode == 0, result.stdout + result.stderr
    for config in configs:
        assert f"esphome/{config.name}: valid" in result.stdout


def test_validation_really_checks(tmp_path: Path) -> None:
    """A broken config fails, so a passing run means something."""
    broken = tmp_path / "milo-head.yaml"
    text = (ROOT / "esphome" / "milo-head.yaml").read_text(encoding="utf-8")
    broken.write_text(text.replace("frequency: 50Hz", "frequency: fifty"), encoding="utf-8")
    result = _validate(broken)
    assert result.returncode == 1
    assert "INVALID" in result.stdout
    assert "frequency" in result.stdout
