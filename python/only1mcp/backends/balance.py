"""Load-balancing strategies of a replica pool, on the Rust pickers and hash ring.

A picker chooses among *candidates*: the indices of the replicas that may take a request now
(up, healthy, breaker not open), never empty. Strategies that count requests in flight are told
when each one ends (:meth:`Picker.release`).
"""

from __future__ import annotations

import weakref
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

import orjson

from only1mcp._core import HashRing, LeastConnections, RoundRobin, WeightedRandom
from only1mcp.config.policies import Strategy

if TYPE_CHECKING:
    from only1mcp.session import Session
    from only1mcp.types import JsonObject

    Params = JsonObject | None


class Picker(ABC):
    def __init__(self, weights: list[int], labels: list[str]) -> None:
        self.weights = weights
        self.labels = labels

    @abstractmethod
    def pick(
        self, candidates: list[int], session: Session | None, params: JsonObject | None
    ) -> int:
        """The index of the replica for one request."""

    def release(self, index: int) -> None:  # noqa: B027 (only counting strategies care)
        """The request given to replica ``index`` is over."""


class RoundRobinPicker(Picker):
    def __init__(self, weights: list[int], labels: list[str]) -> None:
        super().__init__(weights, labels)
        self._next = RoundRobin(len(weights))

    def pick(
        self, candidates: list[int], session: Session | None, params: JsonObject | None
    ) -> int:
        # The counter keeps turning over every slot, so skipping a down replica does not
        # send its share to one neighbour only.
        for _ in range(len(self.weights)):
            index = self._next.next()
            if index in candidates:
                return index
        return candidates[0]


class LeastConnectionsPicker(Picker):
    def __init__(self, weights: list[int], labels: list[str]) -> None:
        super().__init__(weights, labels)
        self._load = LeastConnections(len(weights))

    def pick(
        self, candidates: list[int], session: Session | None, params: JsonObject | None
    ) -> int:
        return self._load.acquire_among(candidates)

    def release(self, index: int) -> None:
        self._load.release(index)


class WeightedRandomPicker(Picker):
    def __init__(self, weights: list[int], labels: list[str]) -> None:
        super().__init__(weights, labels)
        # One sampler per set of candidates: the full set almost always, a few while down.
        self._samplers: dict[tuple[int, ...], WeightedRandom] = {}

    def pick(
        self, candidates: list[int], session: Session | None, params: JsonObject | None
    ) -> int:
        key = tuple(candidates)
        sampler = self._samplers.get(key)
        if sampler is None:
            sampler = WeightedRandom([self.weights[i] for i in candidates])
            self._samplers[key] = sampler
        return candidates[sampler.pick()]


class HashPicker(Picker):
    """consistent_hash: the ring owner of the request's key among the candidates.

    Ring members are the replicas' labels (command line or URL), not their positions, so
    reordering or extending ``replicas`` moves only the keys of the replicas that changed.
    """

    def __init__(self, weights: list[int], labels: list[str], hash_key: str) -> None:
        super().__init__(weights, labels)
        self.source, _, self.field = hash_key.partition(":")
        self.field = self.field.lower() if self.source == "header" else self.field
        self._index = {label: i for i, label in enumerate(labels)}
        self._rings: dict[tuple[int, ...], HashRing] = {}

    def ring(self, candidates: list[int]) -> HashRing:
        key = tuple(candidates)
        ring = self._rings.get(key)
        if ring is None:
            ring = HashRing()
            for index in candidates:
                ring.add(self.labels[index], self.weights[index])
            self._rings[key] = ring
        return ring

    def key(self, session: Session | None, params: Params) -> str:
        """The request's hash key; the session id when the header or argument is missing."""
        value: Any = None
        if self.source == "header" and session is not None:
            value = session.hash_headers.get(self.field)
        elif self.source == "argument" and params is not None:
            arguments = params.get("arguments")
            value = arguments.get(self.field) if isinstance(arguments, dict) else None
        if value is None:
            return session.id if session is not None else ""
        return value if isinstance(value, str) else orjson.dumps(value).decode()

    def pick(
        self, candidates: list[int], session: Session | None, params: JsonObject | None
    ) -> int:
        owner = self.ring(candidates).get(self.key(session, params))
        return self._index[owner] if owner is not None else candidates[0]


class StickyPicker(LeastConnectionsPicker):
    """A session keeps the replica it was first given (the least loaded then) while that one
    can serve; a new one is chosen the same way when it cannot."""

    def __init__(self, weights: list[int], labels: list[str]) -> None:
        super().__init__(weights, labels)
        self._homes: weakref.WeakKeyDictionary[Session, int] = weakref.WeakKeyDictionary()

    def pick(
        self, candidates: list[int], session: Session | None, params: JsonObject | None
    ) -> int:
        home = self._homes.get(session) if session is not None else None
        if home is not None and home in candidates:
            self._load.acquire_among([home])
            return home
        index = super().pick(candidates, session, params)
        if session is not None:
            self._homes[session] = index
        return index


def make_picker(
    strategy: Strategy, weights: list[int], labels: list[str], hash_key: str | None
) -> Picker:
    if strategy is Strategy.CONSISTENT_HASH:
        return HashPicker(weights, labels, hash_key or "session")
    pickers: dict[Strategy, type[Picker]] = {
        Strategy.ROUND_ROBIN: RoundRobinPicker,
        Strategy.LEAST_CONNECTIONS: LeastConnectionsPicker,
        Strategy.WEIGHTED_RANDOM: WeightedRandomPicker,
        Strategy.STICKY: StickyPicker,
    }
    return pickers[strategy](weights, labels)
