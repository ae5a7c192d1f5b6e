"""`ppcx replay verify`: the log alone proves the books, the bills, the auctions and itself.

One pass over the stored rows (raw JSON, no event objects), checking:

- **chain** — each stored link recomputed from the stored predecessor (the deployment's
  audit key): an edited, inserted, swapped or moved event breaks the link at its own
  position; a deleted one leaves a gap in the notification ids and breaks the next link;
  events removed from the end are caught against a head recorded earlier (`expect_head`,
  `expect_link`);
- **ledger** — every transfer balances (debits = credits, one positive side per entry);
  a hold is placed once, posted or voided once, never posted twice; at the end the accounts
  sum to zero and no buyer is below minus its credit limit;
- **balances** — every buyer event's recorded `balance` equals the one recomputed from the log;
- **auctions** — every `AuctionDecided` re-run through the versioned decision function with
  its recorded bids, mode, floor, seed and cursor gives the same ranking, winner and price,
  and the campaign's payout rule the recorded payouts;
- **routes** — every route goes to a ranked candidate not tried yet, at its price, payout,
  buffer and destination, carrying the auction's hold (or, after a failover, a new one);
- **billing** — revenue = payout + margin for every bill, and the pure billing rules re-run
  with the call's answer, duration, buffer, duplicate history (replay's own index of billed
  callers) and block list give the recorded decision, reason and flags;
- **holds** — the holds the calls left open are exactly those the ledger left pending, and
  each still lies within its expiry (the bid's expiry before the call is routed, the routed
  call's maximum life after), judged at the latest event's time;
- **recordings** (named once a `CallRecorded` exists, and only when the recordings store is
  given: `ppcx replay verify` gives the deployment's) — every recording not deleted is still
  in the store, and its bytes hash to the SHA-256 and size `CallRecorded` recorded: a
  swapped or edited recording fails. This check reads the store, not only the log.
- **transcripts**, **spotting** — call evidence against its stores (`replay.evidence`), when
  `verify` is given the stores and the log has such events.

The calls' checks (`replay.calls`) run in a worker process fed with the call events while
this process reads, chains and books: two cores, one pass. Failures name the notification id
(position), the check and the aggregate. The report is a pure function of the log (and the
expected head): the same log gives byte-identical JSON.
"""

from __future__ import annotations

import contextlib
import marshal
import multiprocessing
import os
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import orjson

from domain.call import CALL_MAX_S
from domain.invariant import InvariantViolation
from eventstore.chain import GENESIS, ChainHasher
from eventstore.rows import ChainedRow
from replay import books
from replay.books import Books
from replay.calls import FAILURES_KEPT_MAX, CallChecker, CallResults
from replay.calls import serve as serve_calls
from replay.evidence import TOPICS as EVIDENCE_TOPICS
from replay.evidence import EvidenceCheck, EvidenceSources
from replay.log import SelectChained, event_name, pages

# (and "auto_pauses", the targets' automatic pauses derived again, "qualifications", the IVR
# qualifications failed judged again, "recordings", the stored recordings hashed again,
# "scores", the lead scores re-computed (`replay.scores`), "flags", the completed calls'
# buzzer-beater and short-call flags re-run (bills of rules version 2 on), "reviews", the
# anomaly watch's counts and flags derived again, and "screening", the pings' screens before
# the auction re-run (`replay.velocity` for caller velocity), each named once there is one: a
# log without one gives the report it always gave)
CHECKS = ("chain", "ledger", "balances", "auctions", "routes", "billing", "holds")
# This process decodes what the books fold (every row is chained whatever its event): the
# events that move money, whose recorded balance is checked, and those that set a limit.
READS = books.READS
LIMITS = books.LIMIT_SET
MONEY = books.READS.names - LIMITS
WORKER_JOIN_S = 30.0
WORKER_WAIT_S = 600.0  # for a page to be taken, or for the results after the last one
PAGES_IN_FLIGHT_MAX = 2  # pages marshalled and waiting for the worker (bounded memory)


@dataclass(frozen=True, order=True)
class Failure:
    position: int
    check: str
    aggregate_id: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "check": self.check,
            "aggregate_id": self.aggregate_id,
            "message": self.message,
        }


@dataclass
class Report:
    events: int = 0
    head: int = 0
    head_link: str = ""
    last_event_at: str | None = None
    checked: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CHECKS, 0))
    failure_count: int = 0
    failures: list[Failure] = field(default_factory=list)
    totals: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.failure_count == 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "events": self.events,
            "head": self.head,
            "head_link": self.head_link,
            "last_event_at": self.last_event_at,
            "checked": self.checked,
            "failure_count": self.failure_count,
            "failures": [f.to_dict() for f in sorted(self.failures)[:FAILURES_KEPT_MAX]],
            "totals": self.totals,
        }

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_dict(), option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2)


# -- the calls' half: in this process, or in a worker -------------------------------------------
class RecordingDigests(Protocol):
    """The recordings store as verify reads it (`evidence.recordings.RecordingStore`)."""

    def digest(self, key: str) -> tuple[str, int] | None: ...


class CallsHalf(Protocol):
    def send(self, rows: list[ChainedRow]) -> None: ...

    def finish(self) -> CallResults: ...

    def close(self) -> None: ...


class InProcess:
    def __init__(self) -> None:
        self.checker = CallChecker()

    def send(self, rows: list[ChainedRow]) -> None:
        self.checker.feed(rows)

    def finish(self) -> CallResults:
        return self.checker.results()

    def close(self) -> None:
        return None


class Worker:
    """A spawned process running `replay.calls.serve`. Each page goes over whole (marshalling
    a page costs less than picking its call events out here), before this process chains and
    books it, so both halves work on the same page at once; a sender thread writes to the
    pipe (the write releases the GIL), so neither side waits for the other's page."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(
            target=serve_calls, args=(child,), name="ppcx-verify-calls", daemon=True
        )
        self.process.start()
        child.close()
        self.outbox: queue.Queue[bytes | None] = queue.Queue(maxsize=PAGES_IN_FLIGHT_MAX)
        self.error: BaseException | None = None
        self.sender = threading.Thread(target=self._send_all, name="verify-sender", daemon=True)
        self.sender.start()

    def _send_all(self) -> None:
        while (payload := self.outbox.get()) is not None:
            try:
                self.conn.send_bytes(payload)
            except BaseException as error:  # reported by the next send or by finish
                self.error = error
                while self.outbox.get() is not None:  # drain: the producer must not block
                    pass
                return

    def _raise(self) -> None:
        if self.error is not None:
            raise RuntimeError("the calls worker stopped taking pages") from self.error

    def send(self, rows: list[ChainedRow]) -> None:
        self._raise()
        self.outbox.put(marshal.dumps(rows), timeout=WORKER_WAIT_S)

    def finish(self) -> CallResults:
        self.outbox.put(None, timeout=WORKER_WAIT_S)
        self.sender.join(WORKER_WAIT_S)
        self._raise()
        if self.sender.is_alive():
            raise RuntimeError("the calls worker stopped taking pages")
        self.conn.send_bytes(b"")
        if not self.conn.poll(WORKER_WAIT_S):  # it checks the pages still in flight first
            raise RuntimeError(f"the calls worker did not answer within {WORKER_WAIT_S:.0f} s")
        results = self.conn.recv()  # pickled by our own worker process
        if not isinstance(results, CallResults):
            raise RuntimeError(f"the calls worker answered {type(results).__name__}")
        return results

    def close(self) -> None:
        if self.sender.is_alive():
            with contextlib.suppress(queue.Full):
                self.outbox.put(None, timeout=WORKER_JOIN_S)
            self.sender.join(WORKER_JOIN_S)
        self.conn.close()
        self.process.join(WORKER_JOIN_S)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(WORKER_JOIN_S)


# -- this process's half: chain, ledger, balances --------------------------------------------------
class Verifier:
    def __init__(
        self,
        chain_key: bytes,
        calls: CallsHalf,
        *,
        expect_head: int | None = None,
        expect_link: bytes | None = None,
        recordings: RecordingDigests | None = None,
        evidence: EvidenceSources | None = None,
    ) -> None:
        self.hasher = ChainHasher(chain_key)
        self.recordings = recordings
        self.evidence = EvidenceCheck(evidence, self.fail) if evidence is not None else None
        self.evidence_topics = EVIDENCE_TOPICS if evidence is not None else frozenset()
        self.calls = calls
        self.expect_head = expect_head
        self.expect_link = expect_link
        self.link_at_expected: bytes | None = None
        self.report = Report()
        self.books = Books()
        self.buyers: set[str] = set()
        self.previous_link = GENESIS
        self.previous_id = 0
        self.last_stamp = ""
        self.money: dict[str, str | None] = {}  # topic -> the ledger's event name, or None

    def fail(self, position: int, check: str, aggregate_id: str, message: str) -> None:
        self.report.failure_count += 1
        if len(self.report.failures) < FAILURES_KEPT_MAX:
            self.report.failures.append(Failure(position, check, aggregate_id, message))

    def feed(self, rows: list[ChainedRow]) -> None:  # noqa: PLR0912 - the hot loop, inlined
        """One page: handed to the calls' half first, then chained and booked here."""
        if rows:
            self.calls.send(rows)
        link_of = self.hasher.link
        money = self.money
        expected_id = self.previous_id + 1
        previous_link = self.previous_link
        evidence_topics = self.evidence_topics
        events = 0
        for position, originator_id, version, topic, state, link in rows:
            if position != expected_id:
                self._gap(expected_id, position)
            expected_id = position + 1
            if position == self.expect_head:
                self.link_at_expected = link
            if topic is None or state is None or originator_id is None or version is None:
                self.fail(
                    position,
                    "chain",
                    originator_id or "-",
                    "a chain link without its event: the event was deleted",
                )
                if link is not None:
                    previous_link = link
                continue
            events += 1
            if link is None:
                self.fail(
                    position,
                    "chain",
                    originator_id,
                    "an event without a chain link: inserted outside the recorder",
                )
            else:
                if link_of(previous_link, position, originator_id, version, topic, state) != link:
                    self.fail(
                        position,
                        "chain",
                        originator_id,
                        "the stored link does not match the event: the event was edited, "
                        "inserted or moved, or its predecessor was removed",
                    )
                previous_link = link
            if topic in evidence_topics and self.evidence is not None:
                self._evidence(self.evidence, position, originator_id, version, topic, state)
                continue
            name = money.get(topic)
            if name is None:
                if topic in money:
                    continue
                name = money[topic] = self._money_name(topic)
                if name is None:
                    continue
            self._money(position, originator_id, name, state)
        self.previous_id = expected_id - 1
        self.previous_link = previous_link
        report = self.report
        report.events += events
        report.checked["chain"] += events
        if rows:
            report.head = rows[-1][0]

    def _evidence(
        self,
        check: EvidenceCheck,
        position: int,
        aggregate_id: str,
        version: int,
        topic: str,
        state: bytes,
    ) -> None:
        try:
            check.feed(position, aggregate_id, version, topic, state)
        except (KeyError, TypeError, ValueError) as error:
            name = topic.partition(":")[2]
            self.fail(
                position, "transcripts", aggregate_id, f"{name}: {type(error).__name__} {error}"
            )

    def _gap(self, expected_id: int, position: int) -> None:
        self.fail(
            expected_id,
            "chain",
            "-",
            f"notification ids {expected_id}..{position - 1} are missing: events were deleted",
        )

    @staticmethod
    def _money_name(topic: str) -> str | None:
        name = event_name(topic)
        return name if name in MONEY or name in LIMITS else None

    def _money(self, position: int, buyer_id: str, name: str, state: bytes) -> None:
        try:
            data: dict[str, Any] = orjson.loads(state)
            stamp = data.get("timestamp")
            if type(stamp) is str and stamp > self.last_stamp:  # RFC 3339, UTC: ordered
                self.last_stamp = stamp
            self.buyers.add(buyer_id)
            self.books.apply(name, buyer_id, data)
            if name in MONEY:
                checked = self.report.checked
                checked["ledger"] += 1
                checked["balances"] += 1
                recorded = data["balance"]
                row = self.books.buyer_row(buyer_id)
                if (
                    recorded["debits_posted"] != row[0]
                    or recorded["credits_posted"] != row[1]
                    or recorded["debits_pending"] != row[2]
                ):
                    self.fail(
                        position,
                        "balances",
                        buyer_id,
                        f"recorded balance {recorded} != recomputed "
                        f"{self.books.buyer_balance(buyer_id)}",
                    )
        except (InvariantViolation, KeyError, TypeError, ValueError, AttributeError) as error:
            self.fail(position, "ledger", buyer_id, f"{name}: {type(error).__name__} {error}")

    # -- the end ----------------------------------------------------------------------------------
    def finish(self) -> Report:
        results = self.calls.finish()
        report = self.report
        for position, check, aggregate_id, message in results.failures:
            self.fail(position, check, aggregate_id, message)
        report.failure_count += results.failure_count - len(results.failures)
        for check, count in results.checked.items():
            report.checked[check] = report.checked.get(check, 0) + count
        if self.evidence is not None:
            for check, count in self.evidence.checked.items():
                report.checked[check] = report.checked.get(check, 0) + count
        report.head_link = self.previous_link.hex() if report.head else ""
        last_stamp = max(self.last_stamp, results.last_stamp)
        last_at = datetime.fromisoformat(last_stamp) if last_stamp else None
        report.last_event_at = last_at.isoformat() if last_at else None
        self._end_of_log(report)
        self._ledger_totals(report)
        self._open_holds(report, results, last_at)
        self._recordings(report, results)
        report.totals = {
            "accounts": len(self.books.balances),
            "buyers": len(self.buyers),
            "calls": results.calls,
            "open_holds": len(self.books.pending),
            "revenue_posted_cents": -self.books.net_cents("platform:revenue"),
        }
        return report

    def _end_of_log(self, report: Report) -> None:
        if report.events == 0:
            self.fail(0, "chain", "-", "the log is empty: nothing was verified")
        if self.expect_head is None:
            return
        if report.head < self.expect_head:
            self.fail(
                report.head,
                "chain",
                "-",
                f"the log ends at {report.head}, before the expected head {self.expect_head}: "
                "events were removed from its end",
            )
        elif self.expect_link is not None and self.link_at_expected != self.expect_link:
            found = self.link_at_expected.hex() if self.link_at_expected else None
            self.fail(
                self.expect_head,
                "chain",
                "-",
                f"the link at {self.expect_head} is {found}, not the recorded "
                f"{self.expect_link.hex()}: the log up to there was rewritten",
            )

    def _ledger_totals(self, report: Report) -> None:
        total = self.books.total_net_cents()
        report.checked["ledger"] += 1
        if total != 0:
            self.fail(report.head, "ledger", "-", f"the accounts sum to {total}, not zero")
        for buyer_id in sorted(self.buyers):
            limit = self.books.limits.get(buyer_id, 0)
            available = self.books.available_cents(buyer_id)
            if available < -limit:
                self.fail(
                    report.head,
                    "ledger",
                    buyer_id,
                    f"available {available} below minus the credit limit {limit}",
                )

    def _open_holds(self, report: Report, results: CallResults, last_at: datetime | None) -> None:
        """The calls' open holds are the ledger's pending ones, each within its expiry."""
        report.checked["holds"] += len(self.books.closed)
        pending = self.books.pending_calls()
        for hold_id in sorted(pending.keys() | results.open_holds.keys()):
            report.checked["holds"] += 1
            found = results.open_holds.get(hold_id)
            if found is None:
                self.fail(
                    report.head,
                    "holds",
                    pending[hold_id],
                    f"hold {hold_id} is pending in the ledger, but its call has closed it",
                )
                continue
            call_id, kind, expires, routed_at = found
            if hold_id not in pending:
                self.fail(
                    report.head,
                    "holds",
                    call_id,
                    f"the call still holds {hold_id}, but the ledger has released it",
                )
                continue
            if kind == "routed" and routed_at is not None:
                expires_at = datetime.fromisoformat(routed_at) + timedelta(seconds=CALL_MAX_S)
            else:
                expires_at = datetime.fromisoformat(str(expires))
            if last_at is not None and expires_at < last_at:
                self.fail(
                    report.head,
                    "holds",
                    call_id,
                    f"hold {hold_id} is still open after its expiry {expires_at.isoformat()}",
                )

    def _recordings(self, report: Report, results: CallResults) -> None:
        """Each stored recording's bytes hashed again against its `CallRecorded`."""
        if self.recordings is None or not results.recordings:
            return
        report.checked.setdefault("recordings", 0)
        for rec_id, found in sorted(results.recordings.items()):
            position, call_id, location, sha256, size, deleted = found
            if deleted:
                continue  # its bytes left the store; its hash stays in the log
            report.checked["recordings"] += 1
            stored = self.recordings.digest(location)
            if stored is None:
                self.fail(position, "recordings", call_id, f"recording {rec_id} is missing")
            elif stored != (sha256, size):
                self.fail(
                    position,
                    "recordings",
                    call_id,
                    f"recording {rec_id}'s stored bytes hash to {stored[0]} ({stored[1]} "
                    f"bytes), not the recorded {sha256} ({size} bytes): it was changed",
                )


def verify(
    select_chained: SelectChained,
    chain_key: bytes,
    *,
    on_page: Callable[[Report], None] | None = None,
    expect_head: int | None = None,
    expect_link: bytes | None = None,
    parallel: bool | None = None,
    recordings: RecordingDigests | None = None,
    evidence: EvidenceSources | None = None,
) -> Report:
    """Verify the whole log (pages from `select_chained`). `parallel` (default: when there is
    more than one CPU) runs the calls' checks in a worker process. `evidence`: the stores the
    call evidence is checked against (None: not checked)."""
    if parallel is None:
        parallel = (os.cpu_count() or 1) > 1
    calls: CallsHalf = Worker() if parallel else InProcess()
    try:
        verifier = Verifier(
            chain_key,
            calls,
            expect_head=expect_head,
            expect_link=expect_link,
            recordings=recordings,
            evidence=evidence,
        )
        for page in pages(select_chained):
            verifier.feed(page)
            if on_page is not None:
                on_page(verifier.report)
        return verifier.finish()
    finally:
        calls.close()
