"""The one exception the head raises at its public surface."""

from __future__ import annotations


class HeadError(Exception):
    """A head operation failed; the message is meant for the user (HA shows it)."""
