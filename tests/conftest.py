"""Shared, generic pytest fixtures for the whole test tree."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    """Run ``@pytest.mark.anyio`` tests on asyncio only (the product runs on asyncio/uvloop)."""
    return "asyncio"
