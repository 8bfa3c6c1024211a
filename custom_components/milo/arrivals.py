"""Which buddy sightings at one satellite are arrivals worth a hello (greeting.py says it).

The head fires `appeared` when it recognises a buddy and `left` once it has not seen them
for a few seconds, so a face lost for a moment comes back as left-then-appeared. Only a
buddy away for at least the gap is greeted. A buddy who never left as far as Milo knows
(the satellite restarted while they sat there, and fired `appeared` again) is not. The
first sight since Home Assistant started is greeted: nothing says they were just here.
Pure Python, no Home Assistant, so the rules are tested on their own.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Arrivals:
    """Who is at one satellite now, and when each buddy who went away was last seen."""

    present: set[str] = field(default_factory=set)
    left_at: dict[str, float] = field(default_factory=dict)

    def appeared(self, name: str, now: float, gap: float) -> bool:
        """Record `name` in view at `now` (seconds); whether it is an arrival to greet,
        that is, whether they were away for at least `gap` seconds."""
        key = name.casefold()
        if key in self.present:
            return False
        self.present.add(key)
        last_seen = self.left_at.get(key)
        return last_seen is None or now - last_seen >= gap

    def left(self, name: str, now: float) -> None:
        """Record that `name` was last seen at `now` (seconds)."""
        key = name.casefold()
        self.present.discard(key)
        self.left_at[key] = now
