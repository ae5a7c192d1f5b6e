"""`ppcx replay verify`: the log alone proves the books, the bills, the auctions and itself.

One pass over the stored rows (raw JSON, no event objects), checking:

- **chain** — each stored link recomputed from the stored predecessor (the deployment's
  audit key): an edited, inserted, swapped or reordered event breaks the link at its own
  position; a deleted one leaves a gap in the notification ids and breaks the next link;
- **ledger** — every transfer balances (debits = credits); holds are placed once, posted or
  voided once; every buyer event's recorded `balance` equals the balance recomputed from the
  log; at the end the accounts sum to zero and no buyer is below minus its credit limit;
- **holds** — a hold still open at the end of the log lies within its expiry (the bid's
  expiry before the call is routed, the routed call's maximum life after);
- **billing** — revenue = payout + margin for every call, and the pure billing rules re-run
  with the call's answer, duration, buffer, duplicate history and block list give the
  recorded decision;
- **auctions** — every `AuctionDecided` re-run through the versioned decision function with
  its recorded bids, mode, floor, seed and round-robin cursor gives the same ranking, winner
  and price (and the campaign's payout rule the same payout).

Failures name the notification id (position), the aggregate and the check. The report is a
pure function of the log: the same log gives byte-identical JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson

from domain.billing import PayoutRule, decide_billing, is_duplicate
from domain.chain import GENESIS, ChainHasher
from domain.invariant import InvariantViolation
from domain.persistence import ChainedRow
from exchange.auction import Bid, decide
from exchange.hotstate import CALL_MAX_S
from replay.books import Books
from replay.log import event_name, pages

FAILURES_KEPT_MAX = 1000  # the report lists the first failures; the count covers them all
BUYER_MONEY = frozenset(
    {
        "Buyer.FundsDeposited",
        "Buyer.HoldPlaced",
        "Buyer.HoldPosted",
        "Buyer.HoldVoided",
        "Buyer.TransferReversed",
    }
)
CHECKS = ("chain", "ledger", "balances", "holds", "billing", "auctions")


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
        return self.failure_count == 0 and self.events > 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "events": self.events,
            "head": self.head,
            "head_link": self.head_link,
            "last_event_at": self.last_event_at,
            "checked": self.checked,
            "failure_count": self.failure_count,
            "failures": [f.to_dict() for f in sorted(self.failures)],
            "totals": self.totals,
        }

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_dict(), option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2)


@dataclass
class _Call:
    campaign_id: str
    caller_hash: str
    ranking_bids: list[Bid] = field(default_factory=list)
    route: dict[str, Any] | None = None
    answered: bool = False
    duration_s: int = 0


class Verifier:
    def __init__(self, chain_key: bytes) -> None:
        self.hasher = ChainHasher(chain_key)
        self.report = Report()
        self.books = Books()
        self.previous_link = GENESIS
        self.previous_id = 0
        self.campaigns: dict[str, dict[str, Any]] = {}
        self.calls: dict[str, _Call] = {}
        self.histories: dict[tuple[str, str, str], datetime] = {}
        self.blocked_ids: dict[str, str] = {}  # BlockedCaller id -> caller hash
        self.blocked: set[str] = set()
        self.buyers: set[str] = set()
        self.hold_expiry: dict[str, tuple[datetime, str]] = {}  # open hold -> (expiry, call)
        self.expiry_hints: dict[str, datetime] = {}  # hold -> expiry, from the call's events
        self.last_stamp = ""  # the latest event time seen (RFC 3339 text)
        self.routes: dict[str, tuple[str, Any, bool]] = {}  # topic -> (name, handler, money)
        self.handlers = {
            "Campaign.Created": self._campaign,
            "Call.PingReceived": self._ping,
            "Call.BidReceived": self._bid,
            "Call.AuctionDecided": self._auction,
            "Call.CallRouted": self._routed,
            "Call.CallAnswered": self._answered,
            "Call.CallCompleted": self._completed,
            "Call.CallBilled": self._billed,
            "Call.CallNotBilled": self._not_billed,
            "BlockedCaller.CallerBlocked": self._block,
            "BlockedCaller.CallerReblocked": self._reblock,
            "BlockedCaller.CallerUnblocked": self._unblock,
        }

    def fail(self, position: int, check: str, aggregate_id: str, message: str) -> None:
        self.report.failure_count += 1
        if len(self.report.failures) < FAILURES_KEPT_MAX:
            self.report.failures.append(Failure(position, check, aggregate_id, message))

    # -- the pass -------------------------------------------------------------------------------
    def feed(self, rows: list[ChainedRow]) -> None:  # noqa: PLR0912 - the hot loop, inlined
        checked = self.report.checked
        link_of = self.hasher.link
        routes = self.routes
        last_stamp = self.last_stamp
        for position, originator_id, version, topic, raw_state, raw_link in rows:
            if position != self.previous_id + 1:
                self.fail(
                    self.previous_id + 1,
                    "chain",
                    "-",
                    f"notification ids {self.previous_id + 1}..{position - 1} are "
                    "missing: events were deleted",
                )
            self.previous_id = position
            if topic is None or raw_state is None or originator_id is None or version is None:
                self.fail(
                    position,
                    "chain",
                    originator_id or "-",
                    "a chain link without its event: the event was deleted",
                )
                if raw_link is not None:
                    self.previous_link = bytes(raw_link)
                continue
            checked["chain"] += 1
            self.report.events += 1
            state = raw_state if type(raw_state) is bytes else bytes(raw_state)
            if raw_link is None:
                self._unlinked(position, originator_id)
            else:
                link = raw_link if type(raw_link) is bytes else bytes(raw_link)
                if (
                    link_of(self.previous_link, position, originator_id, version, topic, state)
                    != link
                ):
                    self._broken(position, originator_id)
                self.previous_link = link
            route = routes.get(topic)
            if route is None:
                route = routes[topic] = self._route(topic)
            name, handler, money = route
            if handler is None and not money:
                continue
            try:
                data: dict[str, Any] = orjson.loads(state)
            except orjson.JSONDecodeError:
                self.fail(position, "chain", originator_id, "the event's state is not JSON")
                continue
            stamp = data.get("timestamp")
            if type(stamp) is str and stamp > last_stamp:  # RFC 3339, one offset: ordered
                last_stamp = stamp
            try:
                if money:
                    self._money(position, originator_id, name, topic, data)
                if handler is not None:
                    handler(position, originator_id, data)
            except (InvariantViolation, KeyError, TypeError, ValueError) as error:
                check = (
                    "ledger"
                    if money
                    else ("auctions" if name == "Call.AuctionDecided" else "billing")
                )
                self.fail(position, check, originator_id, f"{name}: {error}")
        self.last_stamp = last_stamp
        if rows:
            self.report.head = rows[-1][0]

    def _unlinked(self, position: int, originator_id: str) -> None:
        self.fail(
            position,
            "chain",
            originator_id,
            "an event without a chain link: inserted outside the recorder",
        )

    def _broken(self, position: int, originator_id: str) -> None:
        self.fail(
            position,
            "chain",
            originator_id,
            "the stored link does not match the event: the event was edited, "
            "inserted or moved, or its predecessor was removed",
        )

    def _route(self, topic: str) -> tuple[str, Any, bool]:
        name = event_name(topic)
        money = name in BUYER_MONEY or name in ("Buyer.Registered", "Buyer.CreditLimitChanged")
        return name, self.handlers.get(name), money

    # -- money ----------------------------------------------------------------------------------
    def _money(
        self, position: int, buyer_id: str, name: str, topic: str, data: dict[str, Any]
    ) -> None:
        self.buyers.add(buyer_id)
        if name == "Buyer.HoldPlaced":
            hold_id = data["hold_id"]
            placed = _time(data["timestamp"])
            assert placed is not None
            fallback = placed + timedelta(seconds=CALL_MAX_S)
            self.hold_expiry[hold_id] = (self.expiry_hints.get(hold_id, fallback), data["call_id"])
        elif name in ("Buyer.HoldPosted", "Buyer.HoldVoided"):
            self.hold_expiry.pop(data["hold_id"], None)
            self.expiry_hints.pop(data["hold_id"], None)
        self.books.apply(name, buyer_id, data)
        if name in BUYER_MONEY:
            checked = self.report.checked
            checked["ledger"] += 1
            checked["balances"] += 1
            recorded = data.get("balance")
            recomputed = self.books.buyer_balance(buyer_id)
            if recorded != recomputed:
                self.fail(
                    position,
                    "balances",
                    buyer_id,
                    f"recorded balance {recorded} != recomputed {recomputed}",
                )

    # -- configuration --------------------------------------------------------------------------
    def _campaign(self, position: int, campaign_id: str, data: dict[str, Any]) -> None:
        self.campaigns[campaign_id] = {
            "window": int(data["duplicate_window_days"]),
            "payout": PayoutRule.from_dict(data["payout"]),
        }

    def _block(self, position: int, entry_id: str, data: dict[str, Any]) -> None:
        self.blocked_ids[entry_id] = data["caller_hash"]
        self.blocked.add(data["caller_hash"])

    def _reblock(self, position: int, entry_id: str, data: dict[str, Any]) -> None:
        self.blocked.add(self.blocked_ids[entry_id])

    def _unblock(self, position: int, entry_id: str, data: dict[str, Any]) -> None:
        self.blocked.discard(self.blocked_ids[entry_id])

    # -- calls ----------------------------------------------------------------------------------
    def _ping(self, position: int, call_id: str, data: dict[str, Any]) -> None:
        self.calls[call_id] = _Call(data["campaign_id"], data["caller_hash"])

    def _bid(self, position: int, call_id: str, data: dict[str, Any]) -> None:
        self.calls[call_id].ranking_bids.append(
            Bid(
                data["target_id"],
                data["buyer_id"],
                int(data["amount_cents"]),
                int(data["priority"]),
                int(data["weight"]),
            )
        )

    def _auction(self, position: int, call_id: str, data: dict[str, Any]) -> None:
        call = self.calls[call_id]
        self.report.checked["auctions"] += 1
        recorded = [c["target_id"] for c in data["ranking"]]
        rerun = decide(
            data["mode"],
            call.ranking_bids,
            int(data["floor_cents"]),
            int(data["seed"]),
            int(data["rr_cursor"]),
            int(data["rule_version"]),
            limit=max(len(recorded), 1),
        )
        rerun_ids = [b.target_id for b in rerun]
        skipped = {s[0] for s in data.get("skipped", [])}
        winner = next((b for b in rerun if b.target_id not in skipped), None)
        if rerun_ids[: len(recorded)] != recorded:
            self.fail(
                position,
                "auctions",
                call_id,
                f"the re-run ranking {rerun_ids[:3]}… differs from the recorded {recorded[:3]}…",
            )
        elif winner is None or winner.target_id != data["winner_target_id"]:
            self.fail(
                position,
                "auctions",
                call_id,
                f"the re-run winner {winner.target_id if winner else None} is not the "
                f"recorded {data['winner_target_id']}",
            )
        elif winner.amount_cents != data["price_cents"]:
            self.fail(
                position,
                "auctions",
                call_id,
                f"the re-run price {winner.amount_cents} is not the recorded {data['price_cents']}",
            )
        else:
            campaign = self.campaigns.get(call.campaign_id)
            if (
                campaign is not None
                and campaign["payout"].payout_cents(winner.amount_cents) != data["payout_cents"]
            ):
                self.fail(
                    position,
                    "auctions",
                    call_id,
                    f"payout {data['payout_cents']} is not the campaign's rule applied "
                    f"to {winner.amount_cents}",
                )
        expires = _time(data["expires_at"])
        if expires is not None:
            self._expiry(data["hold_id"], expires, call_id)
        call.ranking_bids = []  # the bids are not needed any more: keep memory flat

    def _routed(self, position: int, call_id: str, data: dict[str, Any]) -> None:
        call = self.calls[call_id]
        call.route = data
        call.answered = False
        at = _time(data["timestamp"])
        if at is not None:  # a routed call keeps its hold for the call's maximum life
            self._expiry(data["hold_id"], at + timedelta(seconds=CALL_MAX_S), call_id)

    def _expiry(self, hold_id: str, expires: datetime, call_id: str) -> None:
        self.expiry_hints[hold_id] = expires
        if hold_id in self.hold_expiry:
            self.hold_expiry[hold_id] = (expires, call_id)

    def _answered(self, position: int, call_id: str, data: dict[str, Any]) -> None:
        self.calls[call_id].answered = True

    def _completed(self, position: int, call_id: str, data: dict[str, Any]) -> None:
        call = self.calls[call_id]
        call.duration_s = int(data["duration_s"])
        call.answered = bool(data["answered"])

    def _rerun_billing(self, call_id: str, at: datetime) -> tuple[Any, _Call]:
        call = self.calls[call_id]
        route = call.route
        if route is None:
            raise InvariantViolation("billed without a route")
        campaign = self.campaigns[call.campaign_id]
        last = self.histories.get((call.caller_hash, route["buyer_id"], call.campaign_id))
        decision = decide_billing(
            answered=call.answered,
            duration_s=call.duration_s,
            buffer_s=int(route["buffer_s"]),
            duplicate=is_duplicate(last, at, campaign["window"]),
            blocked=call.caller_hash in self.blocked,
            price_cents=int(route["price_cents"]),
            payout_cents=int(route["payout_cents"]),
        )
        return decision, call

    def _billed(self, position: int, call_id: str, data: dict[str, Any]) -> None:
        self.report.checked["billing"] += 1
        revenue, payout, margin = (
            int(data[k]) for k in ("revenue_cents", "payout_cents", "margin_cents")
        )
        if revenue != payout + margin:
            self.fail(
                position,
                "billing",
                call_id,
                f"revenue {revenue} != payout {payout} + margin {margin}",
            )
        at = _time(data["timestamp"])
        assert at is not None
        decision, call = self._rerun_billing(call_id, at)
        if not decision.billable or (decision.revenue_cents, decision.payout_cents) != (
            revenue,
            payout,
        ):
            self.fail(
                position,
                "billing",
                call_id,
                f"the billing rules give {decision.reason} {decision.revenue_cents}/"
                f"{decision.payout_cents}, the log says billed {revenue}/{payout}",
            )
        self.histories[(call.caller_hash, data["buyer_id"], call.campaign_id)] = at

    def _not_billed(self, position: int, call_id: str, data: dict[str, Any]) -> None:
        self.report.checked["billing"] += 1
        if data["hold_id"] is None:  # failover ran out of bidders: never answered
            if data["reason"] != "not_answered":
                self.fail(position, "billing", call_id, "an unrouted call is not_answered")
            return
        at = _time(data["timestamp"])
        assert at is not None
        decision, _ = self._rerun_billing(call_id, at)
        if decision.billable or decision.reason != data["reason"]:
            self.fail(
                position,
                "billing",
                call_id,
                f"the billing rules give {decision.reason}, the log says {data['reason']}",
            )

    # -- the end ----------------------------------------------------------------------------------
    def finish(self) -> Report:
        report = self.report
        report.head_link = self.previous_link.hex()
        last_at = _time(self.last_stamp)
        report.last_event_at = last_at.isoformat() if last_at else None
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
        for hold_id, (expires, call_id) in sorted(self.hold_expiry.items()):
            report.checked["holds"] += 1
            if last_at is not None and expires < last_at:
                self.fail(
                    report.head,
                    "holds",
                    call_id,
                    f"hold {hold_id} is still open after its expiry {expires.isoformat()}",
                )
        report.checked["holds"] += len(self.books.closed)
        report.totals = {
            "accounts": len(self.books.balances),
            "buyers": len(self.buyers),
            "calls": len(self.calls),
            "open_holds": len(self.hold_expiry),
            "revenue_posted_cents": -self.books.net_cents("platform:revenue"),
        }
        return report


def _time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    return datetime.fromisoformat(value)


def verify(select_chained: Any, chain_key: bytes, *, on_page: Any = None) -> Report:
    """Verify the whole log (pages from `select_chained`)."""
    verifier = Verifier(chain_key)
    for page in pages(select_chained):
        verifier.feed(page)
        if on_page is not None:
            on_page(verifier.report)
    return verifier.finish()
