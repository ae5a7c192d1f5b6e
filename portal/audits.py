"""Finance's audits from the portal: `replay verify` run in a background thread of the API
worker that was asked (never on its event loop), its progress and report kept in
`eventstore.audits` so that every worker shows them.

Each audit expects the head and link of the newest audit that passed (`--expect-head`,
`--expect-link`): events cut from the log's end, or the log rewritten up to that head, fail
the next audit; the first audit has no expectation. One audit runs at a time.

A running audit's thread records its progress and a heartbeat every `HEARTBEAT_S`. An audit
whose process is gone (same host, no such pid), whose thread this process no longer runs, or
whose heartbeat is older than `STALE_S`, or that has run for longer than `RUN_S_MAX`, is
recorded as interrupted by the next worker that looks: it is never shown as running forever.

Threads: `ppcx-audit-<id>` runs verify; `ppcx-audit-<id>-heartbeat` writes its progress.
Lock order: `AuditJobs._lock`, then the SQLite file's write lock (`begin`); the threads take
only the SQLite lock.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from domain.clock import Clock
from eventstore.audits import AuditRow, AuditStore, NewAudit
from eventstore.rows import ChainedRow
from replay.verify import RecordingDigests, Report, verify

logger = logging.getLogger(__name__)
HEARTBEAT_S = 1.0
STALE_S = 60.0  # no heartbeat for this long: its process is stuck or gone
RUN_S_MAX = 24 * 3600.0  # an audit still running after this long is given up on
JOIN_S = 30.0  # for the heartbeat thread to stop
ERROR_CHARS_MAX = 500


class AuditedLog(Protocol):
    """What an audit reads: the event store's chained rows and its head."""

    def read_chained(self, start: int, limit: int) -> list[ChainedRow]: ...

    def head(self) -> int: ...


@dataclass(frozen=True)
class AuditConfig:
    path: Path  # the audits' SQLite file (`<data dir>/audits.sqlite`)
    chain_key: bytes = field(repr=False)  # the deployment's audit chain key
    parallel: bool | None = None  # verify's calls' checks in a worker process (None: if 2+ CPUs)
    recordings: RecordingDigests | None = None  # the recordings store: its bytes hashed again


def now_ms(clock: Clock) -> int:
    return int(clock.now().timestamp() * 1000)


@dataclass
class _Progress:
    """What the verify thread has read; the heartbeat thread reads it (ints: no lock)."""

    events: int = 0
    position: int = 0

    def update(self, report: Report) -> None:
        self.events, self.position = report.events, report.head


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


class AuditJobs:
    """This process's audits: starts them, and judges the running ones of every process."""

    def __init__(self, config: AuditConfig) -> None:
        self.config = config
        self.records = AuditStore(config.path)
        self.host = socket.gethostname()
        self._lock = threading.Lock()
        self._threads: dict[int, threading.Thread] = {}  # the audits this process runs

    # -- reading --------------------------------------------------------------------------------
    def find(self, clock: Clock, audit_id: int) -> AuditRow | None:
        self.reap(clock)
        return self.records.get(audit_id)

    def history(self, clock: Clock, limit: int) -> list[AuditRow]:
        self.reap(clock)
        return self.records.history(limit)

    def reap(self, clock: Clock) -> None:
        """Record every running audit that cannot finish any more as interrupted."""
        at_ms = now_ms(clock)
        for row in self.records.running():
            why = self._why_dead(row, at_ms)
            if why is not None and self.records.interrupt(row.id, at_ms, why):
                logger.warning("audit %s interrupted: %s", row.id, why)

    def _why_dead(self, row: AuditRow, at_ms: int) -> str | None:
        if row.host == self.host:
            if row.pid == os.getpid():
                with self._lock:
                    thread = self._threads.get(row.id)
                if thread is None or not thread.is_alive():
                    return "the API process that ran it was restarted"
            elif not _process_alive(row.pid):
                return f"the API process that ran it (pid {row.pid}) stopped"
        silent_s = (at_ms - row.heartbeat_ms) / 1000
        if silent_s > STALE_S:
            return f"no sign of life from its process for {silent_s:.0f} s"
        if (at_ms - row.started_ms) / 1000 > RUN_S_MAX:
            return f"still running after {RUN_S_MAX / 3600:.0f} h: given up on"
        return None

    # -- running --------------------------------------------------------------------------------
    def start(self, log: AuditedLog, clock: Clock, started_by: str) -> tuple[AuditRow, bool]:
        """A new audit, running in a thread of this process → (it, True); or the one
        running already → (it, False)."""
        self.reap(clock)
        new = NewAudit(started_by, now_ms(clock), os.getpid(), self.host, log.head())
        with self._lock:
            row, created = self.records.begin(new)
            if created:
                thread = threading.Thread(
                    target=self._run,
                    args=(row, log, clock),
                    name=f"ppcx-audit-{row.id}",
                    daemon=True,  # a stopping worker does not wait: the audit is interrupted
                )
                self._threads[row.id] = thread
                thread.start()
        return row, created

    def _run(self, row: AuditRow, log: AuditedLog, clock: Clock) -> None:
        progress = _Progress()
        done = threading.Event()
        beater = threading.Thread(
            target=self._beat,
            args=(row.id, clock, progress, done),
            name=f"ppcx-audit-{row.id}-heartbeat",
            daemon=True,
        )
        beater.start()
        why = "stopped before its report"
        try:
            report = verify(
                log.read_chained,
                self.config.chain_key,
                on_page=progress.update,
                expect_head=row.expect_head,
                expect_link=bytes.fromhex(row.expect_link) if row.expect_link else None,
                parallel=self.config.parallel,
                recordings=self.config.recordings,
            )
            done.set()
            beater.join(JOIN_S)
            self.records.finish(
                row.id,
                now_ms(clock),
                passed=report.ok,
                events=report.events,
                head=report.head,
                head_link=report.head_link,
                failure_count=report.failure_count,
                result=report.to_json().decode(),
            )
            logger.info("audit %s done: ok=%s head=%s", row.id, report.ok, report.head)
        except Exception as error:
            logger.exception("audit %s failed to run", row.id)
            why = f"{type(error).__name__}: {error}"[:ERROR_CHARS_MAX]
        finally:
            done.set()
            self.records.interrupt(row.id, now_ms(clock), why)  # unless finished above
            with self._lock:
                self._threads.pop(row.id, None)

    def _beat(
        self, audit_id: int, clock: Clock, progress: _Progress, done: threading.Event
    ) -> None:
        while not done.wait(HEARTBEAT_S):
            try:
                self.records.beat(audit_id, now_ms(clock), progress.events, progress.position)
            except Exception:  # the next beat tries again; a silence long enough interrupts
                logger.exception("audit %s: heartbeat not recorded", audit_id)

    def wait(self, timeout_s: float) -> None:
        """Until this process's audits end (tests, and a clean shutdown)."""
        with self._lock:
            threads = list(self._threads.values())
        for thread in threads:
            thread.join(timeout_s)
