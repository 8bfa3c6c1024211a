"""Speculative transcripts for whoever asks: the head start an agent needs to answer sooner.

milo-stt transcribes 0.22 s into a pause (see `handler`), but Home Assistant hands the
transcript to the conversation agent only when the turn has ended, a second or so later.
Milo's integration subscribes here to learn the words as soon as they are known, and starts
the model on them (`custom_components/milo/speculation.py`).

A connection that sends `milo-subscribe` is answered `milo-subscribed` and then receives,
for every request on this milo-stt:

- `milo-speculative` `{"text", "stt_session"}`: the transcript the request will get if the
  speaker says nothing more (a later one for the same `stt_session` replaces it);
- `milo-speculative-dropped` `{"stt_session"}`: the speaker went on, or the request ended
  another way; the transcript published for it will not be the request's.

A subscriber must send something (`ping`) within the server's idle timeout, like any
client. One that does not read its events falls `MAX_BACKLOG` behind and is disconnected:
a request never waits for a subscriber.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
import logging

from wyoming.event import Event

_LOGGER = logging.getLogger(__name__)

SUBSCRIBE_EVENT = "milo-subscribe"
SUBSCRIBED_EVENT = "milo-subscribed"
SPECULATIVE_EVENT = "milo-speculative"
DROPPED_EVENT = "milo-speculative-dropped"
# Events a subscriber may be behind: a few per request, so only a stuck reader gets there.
MAX_BACKLOG = 64


def speculative(text: str, stt_session: str) -> Event:
    return Event(SPECULATIVE_EVENT, {"text": text, "stt_session": stt_session})


def dropped(stt_session: str) -> Event:
    return Event(DROPPED_EVENT, {"stt_session": stt_session})


@dataclass(eq=False)
class Subscription:
    """One subscriber's events waiting to be sent; `overflow` is called when it falls behind."""

    overflow: Callable[[], None]
    queue: asyncio.Queue[Event] = field(default_factory=lambda: asyncio.Queue(MAX_BACKLOG))


class SpeculationFeed:
    """The subscribers of one milo-stt; every request's handler publishes here."""

    def __init__(self) -> None:
        self._subscriptions: set[Subscription] = set()

    def subscribe(self, overflow: Callable[[], None]) -> Subscription:
        subscription = Subscription(overflow)
        self._subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)

    def publish(self, event: Event) -> None:
        """Queue `event` for every subscriber, never waiting."""
        for subscription in list(self._subscriptions):
            try:
                subscription.queue.put_nowait(event)
            except asyncio.QueueFull:
                _LOGGER.warning("A subscriber is %d events behind; disconnecting it", MAX_BACKLOG)
                self.unsubscribe(subscription)
                subscription.overflow()
