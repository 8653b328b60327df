"""``front.state_keys`` rotated across a cluster as docs/scaling.md says (add the new key
second → roll → move it first → roll → drop the old one after the state TTL): at every step
the processes of neighbouring steps run side by side, and each opens what any of them
sealed, including a state sealed before the rotation began."""

from __future__ import annotations

import itertools

import pytest

from only1mcp.bridge.state import Claims, StateSealer
from only1mcp.errors import InvalidParams

OLD = "old-state-key-0123456789abcdef0123"
NEW = "new-state-key-0123456789abcdef0123"
STEPS = [[OLD], [OLD, NEW], [NEW, OLD], [NEW]]


def test_every_step_opens_what_its_neighbours_seal() -> None:
    claims = Claims(method="tools/call", target="fx__ask", call="c1", round=1)
    before = StateSealer(STEPS[0]).seal(claims)
    for rolled, next_step in itertools.pairwise(STEPS):
        side_by_side = [StateSealer(rolled), StateSealer(next_step)]
        for sealer in side_by_side:
            token = sealer.seal(claims)
            assert all(other.open(token) == claims for other in side_by_side)
    # a state from before the rotation still opens while the old key is in the ring
    assert StateSealer(STEPS[2]).open(before) == claims


def test_the_old_key_dropped_refuses_its_states() -> None:
    before = StateSealer([OLD]).seal(Claims(method="tools/call"))
    with pytest.raises(InvalidParams):
        StateSealer([NEW]).open(before)  # why the last step waits out the state TTL
