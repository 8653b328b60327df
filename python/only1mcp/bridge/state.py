"""Sealed ``requestState``: what a 2026 client carries between the rounds of one request.

The token is opaque to the client and tamper-proof: AES-256-GCM over a small JSON claim set,
under a key derived (HKDF-SHA256) from an operator secret. ``v1.`` + base64url(kid | nonce |
ciphertext); the prefix and the key id are authenticated too. A key ring lets the newest key
seal while every key still unseals, so secrets can rotate without failing calls in flight.
Every failure reads the same to the client (the reason is only logged), so the token leaks
nothing about why it was refused.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass

import orjson

from only1mcp.errors import InvalidParams
from only1mcp.types import JsonObject

log = logging.getLogger("only1mcp.bridge")

PREFIX = b"v1."
TTL = 600.0  # how long a client may take to answer (the SDK's default too)
_INFO = b"only1mcp request state v1"
_NONCE = 12
_KID = 4


@dataclass(frozen=True)
class Claims:
    """What a sealed state says: the call it is bound to, and where the retry goes.

    The field names are the wire keys too: a token goes out once per round and readable keys
    cost it ~40 bytes, which is not worth a second spelling. The states are short-lived, so a
    change of fields needs no compatibility (an old token is refused like a forged one).
    """

    method: str = ""  # the call it was minted for: method, tool name or URI, arguments digest
    target: str = ""
    arguments: str = ""
    call: str = ""  # a parked bridge call (bridge/calls.py): its id, and which round asked
    round: int = 0
    server: str = ""  # a direct call (bridge/direct.py): the 2026 server that asked,
    inner: object = None  # and the requestState it gave, handed back to it on the retry

    def binds(self, method: str, target: str, arguments: str) -> bool:
        """Whether these claims belong to this call (not to another tool, target or input)."""
        return (self.method, self.target, self.arguments) == (method, target, arguments)


def invalid_state() -> InvalidParams:
    return InvalidParams(
        "Invalid or expired requestState", data={"reason": "invalid_request_state"}
    )


class StateSealer:
    """Seals and opens request-state claims with a key ring (newest first)."""

    def __init__(self, secrets: Sequence[str] = ()) -> None:
        if not secrets:
            log.info(
                "no front.state_keys configured: request states are sealed with a per-process "
                "key, so a retry can only be served by this process"
            )
        self._materials = [s.encode() for s in secrets] or [os.urandom(32)]

    @functools.cached_property
    def _keys(self) -> list[tuple[bytes, bytes]]:
        # Derived on first use: the crypto library costs ~8 MB of resident memory, which a
        # gateway that never meets a 2026 client asking for input does not need to pay.
        return [_derive(material) for material in self._materials]

    def seal(self, claims: Claims, ttl: float = TTL) -> str:
        kid, key = self._keys[0]
        now = int(time.time())
        body = orjson.dumps({**vars(claims), "iat": now, "exp": now + int(ttl)})
        nonce = os.urandom(_NONCE)
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        sealed = AESGCM(key).encrypt(nonce, body, PREFIX + kid)
        return (PREFIX + base64.urlsafe_b64encode(kid + nonce + sealed).rstrip(b"=")).decode()

    def open(self, token: object) -> Claims:
        """The claims of a token this process (or its key ring) sealed, or -32602."""
        try:
            fields = self._open(token)
        except ValueError as exc:
            log.info("refused a requestState: %s", exc)
            raise invalid_state() from None
        fields.pop("iat", None)
        if fields.pop("exp", 0) < time.time():
            log.info("refused a requestState: expired")
            raise invalid_state()
        try:
            return Claims(**fields)
        except TypeError:  # sealed by a version with other fields
            log.info("refused a requestState: unknown claims")
            raise invalid_state() from None

    def _open(self, token: object) -> JsonObject:
        if not isinstance(token, str) or not token.startswith(PREFIX.decode()):
            raise ValueError("not a v1 token")
        try:
            raw = base64.urlsafe_b64decode(token[len(PREFIX) :] + "=" * (-len(token) % 4))
        except ValueError as exc:
            raise ValueError("not base64url") from exc
        kid, nonce, sealed = raw[:_KID], raw[_KID : _KID + _NONCE], raw[_KID + _NONCE :]
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        key = next((k for i, k in self._keys if i == kid), None)
        if key is None:
            raise ValueError("unknown key id")
        try:
            claims = orjson.loads(AESGCM(key).decrypt(nonce, sealed, PREFIX + kid))
        except (InvalidTag, ValueError) as exc:
            raise ValueError("does not authenticate") from exc
        if not isinstance(claims, dict):
            raise ValueError("claims are not an object")
        return claims


def _derive(material: bytes) -> tuple[bytes, bytes]:
    """(key id, AES-256 key) for one secret."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(material)
    return hashlib.sha256(key).digest()[:_KID], key


def digest(value: object) -> str:
    """A short fingerprint of a request's arguments, to bind a state to the call it came from."""
    try:
        canonical = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError as exc:  # orjson parses 1024 levels deep, encodes 254
        raise InvalidParams(f"arguments cannot be encoded: {exc}") from None
    return hashlib.sha256(canonical).hexdigest()[:32]
