"""A supervisor of processes: start them (spawned), replace one that dies, stop them all on
SIGTERM or SIGINT — each given `STOP_GRACE_S` to finish, then killed — and leave nothing
behind (each child asks the kernel to end it if the supervisor dies, even by SIGKILL).

A process that keeps dying right after it starts (`RESTARTS_MAX` quick deaths) is a
configuration error, not bad luck: the supervisor then stops everything and exits 1. What
runs where is written to a state file (`ppcx serve` keeps `<data dir>/serve.json`), so an
operator — or a fault test — finds each role's pid.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.context import SpawnProcess
from pathlib import Path
from types import FrameType
from typing import Any

import orjson

from ppcx.embedded import die_with_parent

logger = logging.getLogger(__name__)
STOP_GRACE_S = 20.0
RESTARTS_MAX = 5
QUICK_DEATH_S = 10.0
WATCH_INTERVAL_S = 0.5
RESTART_BACKOFF_S_MAX = 5.0


@dataclass(frozen=True)
class ProcessSpec:
    """One supervised process: its name (unique: `api-1`, `relay`…), a module-level target
    (spawned processes import it) and its picklable arguments."""

    name: str
    target: Callable[..., None]
    args: tuple[Any, ...] = ()


@dataclass
class _Running:
    spec: ProcessSpec
    process: SpawnProcess
    started: float
    quick_deaths: int = 0
    restart_at: float | None = None  # a restart waiting for its back-off


def _child(parent_pid: int, target: Callable[..., None], args: tuple[Any, ...]) -> None:
    die_with_parent(parent_pid)
    target(*args)


@dataclass
class Supervisor:
    specs: list[ProcessSpec]
    state_file: Path | None = None
    on_death: Callable[[int], None] | None = None  # e.g. prometheus' mark_process_dead
    stop: threading.Event = field(default_factory=threading.Event)

    def _start(self, spec: ProcessSpec) -> SpawnProcess:
        context = multiprocessing.get_context("spawn")
        process = context.Process(
            target=_child, args=(os.getpid(), spec.target, spec.args), name=f"ppcx-{spec.name}"
        )
        process.start()
        return process

    def _write_state(self, running: list[_Running]) -> None:
        if self.state_file is None:
            return
        state = {
            "pid": os.getpid(),
            "processes": {r.spec.name: r.process.pid for r in running if r.process.pid is not None},
        }
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_bytes(orjson.dumps(state))
        tmp.replace(self.state_file)

    def run(self) -> int:
        """Supervise until SIGTERM/SIGINT (or `stop`) → exit code (1: a process kept dying)."""
        previous = {
            sig: signal.signal(sig, self._stopper()) for sig in (signal.SIGTERM, signal.SIGINT)
        }
        running = [_Running(spec, self._start(spec), time.monotonic()) for spec in self.specs]
        self._write_state(running)
        code = 0
        try:
            while not self.stop.wait(WATCH_INTERVAL_S):
                code = self._watch(running)
                if code:
                    break
        finally:
            self._stop_all(running)
            if self.state_file is not None:
                self.state_file.unlink(missing_ok=True)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return code

    def _watch(self, running: list[_Running]) -> int:
        now = time.monotonic()
        changed = False
        for r in running:
            if r.restart_at is not None:
                if now >= r.restart_at:
                    r.process, r.started, r.restart_at = self._start(r.spec), now, None
                    changed = True
                continue
            if r.process.is_alive():
                continue
            pid, exitcode = r.process.pid, r.process.exitcode
            if pid is not None and self.on_death is not None:
                self.on_death(pid)
            r.quick_deaths = r.quick_deaths + 1 if now - r.started < QUICK_DEATH_S else 0
            if r.quick_deaths > RESTARTS_MAX:
                logger.error("%s keeps dying at start-up; stopping everything", r.spec.name)
                return 1
            backoff_s = min(0.1 * 2**r.quick_deaths, RESTART_BACKOFF_S_MAX)
            logger.warning(
                "%s (pid %s) exited with %s; restarting in %.1f s",
                r.spec.name,
                pid,
                exitcode,
                backoff_s,
            )
            r.restart_at = now + backoff_s
        if changed:
            self._write_state(running)
        return 0

    def _stop_all(self, running: list[_Running]) -> None:
        for r in running:
            if r.restart_at is None and r.process.is_alive():
                r.process.terminate()  # SIGTERM: each finishes what it is doing
        deadline = time.monotonic() + STOP_GRACE_S
        for r in running:
            if r.restart_at is not None:
                continue
            r.process.join(max(0.0, deadline - time.monotonic()))
            if r.process.is_alive():
                logger.warning("%s did not stop within %.0f s; killed", r.spec.name, STOP_GRACE_S)
                r.process.kill()
                r.process.join()

    def _stopper(self) -> Callable[[int, FrameType | None], None]:
        def handler(signum: int, frame: FrameType | None) -> None:
            self.stop.set()

        return handler
