"""RFC 9728 protected resource metadata: where a client learns which authorization servers
issue tokens for this resource, and the URL every 401 points it to.

For a resource ``https://host/mcp`` the document lives at
``https://host/.well-known/oauth-protected-resource/mcp`` (the well-known segment goes between
host and path, RFC 9728 §3.1); it is also served at the plain
``/.well-known/oauth-protected-resource`` for clients that look there first.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import orjson

WELL_KNOWN = "/.well-known/oauth-protected-resource"


@dataclass(frozen=True, slots=True)
class ResourceMetadata:
    """The document, rendered once, and the paths it is served at."""

    resource: str
    authorization_servers: tuple[str, ...]
    scopes: tuple[str, ...]

    @property
    def url(self) -> str:
        """The document's URL, as 401 challenges give it (``resource_metadata``)."""
        parts = urlsplit(self.resource)
        path = WELL_KNOWN + parts.path.rstrip("/")
        return urlunsplit((parts.scheme, parts.netloc, path, "", ""))

    @property
    def paths(self) -> frozenset[str]:
        return frozenset({WELL_KNOWN, urlsplit(self.url).path, WELL_KNOWN + "/mcp"})

    def document(self) -> bytes:
        doc: dict[str, object] = {
            "resource": self.resource,
            "authorization_servers": list(self.authorization_servers),
            "bearer_methods_supported": ["header"],
        }
        if self.scopes:
            doc["scopes_supported"] = list(self.scopes)
        return orjson.dumps(doc)
