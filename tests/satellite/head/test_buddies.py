"""The buddy file: private, atomic, and never wiped because it could not be read."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
import stat

import numpy as np
import pytest

from milo_satellite.head.buddies import MAX_ENCODINGS_PER_BUDDY, BuddyDatabase
from milo_satellite.head.errors import HeadError

RNG = np.random.default_rng(1)


def encodings(count: int = 3) -> np.ndarray:
    return RNG.normal(0, 0.1, (count, 128))


def test_saved_private_and_reloaded(tmp_path: Path) -> None:
    path = tmp_path / "milo" / "buddies.json"
    buddies = BuddyDatabase(path)
    buddies.load()
    jay = encodings()
    buddies.add("Jay", jay)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) & 0o077 == 0
    again = BuddyDatabase(path)
    again.load()
    assert again.names == ["Jay"]
    np.testing.assert_allclose(again.encodings("Jay"), jay, atol=1e-8)
    assert again.match(jay[0]) == ("Jay", pytest.approx(0.0, abs=1e-6))


def test_existing_file_with_loose_mode_is_tightened_on_save(tmp_path: Path) -> None:
    path = tmp_path / "buddies.json"
    path.write_text(json.dumps({"version": 1, "buddies": {}}))
    path.chmod(0o644)
    buddies = BuddyDatabase(path)
    buddies.load()
    buddies.add("Jay", encodings())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_failed_write_leaves_the_old_file_and_no_debris(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "buddies.json"
    buddies = BuddyDatabase(path)
    buddies.add("Jay", encodings())
    before = path.read_bytes()

    def power_cut(*_args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", power_cut)
    with pytest.raises(HeadError, match="Could not save"):
        buddies.add("Ann", encodings())
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["buddies.json"]
    assert buddies.names == ["Jay"]  # memory matches the file


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        json.dumps({"version": 2, "buddies": {}}),
        json.dumps({"version": 1, "buddies": {"Jay": [[0.1] * 127]}}),
        json.dumps({"version": 1, "buddies": {"Jay": [[0.1] * 128, [0.2] * 3]}}),
        json.dumps({"version": 1, "buddies": {"stranger": [[0.1] * 128]}}),
        json.dumps({"version": 1, "buddies": []}),
        "\x00\x01binary",
    ],
)
def test_corrupt_file_is_refused_logged_and_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, content: str
) -> None:
    path = tmp_path / "buddies.json"
    path.write_text(content)
    buddies = BuddyDatabase(path)
    with caplog.at_level(logging.ERROR):
        buddies.load()
    assert buddies.error is not None
    assert str(path) in caplog.text
    assert "NOT loaded" in caplog.text
    assert buddies.names == []
    with pytest.raises(HeadError, match="corrupt"):
        buddies.add("Jay", encodings())
    with pytest.raises(HeadError, match="corrupt"):
        buddies.remove("Jay")
    assert path.read_text() == content


def test_oversized_file_is_refused_without_reading_it(tmp_path: Path) -> None:
    path = tmp_path / "buddies.json"
    with path.open("wb") as handle:
        handle.truncate(9 * 1024 * 1024)
    buddies = BuddyDatabase(path)
    buddies.load()
    assert buddies.error is not None
    assert "larger than" in buddies.error


def test_names_are_checked(tmp_path: Path) -> None:
    buddies = BuddyDatabase(tmp_path / "b.json")
    for bad in ["", "   ", "Stranger", "x" * 65, "tab\there"]:
        with pytest.raises(HeadError):
            buddies.add(bad, encodings())
    buddies.add("  Jay  ", encodings())
    assert buddies.names == ["Jay"]


def test_forget_is_case_insensitive_and_unknown_names_say_so(tmp_path: Path) -> None:
    buddies = BuddyDatabase(tmp_path / "b.json")
    buddies.add("Jay", encodings())
    buddies.add("Ann", encodings())
    buddies.remove("jay")
    assert buddies.names == ["Ann"]
    with pytest.raises(HeadError, match="no buddy called 'Bob'"):
        buddies.remove("Bob")


def test_enrolling_again_adds_encodings_up_to_a_cap(tmp_path: Path) -> None:
    buddies = BuddyDatabase(tmp_path / "b.json")
    buddies.add("Jay", encodings(5))
    buddies.add("JAY", encodings(5))
    assert buddies.names == ["Jay"]
    assert len(buddies.encodings("Jay")) == 10
    buddies.add("Jay", encodings(30))
    assert len(buddies.encodings("Jay")) == MAX_ENCODINGS_PER_BUDDY
