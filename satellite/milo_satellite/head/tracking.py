"""Faces across frames: tracks that keep their identity, and which one the head follows.

Detections are matched to tracks by overlap (or, for fast movement, by how near the centre
is relative to the face size), so a face keeps its track and its recognised name while
it moves. A track must be seen twice before it counts (one-frame false positives of the
cascade never move the head) and survives short misses (a blink, a turned head).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
import math

from .config import RecognitionConfig
from .detect import Box
from .state import STRANGER

CONFIRM_HITS = 2
_MIN_IOU = 0.2
_MAX_CENTRE_JUMP = 1.0  # in face widths
_MAX_SIZE_RATIO = 1.5


@dataclass
class Identity:
    """What recognition concluded about a track."""

    name: str  # buddy name or "stranger"
    distance: float  # to the nearest buddy encoding (inf with no buddies)
    sure: bool


@dataclass
class Track:
    """One face followed over time."""

    id: int
    box: Box
    first_seen: float
    last_seen: float
    hits: int = 1
    identity: Identity | None = None
    attempts: int = 0
    last_attempt: float = -math.inf
    pending: bool = False  # a recognition for it is in flight

    @property
    def confirmed(self) -> bool:
        return self.hits >= CONFIRM_HITS

    @property
    def name(self) -> str:
        """Buddy name, "stranger", or "" while not yet recognised."""
        return self.identity.name if self.identity is not None else ""

    @property
    def is_buddy(self) -> bool:
        return self.identity is not None and self.identity.name != STRANGER

    def needs_recognition(self, now: float, config: RecognitionConfig) -> bool:
        """New tracks; unsure ones now and then until the attempts run out; sure ones rarely.

        The rare re-check of a sure identity catches one person taking another's place
        without the track noticing.
        """
        if self.pending or not self.confirmed:
            return False
        if self.identity is None:
            return True
        since = now - self.last_attempt
        if self.identity.sure:
            return since >= config.verify_s
        return self.attempts < config.max_attempts and since >= config.retry_s

    def adopt(self, identity: Identity) -> None:
        """Take a recognition result; among unsure ones the closest match is kept."""
        old = self.identity
        keep_old = (
            old is not None
            and not old.sure
            and not identity.sure
            and old.distance <= identity.distance
        )
        if not keep_old:
            if old is not None and old.sure and not identity.sure:
                self.attempts = 1  # a sure identity became doubtful: retry from scratch
            self.identity = identity


@dataclass
class Tracker:
    """Greedy frame-to-frame association; tracks unseen for `lost_after_s` are dropped."""

    lost_after_s: float
    tracks: list[Track] = field(default_factory=list)
    _next_id: int = 1

    def update(self, boxes: Iterable[Box], now: float) -> list[Track]:
        candidates = list(boxes)
        pairs = sorted(
            (
                (_match_cost(track.box, box), t_index, b_index)
                for t_index, track in enumerate(self.tracks)
                for b_index, box in enumerate(candidates)
            ),
            key=lambda pair: pair[0],
        )
        used_tracks: set[int] = set()
        used_boxes: set[int] = set()
        for cost, t_index, b_index in pairs:
            if cost >= 1.0 or t_index in used_tracks or b_index in used_boxes:
                continue
            track = self.tracks[t_index]
            track.box = candidates[b_index]
            track.last_seen = now
            track.hits += 1
            used_tracks.add(t_index)
            used_boxes.add(b_index)
        for b_index, box in enumerate(candidates):
            if b_index not in used_boxes:
                self.tracks.append(Track(self._next_id, box, now, now))
                self._next_id += 1
        self.tracks = [t for t in self.tracks if now - t.last_seen <= self.lost_after_s]
        return self.visible()

    def visible(self) -> list[Track]:
        """Confirmed tracks (seen recently enough to still be alive)."""
        return [t for t in self.tracks if t.confirmed]

    def shift(self, move: Callable[[Box], Box]) -> None:
        """Move every track's box to where it is expected now (the camera turned)."""
        for track in self.tracks:
            track.box = move(track.box)

    def get(self, track_id: int) -> Track | None:
        return next((t for t in self.tracks if t.id == track_id), None)

    def forget_identities(self) -> None:
        """After the buddy list changes, everyone is looked at again."""
        for track in self.tracks:
            track.identity = None
            track.attempts = 0
            track.last_attempt = -math.inf


def _match_cost(old: Box, new: Box) -> float:
    """0 is a perfect match; >= 1 means "not the same face"."""
    size_ratio = max(old.w, new.w) / max(1.0, min(old.w, new.w))
    if size_ratio > _MAX_SIZE_RATIO:  # nobody changes distance that fast: someone else
        return 1.0
    overlap = old.iou(new)
    if overlap >= _MIN_IOU:
        return 1.0 - overlap
    (ox, oy), (nx, ny) = old.centre, new.centre
    jump = math.hypot(nx - ox, ny - oy) / max(old.w, new.w, 1.0)
    if jump > _MAX_CENTRE_JUMP:
        return 1.0
    return 0.8 + 0.19 * jump / _MAX_CENTRE_JUMP


def select_target(tracks: list[Track], current_id: int | None) -> Track | None:
    """Keep following the current face; otherwise a buddy; otherwise the largest face."""
    if not tracks:
        return None
    for track in tracks:
        if track.id == current_id:
            return track
    buddies = [t for t in tracks if t.is_buddy]
    pool = buddies or tracks
    return max(pool, key=lambda t: (t.box.area, -t.id))
