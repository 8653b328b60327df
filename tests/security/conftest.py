"""Fixtures of the security suite: a real OpenID provider (see :mod:`.idp`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .idp import IdentityProvider, IdpError, running_idp


@pytest.fixture(scope="session")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IdentityProvider]:
    """The provider shared by the session (its signing key never rotates)."""
    try:
        with running_idp(tmp_path_factory.mktemp("idp")) as provider:
            yield provider
    except IdpError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="module")
def rotating_idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IdentityProvider]:
    """A provider of the module's own, for tests that rotate its signing key."""
    with running_idp(tmp_path_factory.mktemp("idp-rotating")) as provider:
        yield provider
