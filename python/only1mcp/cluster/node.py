"""This process as one node of a cluster: its name, and the channel the others reach it on.

A client's answer to a server→client request may reach any process (the balancer has no
affinity); the request's id names the node that asked (``only1mcp-<node>-<n>``, see
:class:`~only1mcp.relay.Relay`), so the answer is published on that node's channel.
"""

from __future__ import annotations

import logging
import secrets

import orjson

from only1mcp.cluster.store import RedisStore
from only1mcp.types import JsonObject

log = logging.getLogger("only1mcp.cluster")


class Node:
    def __init__(self, store: RedisStore) -> None:
        self.store = store
        # Random rather than host + pid: a restarted process must not inherit a dead one's
        # questions, and the name travels in request ids (no dash: it is split on).
        self.name = secrets.token_hex(4)

    def channel(self, node: str | None = None) -> str:
        """The channel ``node`` (default: this one) listens on."""
        return self.store.key("node", node or self.name)

    async def forward_answer(self, session_id: str, msg: JsonObject) -> None:
        """Hand a client's answer to the node whose question it answers."""
        asked = str(msg.get("id"))
        parts = asked.split("-")
        if len(parts) != 3:
            log.debug("dropped an answer to %r: names no node", asked)
            return
        frame = orjson.dumps({"answer": msg, "session": session_id})
        channel = self.channel(parts[1])
        reached = await self.store.run(lambda client: client.publish(channel, frame))
        if not reached:
            log.warning("the answer to %s found no node %s (gone, or redis down)", asked, parts[1])
