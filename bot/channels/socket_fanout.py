"""The web widget's sockets across Rasa servers (docs/scale-out.md).

Rasa's socket.io channel keeps its sockets, and the rooms they joined, in the process that accepted
them. With several Rasa servers a message for a conversation can be produced on a server the widget is
not connected to: an agent's reply (delivered through the balancer to any server, Rasa's
`output_channel=latest`), or the answer to a message of the same customer's other tab. With
CS_REDIS_URL set, the channel's socket.io server uses python-socketio's `AsyncRedisManager`: every emit
is published on Redis (channel `cs-socketio`) and each server emits it to its own sockets in that room.
Without it (one server) nothing changes.
"""
from __future__ import annotations

import logging

log = logging.getLogger(__name__)

CHANNEL = "cs-socketio"


def share_rooms(sio, redis_url: str) -> bool:
    """Give `sio` (a fresh AsyncServer, before its first connection) a Redis client manager when
    `redis_url` is set; True when it did."""
    if not redis_url:
        return False
    from socketio import AsyncRedisManager

    # The manager is started (its Redis listener task) on the server's first connection; until then
    # emits are still published, so a server without widgets of its own still reaches the others'.
    manager = AsyncRedisManager(redis_url, channel=CHANNEL)
    sio.manager = manager
    manager.set_server(sio)
    sio.manager_initialized = False
    log.info("socket.io rooms shared across Rasa servers through Redis")
    return True
