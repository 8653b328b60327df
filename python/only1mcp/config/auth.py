"""The ``auth:`` section: how clients of the HTTP fronts prove who they are.

Filled in by the authentication work (issue 13); ``modes: [none]`` keeps today's behaviour:
no credentials, loopback binds only.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .policies import Strict

AuthMode = Literal["none", "api_key", "jwt", "introspection"]


class AuthConfig(Strict):
    """Which credentials the HTTP fronts accept; several modes may be combined."""

    modes: list[AuthMode] = Field(default_factory=lambda: list[AuthMode](["none"]), min_length=1)
