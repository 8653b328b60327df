"""A real OpenID provider for the security tests: ``tools/idp/server.mjs`` (panva's certified
``oidc-provider`` on the Node 22 that ``make idp-deps`` installs).

:func:`running_idp` generates two RSA signing keys (``k1`` signs first, ``k2`` after a rotation),
starts the provider on a free loopback port and waits for its discovery document. The handle
gets tokens with the client-credentials grant (RFC 8707 ``resource`` → ``aud``), introspects and
revokes them, rotates the signing key, and can sign a token with the provider's own private key
so a test can change one claim at a time (expired, ``nbf`` ahead, wrong ``iss``...).
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

REPO_ROOT = Path(__file__).resolve().parents[2]
IDP_DIR = REPO_ROOT / "tools" / "idp"
NODE = IDP_DIR / "node_modules" / ".bin" / "node"
SERVER = IDP_DIR / "server.mjs"
KIDS = ("k1", "k2")
STARTUP_DEADLINE = 30.0
READY_MARK = "READY "
ANY_LOOPBACK_RESOURCE = "http://127.0.0.1:*"
"""What the provider is told to admit as ``resource``: every test's aggregator has its own port."""


@dataclass(frozen=True)
class IdpClient:
    """A client registered at the provider, and what its tokens carry."""

    client_id: str
    secret: str
    scope: str
    claims: Mapping[str, Any] = field(default_factory=dict)
    format: str = "jwt"

    def registration(self) -> dict[str, Any]:
        """The entry ``server.mjs --clients`` reads."""
        return {
            "client_id": self.client_id,
            "client_secret": self.secret,
            "scope": self.scope,
            "claims": dict(self.claims),
            "format": self.format,
        }


#: ``alice`` is a developer who passed MFA, ``bob`` a viewer with a password only, ``carol`` a
#: client with no role at all; ``alice-opaque`` gets opaque tokens (only introspection can check
#: them); ``only1mcp`` is the resource server's own client (for the introspection endpoint).
CLIENTS: dict[str, IdpClient] = {
    c.client_id: c
    for c in (
        IdpClient(
            "alice",
            "alice-secret",
            "tools.read git.write",
            {"roles": ["dev"], "amr": ["pwd", "mfa"], "acr": "urn:only1mcp:mfa"},
        ),
        IdpClient("bob", "bob-secret", "tools.read", {"roles": ["viewer"], "amr": ["pwd"]}),
        IdpClient("carol", "carol-secret", "", {}),
        IdpClient(
            "alice-opaque",
            "alice-opaque-secret",
            "tools.read git.write",
            {"roles": ["dev"]},
            "opaque",
        ),
        IdpClient("only1mcp", "only1mcp-secret", ""),
    )
}


class IdpError(AssertionError):
    """The provider refused or failed a request a test expected to succeed."""


def signing_keys() -> dict[str, rsa.RSAPrivateKey]:
    """A fresh RSA-2048 key per kid."""
    return {kid: rsa.generate_private_key(public_exponent=65537, key_size=2048) for kid in KIDS}


def private_jwks(keys: Mapping[str, rsa.RSAPrivateKey]) -> dict[str, Any]:
    """The ``--keys`` file: every key as a private RS256 signing JWK."""
    entries = []
    for kid, key in keys.items():
        entry = json.loads(RSAAlgorithm.to_jwk(key))
        entry.update(kid=kid, use="sig", alg="RS256")
        entries.append(entry)
    return {"keys": entries}


class IdentityProvider:
    """A running ``server.mjs``: its issuer, its keys, and a client of its endpoints."""

    def __init__(
        self, proc: subprocess.Popen[bytes], issuer: str, keys: dict[str, rsa.RSAPrivateKey]
    ) -> None:
        self.proc = proc
        self.issuer = issuer
        self.keys = keys
        self.http = httpx.Client(timeout=10.0)
        self.metadata: dict[str, Any] = {}

    # ------------------------------------------------------------------ endpoints

    @property
    def jwks_uri(self) -> str:
        return f"{self.issuer}/jwks"

    @property
    def token_endpoint(self) -> str:
        return f"{self.issuer}/token"

    @property
    def introspection_endpoint(self) -> str:
        return f"{self.issuer}/token/introspection"

    @property
    def revocation_endpoint(self) -> str:
        return f"{self.issuer}/token/revocation"

    def discovery(self) -> dict[str, Any]:
        """``/.well-known/openid-configuration``."""
        doc: dict[str, Any] = self._json(
            self.http.get(f"{self.issuer}/.well-known/openid-configuration")
        )
        return doc

    def jwks(self) -> dict[str, Any]:
        """The published key set (public keys only)."""
        doc: dict[str, Any] = self._json(self.http.get(self.jwks_uri))
        return doc

    # ------------------------------------------------------------------ tokens

    def token_response(
        self, client: str = "alice", scope: str | None = None, resource: str | None = None
    ) -> httpx.Response:
        """The raw answer of the token endpoint to a client-credentials request."""
        entry = CLIENTS[client]
        form = {"grant_type": "client_credentials"}
        if scope is not None:
            form["scope"] = scope
        if resource is not None:
            form["resource"] = resource
        return self.http.post(self.token_endpoint, data=form, auth=(entry.client_id, entry.secret))

    def token(
        self, client: str = "alice", scope: str | None = None, resource: str | None = None
    ) -> str:
        """An access token for ``client`` (``scope`` defaults to all the client may ask for)."""
        wanted = CLIENTS[client].scope if scope is None else scope
        body = self._json(self.token_response(client, wanted or None, resource))
        value: str = body["access_token"]
        return value

    def introspect(self, token: str, client: str = "only1mcp") -> dict[str, Any]:
        """RFC 7662 introspection of ``token``, authenticated as ``client``."""
        entry = CLIENTS[client]
        answer: dict[str, Any] = self._json(
            self.http.post(
                self.introspection_endpoint,
                data={"token": token},
                auth=(entry.client_id, entry.secret),
            )
        )
        return answer

    def revoke(self, token: str, client: str) -> None:
        """RFC 7009 revocation of ``token`` by the client it was issued to."""
        entry = CLIENTS[client]
        resp = self.http.post(
            self.revocation_endpoint, data={"token": token}, auth=(entry.client_id, entry.secret)
        )
        if resp.status_code != 200:
            raise IdpError(f"revocation refused: {resp.status_code} {resp.text}")

    # ------------------------------------------------------------------ keys

    def rotate(self) -> str:
        """Sign with the next key from now on (it is published too); return its kid."""
        state = self._json(self.http.post(f"{self.issuer}/_control/rotate"))
        kid: str = state["signing_kid"]
        return kid

    def state(self) -> dict[str, Any]:
        """``{"signing_kid": ..., "published": [...], "jwks_fetches": n}`` (``n``: the key set
        served so far)."""
        doc: dict[str, Any] = self._json(self.http.get(f"{self.issuer}/_control/state"))
        return doc

    def sign(
        self,
        claims: Mapping[str, Any],
        kid: str = "k1",
        headers: Mapping[str, Any] | None = None,
    ) -> str:
        """A token signed RS256 by the provider's own key ``kid``: what the provider would
        issue with exactly ``claims``, for tests that change one claim at a time."""
        return jwt.encode(
            dict(claims),
            self.keys[kid],
            algorithm="RS256",
            headers={"kid": kid, "typ": "at+jwt", **(headers or {})},
        )

    def claims(self, client: str, resource: str, **changes: Any) -> dict[str, Any]:
        """The claims of a token the provider would issue ``client`` for ``resource`` now, with
        ``changes`` applied (a value of ``None`` removes the claim)."""
        now = int(time.time())
        entry = CLIENTS[client]
        base: dict[str, Any] = {
            **entry.claims,
            "iss": self.issuer,
            "sub": client,
            "client_id": client,
            "aud": resource,
            "iat": now,
            "exp": now + 600,
            "jti": f"forged-{time.monotonic_ns()}",
            "scope": entry.scope,
        }
        base.update(changes)
        return {key: value for key, value in base.items() if value is not None}

    # ------------------------------------------------------------------ plumbing

    @staticmethod
    def _json(resp: httpx.Response) -> Any:
        if resp.status_code != 200:
            raise IdpError(
                f"{resp.request.method} {resp.request.url}: {resp.status_code} {resp.text}"
            )
        return resp.json()

    def close(self) -> None:
        self.http.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


def _wait_ready(proc: subprocess.Popen[bytes], out: Path, log: Path) -> str:
    """The issuer the provider announces on stdout, once it serves its discovery document."""
    end = time.monotonic() + STARTUP_DEADLINE
    issuer = ""
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise IdpError(f"the identity provider exited with {proc.returncode}:\n{_tail(log)}")
        if not issuer:
            for line in out.read_text().splitlines():
                if line.startswith(READY_MARK):
                    issuer = json.loads(line[len(READY_MARK) :])["issuer"]
        if issuer:
            with contextlib.suppress(httpx.HTTPError):
                resp = httpx.get(f"{issuer}/.well-known/openid-configuration", timeout=2.0)
                if resp.status_code == 200:
                    return issuer
        time.sleep(0.05)
    raise IdpError(f"the identity provider was not ready in {STARTUP_DEADLINE}s:\n{_tail(log)}")


def _tail(path: Path) -> str:
    with contextlib.suppress(OSError):
        return path.read_text(errors="replace")[-4000:]
    return f"<no log at {path}>"


@contextlib.contextmanager
def running_idp(workdir: Path) -> Iterator[IdentityProvider]:
    """Start ``server.mjs`` with fresh keys in ``workdir``; stopped on exit."""
    if not NODE.exists():
        raise IdpError(f"{NODE} is missing: run `make idp-deps`")
    workdir.mkdir(parents=True, exist_ok=True)
    keys = signing_keys()
    keys_file = workdir / "keys.json"
    keys_file.write_text(json.dumps(private_jwks(keys)))
    clients_file = workdir / "clients.json"
    clients_file.write_text(json.dumps([c.registration() for c in CLIENTS.values()]))
    out, log = workdir / "idp.out", workdir / "idp.log"
    argv = [str(NODE), str(SERVER), "--keys", str(keys_file), "--clients", str(clients_file)]
    argv += ["--resource", ANY_LOOPBACK_RESOURCE]
    with out.open("wb") as stdout, log.open("wb") as stderr:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr)
    try:
        provider = IdentityProvider(proc, _wait_ready(proc, out, log), keys)
    except BaseException:
        proc.kill()
        proc.wait(timeout=10)
        raise
    try:
        provider.metadata = provider.discovery()
        yield provider
    finally:
        provider.close()
