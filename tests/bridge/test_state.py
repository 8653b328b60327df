"""Sealed request state: round-trips, refuses tampering, expiry and foreign keys; rotates."""

from __future__ import annotations

import pytest

from only1mcp.bridge.state import Claims, StateSealer, digest
from only1mcp.errors import INVALID_PARAMS, RpcError

X = Claims(call="x")


def _refused(sealer: StateSealer, token: object) -> None:
    with pytest.raises(RpcError) as caught:
        sealer.open(token)
    assert caught.value.code == INVALID_PARAMS
    assert caught.value.data == {"reason": "invalid_request_state"}


def test_claims_round_trip_and_tokens_are_opaque() -> None:
    sealer = StateSealer(["s3cret"])
    claims = Claims("tools/call", "echo", digest({"x": 1}), call="call-1", round=2, inner=[1])
    token = sealer.seal(claims)
    assert token.startswith("v1.") and "call-1" not in token
    assert sealer.open(token) == claims
    assert sealer.seal(X) != sealer.seal(X)  # fresh nonce each time


def test_claims_bind_a_call_by_method_target_and_arguments() -> None:
    claims = Claims("tools/call", "echo", digest({"x": 1}))
    assert claims.binds("tools/call", "echo", digest({"x": 1}))
    assert not claims.binds("tools/call", "other", digest({"x": 1}))
    assert not claims.binds("tools/call", "echo", digest({"x": 2}))


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t + "-TAMPERED",
        lambda t: t[:-2] + ("A" if t[-2] != "A" else "B") + t[-1],
        lambda t: "v2." + t[3:],
        lambda t: t[:10],
        lambda t: 42,
    ],
)
def test_tampering_is_refused(mangle: object) -> None:
    sealer = StateSealer(["s3cret"])
    _refused(sealer, mangle(sealer.seal(X)))  # type: ignore[operator]


def test_expired_and_foreign_tokens_are_refused() -> None:
    sealer = StateSealer(["s3cret"])
    _refused(sealer, sealer.seal(X, ttl=-1))
    _refused(StateSealer(["other"]), sealer.seal(X))
    _refused(StateSealer(), StateSealer().seal(X))  # two ephemeral keys


def test_a_key_ring_unseals_with_old_keys_and_seals_with_the_newest() -> None:
    old = StateSealer(["old"])
    rotated = StateSealer(["new", "old"])
    assert rotated.open(old.seal(X)) == X
    _refused(old, rotated.seal(Claims(call="y")))


def test_argument_digest_ignores_key_order_only() -> None:
    assert digest({"a": 1, "b": [2]}) == digest({"b": [2], "a": 1})
    assert digest({"a": 1}) != digest({"a": 2})
