"""The ``WWW-Authenticate: Bearer`` challenge of a 401 or 403 (RFC 6750 §3, RFC 9728 §5.1)."""

from __future__ import annotations


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def bearer_challenge(
    resource_metadata: str | None = None,
    scopes: tuple[str, ...] | list[str] = (),
    error: str | None = None,
    description: str | None = None,
) -> bytes:
    """The header's value: ``Bearer`` with the protected resource metadata URL, the scopes that
    would do, and on a refused token the error (``invalid_token``, ``insufficient_scope``)."""
    params: list[str] = []
    if error is not None:
        params.append(f"error={_quoted(error)}")
    if description is not None:
        params.append(f"error_description={_quoted(description)}")
    if resource_metadata is not None:
        params.append(f"resource_metadata={_quoted(resource_metadata)}")
    if scopes:
        params.append(f"scope={_quoted(' '.join(scopes))}")
    return ("Bearer " + ", ".join(params)).rstrip(", ").encode("latin-1")
