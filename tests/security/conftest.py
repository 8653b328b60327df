"""Fixtures of the security suite: a real OpenID provider (see :mod:`.idp`)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from .gateway import Gateway, secured_gateway
from .idp import IdentityProvider, running_idp


@pytest.fixture(scope="session")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IdentityProvider]:
    """The provider shared by the session (its signing key never rotates). A provider that
    cannot start fails the tests that need it with its log (:class:`.idp.IdpError`)."""
    with running_idp(tmp_path_factory.mktemp("idp")) as provider:
        yield provider


@pytest.fixture(scope="module")
def rotating_idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IdentityProvider]:
    """A provider of the module's own, for tests that rotate its signing key."""
    with running_idp(tmp_path_factory.mktemp("idp-rotating")) as provider:
        yield provider


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A module's ``gw`` runs once per ``auth.modes`` its ``GATEWAY_MODES`` lists (default: jwt
    only), the tests of the module against each."""
    if "gw" in metafunc.fixturenames:
        variants = getattr(metafunc.module, "GATEWAY_MODES", [("jwt",)])
        ids = ["+".join(modes) for modes in variants]
        metafunc.parametrize("gw", variants, ids=ids, indirect=True, scope="module")


@pytest.fixture(scope="module")
def gw(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gateway]:
    """``only1mcp start`` for the module with the ``auth.modes`` of the parameter, on the
    provider fixture its ``GATEWAY_IDP`` names (default ``idp``)."""
    modes: tuple[str, ...] = request.param
    provider: IdentityProvider = request.getfixturevalue(
        getattr(request.module, "GATEWAY_IDP", "idp")
    )
    workdir = tmp_path_factory.mktemp(f"gateway-{'-'.join(modes)}")
    with secured_gateway(provider, workdir, modes) as gateway:
        yield gateway


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    """A plain HTTP client for raw requests."""
    with httpx.Client(timeout=15.0) as client:
        yield client
