"""The ``access:`` section: roles, grants, policies and rate limits (authorization).

Filled in by the authorization work (issue 13). Without authentication every request is
anonymous and everything is allowed, as before.
"""

from __future__ import annotations

from .policies import Strict


class AccessConfig(Strict):
    """What each role may see and call; deny by default once authentication is on."""
