"""Fixtures the access tests share with the end-to-end suite."""

from __future__ import annotations

from e2e import conftest as e2e

#: A temporary git repository with one commit (for the examples' git server).
git_repo = e2e.git_repo
