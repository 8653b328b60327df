"""API keys: hashes only, every stored hash compared, principals ``key:<name>``, key files."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import pytest

from only1mcp.auth.keys import ApiKeys, load_api_keys
from only1mcp.config import load_config
from only1mcp.config.auth import ApiKeyConfig, AuthConfig, hash_key
from only1mcp.errors import ConfigError

from .idp import SigningKey

ALICE = "alice-key-0123456789abcdef"
BOB = "bob-key-0123456789abcdef"


def test_a_key_finds_its_principal_and_roles() -> None:
    keys = ApiKeys(
        [
            ApiKeyConfig(name="alice", hash=hash_key(ALICE), roles=["dev"]),
            ApiKeyConfig.model_validate({"name": "bob", "key": BOB, "roles": ["viewer"]}),
        ]
    )
    alice = keys.find(ALICE)
    assert alice is not None and alice.id == "key:alice" and alice.roles == {"dev"}
    bob = keys.find(BOB)
    assert bob is not None and bob.id == "key:bob"
    assert keys.find(ALICE[:-1]) is None
    assert keys.find("") is None


def test_the_clear_key_is_not_kept() -> None:
    entry = ApiKeyConfig.model_validate({"name": "bob", "key": BOB})
    assert entry.hash == "sha256:" + hashlib.sha256(BOB.encode()).hexdigest()
    assert BOB not in repr(entry) and BOB not in entry.model_dump_json()


def test_every_stored_hash_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    # No early exit: a match on the first key still compares the others (with compare_digest).
    calls: list[bytes] = []
    real = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        calls.append(b)
        return real(a, b)

    monkeypatch.setattr("only1mcp.auth.keys.hmac.compare_digest", counting)
    keys = ApiKeys(
        [ApiKeyConfig(name=f"k{n}", hash=hash_key(f"key-number-{n:08}")) for n in range(5)]
    )
    assert keys.find("key-number-00000000") is not None
    assert len(calls) == 5


def write(tmp_path: Path, text: str, name: str = "only1mcp.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_keys_from_a_file_relative_to_the_config(tmp_path: Path) -> None:
    write(tmp_path, f"- {{name: carol, hash: '{hash_key(ALICE)}', roles: [ops]}}\n", "keys.yaml")
    config = write(
        tmp_path,
        "servers: {a: {command: x}}\nauth: {modes: [api_key], api_keys_file: keys.yaml}\n",
    )
    cfg = load_config(config)
    keys = load_api_keys(cfg.auth, cfg.source)
    carol = keys.find(ALICE)
    assert carol is not None and carol.id == "key:carol" and carol.roles == {"ops"}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read"),
        ("- {name: x, hash: 'md5:00'}\n", "sha256"),
        ("- {name: x, hash: 'sha256:" + "0" * 64 + "', colour: red}\n", "colour"),
        (": : :\n", "not YAML"),
    ],
)
def test_a_bad_key_file_names_the_key(tmp_path: Path, content: str | None, message: str) -> None:
    if content is not None:
        write(tmp_path, content, "keys.yaml")
    auth = AuthConfig(modes=["api_key"], api_keys_file="keys.yaml")
    with pytest.raises(ConfigError) as info:
        load_api_keys(auth, str(tmp_path / "only1mcp.yaml"))
    assert info.value.key.startswith("auth.api_keys_file")
    assert message in str(info.value)


def test_a_key_named_twice_across_config_and_file(tmp_path: Path) -> None:
    write(tmp_path, f"- {{name: alice, hash: '{hash_key(BOB)}'}}\n", "keys.yaml")
    auth = AuthConfig(
        modes=["api_key"],
        api_keys=[ApiKeyConfig(name="alice", hash=hash_key(ALICE))],
        api_keys_file="keys.yaml",
    )
    with pytest.raises(ConfigError, match="given twice"):
        load_api_keys(auth, str(tmp_path / "only1mcp.yaml"))


def test_validate_reads_the_files_auth_names(tmp_path: Path, rsa_key: SigningKey) -> None:
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
    )
    from typer.testing import CliRunner

    from only1mcp.cli import app

    private = rsa_key.private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    (tmp_path / "private.pem").write_bytes(private)
    (tmp_path / "public.pem").write_bytes(rsa_key.public_pem())
    jwt = "modes: [jwt], jwt: {issuer: i, key_file: "
    cases = [
        ("modes: [api_key], api_keys_file: missing.yaml", "auth.api_keys_file", 2),
        (jwt + "private.pem}", "auth.jwt.key_file", 2),
        (jwt + "public.pem}", "ok", 0),
    ]
    for auth, expected, code in cases:
        config = write(tmp_path, "servers: {a: {command: x}}\nauth: {" + auth + "}\n")
        result = CliRunner().invoke(app, ["validate", str(config)])
        assert result.exit_code == code, result.output
        assert expected in result.output
