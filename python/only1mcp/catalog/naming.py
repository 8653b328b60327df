"""The one place that decides exposed names: ``<prefix><separator><name>``, at most 64 chars.

Many clients cap tool names at 64 characters including their own prefix, so a longer name is cut
and ends in a short hash of the full name; the result is deterministic across runs.
"""

from __future__ import annotations

import hashlib

MAX_NAME = 64
HASH_LEN = 8


def expose(prefix: str, separator: str, name: str) -> str:
    """The name a client sees for backend item ``name`` of a server with ``prefix``."""
    full = f"{prefix}{separator}{name}" if prefix else name
    return shorten(full)


def shorten(full: str) -> str:
    if len(full) <= MAX_NAME:
        return full
    return f"{full[: MAX_NAME - HASH_LEN - 1]}_{digest(full)}"


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:HASH_LEN]


def disambiguate(exposed: str, server: str) -> str:
    """A second name for ``exposed`` when another server already took it."""
    tag = digest(f"{server}\0{exposed}")
    return f"{exposed[: MAX_NAME - HASH_LEN - 1]}_{tag}"


def expose_uri(prefix: str, uri: str) -> str:
    """A resource URI as clients see it: ``<scheme>+<uri>``, or unchanged without a prefix.

    The prefix joins the URI's scheme (:func:`uri_scheme`); ``+`` is legal in a scheme and never
    part of one made from a prefix, so the first ``+`` splits an exposed URI back into prefix
    and original exactly (``git+file:///repo/README.md``).
    """
    return f"{uri_scheme(prefix)}+{uri}" if prefix else uri


def uri_scheme(prefix: str) -> str:
    """``prefix`` as the start of a URI scheme, which RFC 3986 §3.1 allows only letters,
    digits, ``+ - .`` and a letter first: a server's ``_`` becomes ``-``, and a prefix that
    starts with a digit or ``-`` gets an ``x`` before it (clients that validate URIs would
    refuse ``under_score+test://…``)."""
    scheme = prefix.replace("_", "-")
    return scheme if scheme[:1].isascii() and scheme[:1].isalpha() else f"x{scheme}"


def split_uri(exposed: str) -> tuple[str, str] | None:
    """(prefix, original URI) of a prefixed exposed URI, None when it carries no prefix."""
    prefix, plus, rest = exposed.partition("+")
    if not plus or not prefix or ":" in prefix or "/" in prefix:
        return None
    return prefix, rest
