"""Policies: conditions on a request beyond its grants (a UTC time window, the client's
network, a second factor), attached to a role or to tools.

A policy answers with the reason it refuses, worded for the client (it goes into the 403), or
None when it holds.
"""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any

from only1mcp.auth.principal import Principal
from only1mcp.config.access import MfaConfig, PolicyConfig, window

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class Policy:
    __slots__ = ("_acr", "_amr", "_hours", "_mfa", "_networks", "hours_text")

    def __init__(self, config: PolicyConfig, mfa: MfaConfig) -> None:
        self._hours = [window(text) for text in config.hours]
        self.hours_text = ", ".join(config.hours)
        self._networks: list[IpNetwork] = [
            ipaddress.ip_network(text, strict=False) for text in config.cidrs
        ]
        self._mfa = config.mfa
        self._amr = frozenset(mfa.amr)
        self._acr = frozenset(mfa.acr)

    def refusal(
        self, principal: Principal, address: str | None, now: datetime.datetime
    ) -> str | None:
        """Why this request may not go ahead under this policy (None: it may)."""
        if self._hours and not any(hours.holds(now) for hours in self._hours):
            return f"allowed only at {self.hours_text} (UTC)"
        if self._networks and not self._from_network(address):
            return "not allowed from this network"
        if self._mfa and not self._second_factor(principal.claims):
            return "multi-factor authentication required"
        return None

    def _from_network(self, address: str | None) -> bool:
        if address is None:  # a pipe, or a server that did not say
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in network for network in self._networks)

    def _second_factor(self, claims: Mapping[str, Any]) -> bool:
        amr = claims.get("amr")
        if isinstance(amr, str):
            amr = amr.split()
        if isinstance(amr, Iterable) and not self._amr.isdisjoint(
            value for value in amr if isinstance(value, str)
        ):
            return True
        acr = claims.get("acr")
        return isinstance(acr, str) and acr in self._acr
