"""Linters of the deployment files that are Go programs, built from the Go module proxy into
``.tools/bin`` (git-ignored) the first time a test needs them."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from .deployfiles import REPO_ROOT

TOOLS_BIN = REPO_ROOT / ".tools" / "bin"
#: Small enough to build on first use (seconds of CPU).
ACTIONLINT = "github.com/rhysd/actionlint/cmd/actionlint@v1.7.12"
#: Kubernetes' client libraries make helm a long build (tens of minutes on 2 cores): not on
#: first use, but with `make helm`.
HELM = "helm.sh/helm/v4/cmd/helm@v4.3.2"


def built(name: str) -> str | None:
    """``name`` from ``.tools/bin``, else from PATH."""
    local = TOOLS_BIN / name
    return str(local) if local.exists() else shutil.which(name)


def go_install(name: str, module: str) -> str:
    """``name``, built with ``go install module`` unless it is already there."""
    found = built(name)
    if found is not None:
        return found
    go = shutil.which("go")
    if go is None:
        pytest.fail(f"{name} is needed and Go is not installed to build it ({module})")
    env = {**os.environ, "GOBIN": str(TOOLS_BIN)}
    done = subprocess.run(
        [go, "install", module], env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, f"go install {module} failed:\n{done.stderr}"
    return str(TOOLS_BIN / name)
