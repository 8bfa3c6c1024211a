"""script/lib/progress.sh: the long steps of script/setup and script/pi-check talk while
they run, and a failed one shows where and why."""

from __future__ import annotations

from pathlib import Path
import subprocess

REPO = Path(__file__).resolve().parents[2]


def run_step(tmp_path: Path, command: str) -> subprocess.CompletedProcess[str]:
    script = (
        f"REPO={tmp_path}; LOGS={tmp_path}; VERBOSE=0; HEARTBEAT_S=1\n"
        'log() { echo "[test] $*"; }\n'
        f". {REPO / 'script/lib/progress.sh'}\n"
        f'step demo "a long step" {command}\n'
        'echo "after the step"\n'
    )
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_a_long_step_says_what_it_is_doing(tmp_path: Path) -> None:
    done = run_step(tmp_path, "sh -c 'echo compiling dlib; sleep 2.5; echo linked'")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "[test] a long step; its output: demo.log" in out
    assert "[test]   ... 0 min 1 s: compiling dlib" in out  # the heartbeat with the log's line
    assert "[test]   done in" in out
    assert out.rstrip().endswith("after the step")
    assert (tmp_path / "demo.log").read_text() == "compiling dlib\nlinked\n"


def test_a_failed_step_stops_with_its_log(tmp_path: Path) -> None:
    done = run_step(tmp_path, "sh -c 'echo cmake: no compiler found; exit 3'")
    assert done.returncode == 3
    assert "error: 'a long step' failed (exit 3). The end of demo.log:" in done.stderr
    assert "cmake: no compiler found" in done.stderr
    assert "after the step" not in done.stdout


def changed_suites(tmp_path: Path, *paths: str) -> str:
    """`script/test --changed --list` in a throwaway repository where `paths` changed."""
    repo = tmp_path / f"repo{len(list(tmp_path.iterdir()))}"
    (repo / "script").mkdir(parents=True)
    (repo / "script" / "test").write_text((REPO / "script" / "test").read_text())
    git = ["git", "-C", str(repo), "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "start"], check=True)
    for path in paths:
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text("changed\n")
    done = subprocess.run(
        ["bash", str(repo / "script" / "test"), "--changed", "--list"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout.split("-> ", 1)[1].strip()


def test_only_the_suites_a_change_can_break(tmp_path: Path) -> None:
    assert changed_suites(tmp_path, "docs/head.md") == "lint"
    assert changed_suites(tmp_path, "tests/satellite/test_x.py") == "lint satellite"
    assert changed_suites(tmp_path, "satellite/milo_satellite/x.py") == "lint satellite ha e2e"
    assert changed_suites(tmp_path, "wyoming_services/x.py", "demo/y.py") == (
        "lint services ha e2e"
    )
    assert changed_suites(tmp_path, "pyproject.toml") == "lint services satellite ha e2e"
