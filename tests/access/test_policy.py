"""Policies: UTC time windows, source networks, a second factor."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from only1mcp.access.policy import Policy
from only1mcp.auth.principal import Principal
from only1mcp.config import parse_config
from only1mcp.config.access import MfaConfig, PolicyConfig
from only1mcp.errors import ConfigError

ALICE = Principal("key:alice", frozenset({"dev"}))
# 2026-12-03 is a Thursday.
THURSDAY_NOON = datetime.datetime(2026, 12, 3, 12, 0, tzinfo=datetime.UTC)


def policy(factors: MfaConfig | None = None, **spec: Any) -> Policy:
    return Policy(PolicyConfig.model_validate(spec), factors or MfaConfig())


def at(day: int, hour: int, minute: int = 0) -> datetime.datetime:
    """December 2026: the 7th is a Monday."""
    return datetime.datetime(2026, 12, day, hour, minute, tzinfo=datetime.UTC)


def test_an_empty_policy_holds() -> None:
    assert policy().refusal(ALICE, None, THURSDAY_NOON) is None


def test_hours_are_utc_windows_start_included_end_excluded() -> None:
    office = policy(hours="08:00-20:00")
    assert office.refusal(ALICE, None, at(3, 8)) is None
    assert office.refusal(ALICE, None, at(3, 19, 59)) is None
    assert office.refusal(ALICE, None, at(3, 20)) == "allowed only at 08:00-20:00 (UTC)"
    assert office.refusal(ALICE, None, at(3, 7, 59)) is not None


def test_weekday_windows_and_a_night_that_wraps_past_midnight() -> None:
    weekdays = policy(hours=["Mon-Fri 09:00-17:00"])
    assert weekdays.refusal(ALICE, None, at(7, 10)) is None  # Monday
    assert weekdays.refusal(ALICE, None, at(6, 10)) is not None  # Sunday
    night = policy(hours=["Fri 22:00-02:00"])  # Friday night, into Saturday
    assert night.refusal(ALICE, None, at(4, 23)) is None  # Friday 23:00
    assert night.refusal(ALICE, None, at(5, 1, 30)) is None  # Saturday 01:30
    assert night.refusal(ALICE, None, at(5, 23)) is not None  # Saturday 23:00
    assert night.refusal(ALICE, None, at(4, 1)) is not None  # Friday 01:00 (Thursday's night)
    weekend = policy(hours=["Sat-Sun 00:00-23:59", "Mon 08:00-09:00"])  # any window will do
    assert weekend.refusal(ALICE, None, at(6, 12)) is None
    assert weekend.refusal(ALICE, None, at(7, 8, 30)) is None
    assert weekend.refusal(ALICE, None, at(8, 8, 30)) is not None


def test_cidrs_match_the_client_address_ipv4_ipv6_and_mapped() -> None:
    inside = policy(cidrs=["10.0.0.0/8", "fd00::/8"])
    assert inside.refusal(ALICE, "10.1.2.3", THURSDAY_NOON) is None
    assert inside.refusal(ALICE, "fd12::1", THURSDAY_NOON) is None
    assert inside.refusal(ALICE, "::ffff:10.9.9.9", THURSDAY_NOON) is None
    assert inside.refusal(ALICE, "192.168.1.1", THURSDAY_NOON) == "not allowed from this network"
    assert inside.refusal(ALICE, None, THURSDAY_NOON) is not None  # no address: refused
    assert inside.refusal(ALICE, "not-an-ip", THURSDAY_NOON) is not None


def test_mfa_reads_amr_or_configured_acr() -> None:
    strict = policy(mfa=True)
    why = "multi-factor authentication required"
    assert strict.refusal(ALICE, None, THURSDAY_NOON) == why  # an API key has no claims
    for claims in ({"amr": ["pwd", "otp"]}, {"amr": "pwd hwk"}, {"amr": ["mfa"]}):
        token = Principal("iss sub", claims=claims)
        assert strict.refusal(token, None, THURSDAY_NOON) is None, claims
    for claims in ({"amr": ["pwd"]}, {"amr": 7}, {"acr": "gold"}, {"amr": [1, None]}):
        token = Principal("iss sub", claims=claims)
        assert strict.refusal(token, None, THURSDAY_NOON) == why, claims
    gold = policy(MfaConfig(amr=[], acr=["gold"]), mfa=True)
    assert gold.refusal(Principal("i s", claims={"acr": "gold"}), None, THURSDAY_NOON) is None
    assert gold.refusal(Principal("i s", claims={"amr": ["mfa"]}), None, THURSDAY_NOON) == why


@pytest.mark.parametrize(
    ("hours", "what"),
    [
        ("8-20", "expected HH:MM-HH:MM"),
        ("08:00-24:30", "is not a time of day"),
        ("09:00-09:00", "empty window"),
        ("Mon-Fry 08:00-09:00", "days are Mon"),
    ],
)
def test_bad_hours_are_config_errors(hours: str, what: str) -> None:
    access = {"roles": {"a": {"policy": {"hours": hours}}}}
    with pytest.raises(ConfigError, match=rf"access.roles.a.policy.hours\[0\]: .*{what}"):
        parse_config({"servers": {"t": {"command": "x"}}, "access": access}, "f.yaml")


def test_a_bad_network_is_a_config_error() -> None:
    access = {"tools": {"x": {"policy": {"cidrs": ["10.0.0.256/8"]}}}}
    with pytest.raises(ConfigError, match=r"access.tools.x.policy.cidrs\[0\]: .*not an IP network"):
        parse_config({"servers": {"t": {"command": "x"}}, "access": access}, "f.yaml")
