"""Presence: the arrival and departure events automations get, from the faces in view."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from milo_satellite.head.buddies import BuddyDatabase
from milo_satellite.head.detect import Box
from milo_satellite.head.presence import Presence
from milo_satellite.head.tracking import Identity, Track

LEFT_AFTER_S = 5.0


def face(name: str | None, sure: bool = True) -> Track:
    identity = None if name is None else Identity(name, 0.3 if sure else 0.55, sure)
    return Track(1, Box(100, 100, 120, 120), 0.0, 0.0, hits=2, identity=identity)


def presence(tmp_path: Path) -> tuple[Presence, BuddyDatabase, list[tuple[str, str]]]:
    buddies = BuddyDatabase(tmp_path / "buddies.json")
    buddies.add("Eileen", np.zeros((1, 128)))
    events: list[tuple[str, str]] = []
    watcher = Presence(buddies, LEFT_AFTER_S)
    watcher.listeners.add(lambda event, name: events.append((event, name)))
    return watcher, buddies, events


def test_a_buddy_appears_once_and_leaves_after_a_while(tmp_path: Path) -> None:
    watcher, _, events = presence(tmp_path)
    for now in (0.0, 1.0, 2.0):
        watcher.update([face("Eileen")], now, recognising=True)
    assert events == [("appeared", "Eileen")]
    watcher.update([], 2.0 + LEFT_AFTER_S, recognising=True)
    assert events == [("appeared", "Eileen")]  # not yet: unseen for exactly left_after_s
    watcher.update([], 2.1 + LEFT_AFTER_S, recognising=True)
    assert events == [("appeared", "Eileen"), ("left", "Eileen")]


def test_a_forgotten_buddy_leaves_at_once(tmp_path: Path) -> None:
    watcher, buddies, events = presence(tmp_path)
    watcher.update([face("Eileen")], 0.0, recognising=True)
    buddies.remove("Eileen")
    watcher.update([], 0.1, recognising=True)
    assert events == [("appeared", "Eileen"), ("left", "Eileen")]


def test_only_a_sure_stranger_arriving_is_an_event(tmp_path: Path) -> None:
    watcher, _, events = presence(tmp_path)
    watcher.update([face(None), face("stranger", sure=False)], 0.0, recognising=True)
    watcher.update([face("stranger")], 0.0, recognising=False)  # no recognition: all strangers
    assert events == []
    watcher.update([face("stranger")], 1.0, recognising=True)
    watcher.update([face("stranger")], 2.0, recognising=True)
    assert events == [("stranger", "stranger")]
    watcher.update([], 2.0 + LEFT_AFTER_S + 0.1, recognising=True)  # gone: no "left" for them
    watcher.update([face("stranger")], 10.0, recognising=True)
    assert events == [("stranger", "stranger")] * 2


def test_a_failing_listener_does_not_silence_the_others(tmp_path: Path) -> None:
    watcher, _, events = presence(tmp_path)

    def broken(event: str, name: str) -> None:
        raise RuntimeError("automation bug")

    unsubscribe = watcher.listeners.add(broken)
    watcher.listeners.add(lambda event, name: events.append((event, name)))
    watcher.update([face("Eileen")], 0.0, recognising=True)
    assert events == [("appeared", "Eileen")] * 2
    unsubscribe()
    unsubscribe()  # twice is harmless
    watcher.update([], math.inf, recognising=True)
    assert events[-2:] == [("left", "Eileen")] * 2
