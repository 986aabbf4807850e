"""Cluster mode: several servers acting as one chat, linked through Redis.

``RedisLink`` is a node's link to Redis as a sans-IO state machine (see
``link.py`` for how a backend drives it); ``scripts`` holds the Lua scripts
that keep the cluster's shared state in Redis, and ``names`` where it lives.
Replies are parsed by hiredis (the ``cluster`` extra).
"""

from ._actions import Connect, Disconnect, LinkAction, Role, Write
from ._events import (
    LinkDown,
    LinkEvent,
    LinkInterrupted,
    LinkUp,
    Message,
    Reply,
    RequestFailed,
    RequestId,
    Subscribed,
    Unsubscribed,
)
from ._resp import ErrorReply, RespValue, encode_command
from ._script import Script
from ._url import DEFAULT_PORT, RedisAddress, RedisUrlError, parse_redis_url
from .link import LinkConfig, LinkState, LinkTransport, RedisLink, carry_out

__all__ = [
    "DEFAULT_PORT",
    "Connect",
    "Disconnect",
    "ErrorReply",
    "LinkAction",
    "LinkConfig",
    "LinkDown",
    "LinkEvent",
    "LinkInterrupted",
    "LinkState",
    "LinkTransport",
    "LinkUp",
    "Message",
    "RedisAddress",
    "RedisLink",
    "RedisUrlError",
    "Reply",
    "RequestFailed",
    "RequestId",
    "RespValue",
    "Role",
    "Script",
    "Subscribed",
    "Unsubscribed",
    "Write",
    "carry_out",
    "encode_command",
    "parse_redis_url",
]
