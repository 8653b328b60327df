"""Keys and the loopback authorization server / backend shared by the authentication tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from backends.conftest import ThreadServer
from starlette.applications import Starlette

from .idp import Idp, SigningKey


@pytest.fixture(scope="session")
def rsa_key() -> SigningKey:
    return SigningKey.rsa("rsa-1")


@pytest.fixture(scope="session")
def rsa_key_2() -> SigningKey:
    return SigningKey.rsa("rsa-2")


@pytest.fixture(scope="session")
def ec_key() -> SigningKey:
    return SigningKey.ec("ec-1")


@pytest.fixture(scope="module")
def idp_server() -> Iterator[tuple[Idp, ThreadServer[Starlette]]]:
    idp = Idp()
    with ThreadServer(idp.app()) as server:
        yield idp, server


@pytest.fixture
def idp(
    idp_server: tuple[Idp, ThreadServer[Starlette]], rsa_key: SigningKey, ec_key: SigningKey
) -> Idp:
    """The server's state, reset for each test (``issued`` is kept: the module's log of the
    backend tokens): keys rsa-1 and ec-1 published."""
    state = idp_server[0]
    state.keys[:] = [rsa_key, ec_key]
    state.jwks_fetches = state.introspections = 0
    state.tokens.clear()
    state.mcp_headers.clear()
    state.token_lifetime = 3600
    return state


@pytest.fixture
def idp_url(idp_server: tuple[Idp, ThreadServer[Starlette]]) -> str:
    return idp_server[1].url("")
