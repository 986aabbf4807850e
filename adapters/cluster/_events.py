"""Events: what the link tells the application (the chat's cluster layer).

Replies come in the order of the requests they answer.  Messages come in the
order Redis delivered them on the subscription connection, which is the
order in which Redis executed their ``PUBLISH`` commands.  Replies and
messages travel on different connections, so no order holds between the two.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._actions import Role
from ._resp import RespValue

#: The link's name for one request: increasing integers, never reused.
RequestId = int


@dataclass(frozen=True, slots=True, kw_only=True)
class Reply:
    """Redis answered ``request``; an error reply is an ``ErrorReply`` value, not a failure."""

    request: RequestId
    value: RespValue


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestFailed:
    """``request`` got no reply and never will.

    ``sent`` tells whether it may have reached Redis: False when the link
    refused it at once (not ready, too many in flight), True when its
    connection broke while it was pending (Redis may or may not have run it).
    """

    request: RequestId
    reason: str
    sent: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """A message published on a channel the application subscribed to."""

    channel: bytes
    data: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class Subscribed:
    """Redis confirmed the subscription asked by ``subscribe(channel)``.

    Every message published to ``channel`` after this point in Redis' order
    is delivered, unless the link is interrupted first: this is the moment
    from which a node may announce something that others will answer on it.
    """

    channel: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class Unsubscribed:
    """The subscription dropped by ``unsubscribe(channel)`` has ended in Redis."""

    channel: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkUp:
    """Both connections are ready and every subscription is confirmed.

    ``run_id`` identifies the Redis process; ``redis_restarted`` says it
    differs from the one of the previous ``LinkUp`` (its keys may be gone or
    come from a stale snapshot).  ``was_down`` says a ``LinkDown`` came since.
    """

    run_id: str
    redis_restarted: bool
    was_down: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkInterrupted:
    """The link was up and a connection broke: from here until the next ``LinkUp``,
    messages published by anyone, and requests in flight, may be lost.

    No user notice yet: the link retries at once, and most breaks heal within
    the grace period.
    """

    role: Role
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkDown:
    """The link has not been up for a whole grace period (or never came up at start)."""

    reason: str


LinkEvent = Reply | RequestFailed | Message | Subscribed | Unsubscribed | LinkUp | LinkInterrupted | LinkDown
