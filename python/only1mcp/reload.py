"""Hot reload: the config file read again, compared with the running config, and applied.

What triggers one (the file watcher, SIGHUP: :mod:`only1mcp.watcher`; the admin API's
``POST /api/config/reload``) calls :meth:`Reloader.reload`; reloads run one at a time, and each
that succeeds is a new config *generation* (0: the file read at start).

* An invalid file changes nothing: the running config stays, and the :class:`ConfigError`
  (file, key, problem) is logged, kept as the last outcome (the admin API shows it) and
  counted (``only1mcp_config_reloads_total{result="failure"}``).
* A valid file is compared with the running config (:func:`plan`). Servers: an added one is
  started; a removed one leaves the lists at once (a call of one of its tools says it is gone)
  and its calls in flight are answered before it stops (a drain bounded by
  ``front.shutdown_grace``); a changed one is started anew beside the old, which serves until
  the new one is up and then drains the same way. A server the file did not change is not
  touched. Clients are told (``notifications/*/list_changed``, both eras) when a merged list
  changed. Of the other settings, those in :data:`LIVE` are applied now; every other key that
  changed is named in the outcome as needing a restart (``front.port``), never dropped silently.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from only1mcp.auth.factory import check_files
from only1mcp.backends import Backend
from only1mcp.config import Config, load_config
from only1mcp.errors import ConfigError
from only1mcp.gateway import Gateway
from only1mcp.telemetry.metrics import Metrics

log = logging.getLogger("only1mcp.reload")

#: Settings outside ``servers`` that a reload applies to the running process: the log level,
#: and the schema detail servers without their own ``schemas`` list with (the catalog's shapes).
LIVE = frozenset({"log_level", "schemas"})


@dataclass(frozen=True, slots=True)
class Plan:
    """What a new config changes against the running one."""

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    #: Keys outside ``servers`` that changed and are applied now (see :data:`LIVE`).
    live: list[str] = field(default_factory=list)
    #: Keys outside ``servers`` that changed and only a restart applies (``front.port``).
    restart: list[str] = field(default_factory=list)

    def servers(self) -> dict[str, list[str]]:
        return {"added": self.added, "removed": self.removed, "changed": self.changed}


def plan(old: Config, new: Config) -> Plan:
    """Compare two configs: servers by their whole config (``enabled: false`` ones count as
    absent), the other settings key by key."""
    before, after = old.enabled_servers(), new.enabled_servers()
    keys = changed_keys(old, new)
    return Plan(
        added=[name for name in after if name not in before],
        removed=[name for name in before if name not in after],
        changed=[
            name
            for name in after
            if name in before and after[name].model_dump() != before[name].model_dump()
        ],
        live=[key for key in keys if key in LIVE],
        restart=[key for key in keys if key not in LIVE],
    )


def changed_keys(old: Config, new: Config) -> list[str]:
    """The settings outside ``servers`` that differ: ``section.key`` for a section's own keys
    (``front.port``), the top-level name for the rest (``log_level``). Names only: a value may
    be a secret."""
    a, b = old.model_dump(exclude={"servers"}), new.model_dump(exclude={"servers"})
    keys: list[str] = []
    for name in dict.fromkeys([*a, *b]):
        x, y = a.get(name), b.get(name)
        if x == y:
            continue
        if isinstance(x, dict) and isinstance(y, dict):
            keys += [f"{name}.{k}" for k in dict.fromkeys([*x, *y]) if x.get(k) != y.get(k)]
        else:
            keys.append(name)
    return keys


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one reload went."""

    ok: bool
    generation: int  # the one running after it
    trigger: str  # file, sighup, admin
    at: float  # when it ended (epoch seconds)
    seconds: float
    plan: Plan | None = None  # None: the file was refused
    error: str = ""  # why it was refused (file: key: problem)
    #: Servers it started that are not serving, and why (they keep being retried).
    down: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        steps = self.plan or Plan()
        return {
            "ok": self.ok,
            "generation": self.generation,
            "trigger": self.trigger,
            "at": round(self.at, 3),
            "seconds": round(self.seconds, 3),
            "error": self.error,
            "changes": steps.servers(),
            "applied_live": steps.live,
            "requires_restart": steps.restart,
            "down": self.down,
        }


class NoFile(Exception):
    """The running config was not loaded from a file: there is nothing to read again."""


# Reads a config file (load_config; a test may give another reader).
Load = Callable[[str], Config]


class Reloader:
    """Reloads the running gateway's config file, one reload at a time."""

    def __init__(
        self, gateway: Gateway, metrics: Metrics | None = None, load: Load = load_config
    ) -> None:
        self.gateway = gateway
        self._metrics = metrics
        self._load = load
        self._lock = asyncio.Lock()
        self.generation = 0
        self.last: Outcome | None = None

    @property
    def source(self) -> str:
        """The file the running config came from ("" when it was built in code)."""
        return self.gateway.config.source

    def status(self) -> dict[str, Any]:
        """The running generation and how the last reload went (None: none yet)."""
        last = None if self.last is None else self.last.as_json()
        return {"file": self.source, "generation": self.generation, "last_reload": last}

    async def reload(self, trigger: str) -> Outcome:
        """Read the file again and apply it (see the module docstring); never raises for a
        bad file. Raises :class:`NoFile` when there is no file to read."""
        if not self.source:
            raise NoFile("this configuration was not loaded from a file")
        async with self._lock:
            await self.gateway.ready.wait()  # a reload during the start waits for it
            started = time.perf_counter()
            try:
                new = self._read()
            except ConfigError as exc:
                log.error("config reload (%s) refused; the running config stays: %s", trigger, exc)
                return self._done(False, trigger, started, error=str(exc))
            steps = plan(self.gateway.config, new)
            try:
                down = await self._apply(new, steps)
            except Exception as exc:  # a bug: logged, reported, never the end of the process
                log.exception("config reload (%s) failed while applying", trigger)
                return self._done(False, trigger, started, steps, f"internal error: {exc!r}")
            self.generation += 1
            outcome = self._done(True, trigger, started, steps, down=down)
            self._report(outcome, steps)
            return outcome

    def _read(self) -> Config:
        new = self._load(self.source)
        check_files(new.auth, new.source)  # what `only1mcp validate` checks too
        return new

    async def _apply(self, new: Config, steps: Plan) -> dict[str, str]:
        """Apply ``steps``; the servers it started that are not serving, and why."""
        gateway = self.gateway
        touched = sorted({*steps.added, *steps.removed, *steps.changed})
        async with contextlib.AsyncExitStack() as held:
            for name in touched:  # an operator's restart of one of them waits, and vice versa
                await held.enter_async_context(gateway.operating(name))
            before = {kind: catalog.merged() for kind, catalog in gateway.catalogs.items()}
            retired: list[Backend] = []
            for name in steps.removed:
                retired += gateway.withdraw(name)
            gone = {name: f"gone: server {name!r} left the configuration" for name in steps.removed}
            gateway.adopt(new, gone)
            gateway.announce(before)  # removals, prefixes and shapes; starts announce their own
            if "log_level" in steps.live:
                logging.getLogger().setLevel(new.log_level.upper())
            starting = [n for n in [*steps.added, *steps.changed] if n not in gateway.disabled]
            replaced = await asyncio.gather(*(gateway.install(gateway.build(n)) for n in starting))
            retired += [backend for old in replaced for backend in old]
            await gateway.drain(retired, new.front.shutdown_grace)
        started = [gateway.backends[name] for name in starting if name in gateway.backends]
        return {backend.name: backend.problem for backend in started if backend.problem}

    def _done(
        self,
        ok: bool,
        trigger: str,
        started: float,
        steps: Plan | None = None,
        error: str = "",
        down: dict[str, str] | None = None,
    ) -> Outcome:
        seconds = time.perf_counter() - started
        self.last = Outcome(
            ok, self.generation, trigger, time.time(), seconds, steps, error, down or {}
        )
        if self._metrics is not None:
            self._metrics.config_reloaded(ok, self.generation)
        return self.last

    def _report(self, outcome: Outcome, steps: Plan) -> None:
        changes = ", ".join(f"{kind} {names}" for kind, names in steps.servers().items() if names)
        log.info(
            "config reloaded (%s): generation %d in %.2fs; servers: %s",
            outcome.trigger,
            outcome.generation,
            outcome.seconds,
            changes or "unchanged",
        )
        for name, problem in outcome.down.items():
            log.error("config reload: server %r does not serve: %s", name, problem)
        if steps.restart:
            log.warning(
                "config reload: these changes need a restart to apply: %s",
                ", ".join(steps.restart),
            )
