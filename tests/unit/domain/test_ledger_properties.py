"""Property-based tests of the ledger through the real handlers (Hypothesis state machine).

Any sequence of deposits, wins (holds), posts, voids (expiry, failover, unbillable calls),
disputes and reversals keeps every transfer balanced, the sum of all accounts at zero, every
buyer's available balance at or above minus its credit limit, each buyer aggregate equal to
the ledger rebuilt from the log, and every aggregate equal to a replay of its own events.
Refused commands record nothing.
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.application import project_aggregate
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
)

from domain.buyer import Buyer
from domain.clock import ManualClock
from domain.commands import (
    ChangeCreditLimit,
    CompleteCall,
    DepositFunds,
    DisputeCall,
    ExpirePing,
    FailOver,
    PostCall,
    RecordAnswer,
    ResolveDispute,
)
from domain.errors import DomainError
from domain.ids import new_id
from domain.ledger import buyer_account
from domain.money import format_cents
from handlers import parse
from ppcx.bootstrap import Domain, build_domain
from ppcx.settings import Settings
from tests.support.clock import START
from tests.support.log import ledger_from_log, notifications
from tests.support.market import Market, build_market

pytestmark = pytest.mark.unit

cents = st.integers(min_value=1, max_value=50_000)


class LedgerMachine(RuleBasedStateMachine):
    calls = Bundle("calls")

    def __init__(self) -> None:
        super().__init__()
        self.clock = ManualClock(START)
        self.domain: Domain | None = None
        self.market: Market | None = None
        self.data_dir: Path | None = None
        self.refused = 0

    @initialize(
        limits=st.lists(st.integers(0, 20_000), min_size=3, max_size=3),
        deposits=st.lists(st.integers(0, 30_000), min_size=3, max_size=3),
        bids=st.lists(st.integers(3_500, 9_000), min_size=3, max_size=3),
    )
    def start(self, limits: list[int], deposits: list[int], bids: list[int]) -> None:
        self.data_dir = Path(tempfile.mkdtemp(prefix="ppcx-ledger-"))  # tests write only there
        settings_ = Settings(
            data_dir=self.data_dir,
            persistence_module="eventsourcing.popo",
            audit_key="k",
            secret_key="s",
        )
        self.domain = build_domain(settings_, clock=self.clock)
        self.market = build_market(
            self.domain, buyers=3, deposit="0.00", bids=tuple(format_cents(b) for b in bids)
        )
        for buyer_id, limit, amount in zip(self.market.buyers, limits, deposits, strict=True):
            self._try(
                parse.change_credit_limit(
                    buyer_id=buyer_id, credit_limit=format_cents(limit), by="t"
                )
            )
            if amount:
                self._try(
                    parse.deposit_funds(
                        buyer_id=buyer_id, amount=format_cents(amount), reference="wire", by="t"
                    )
                )

    # -- helpers -----------------------------------------------------------------------------
    @property
    def d(self) -> Domain:
        assert self.domain is not None
        return self.domain

    @property
    def m(self) -> Market:
        assert self.market is not None
        return self.market

    def _try(self, command: Any) -> Any:
        """Run a command; a refusal must leave the log untouched."""
        handlers: dict[type, Any] = {
            ChangeCreditLimit: self.d.setup.change_credit_limit,
            DepositFunds: self.d.setup.deposit,
            PostCall: self.d.calls.post_call,
            RecordAnswer: self.d.calls.record_answer,
            FailOver: self.d.calls.fail_over,
            CompleteCall: self.d.calls.complete_call,
            ExpirePing: self.d.calls.expire_ping,
            DisputeCall: self.d.calls.dispute_call,
            ResolveDispute: self.d.calls.resolve_dispute,
        }
        before = self.d.app.store.head()
        try:
            return handlers[type(command)](command)
        except DomainError:
            self.refused += 1
            assert self.d.app.store.head() == before
            return None

    # -- rules -------------------------------------------------------------------------------
    @rule(buyer=st.integers(0, 2), amount=cents)
    def deposit(self, buyer: int, amount: int) -> None:
        self._try(
            parse.deposit_funds(
                buyer_id=self.m.buyers[buyer], amount=format_cents(amount), reference="wire", by="t"
            )
        )

    @rule(buyer=st.integers(0, 2), limit=st.integers(0, 20_000))
    def change_limit(self, buyer: int, limit: int) -> None:
        self._try(
            parse.change_credit_limit(
                buyer_id=self.m.buyers[buyer], credit_limit=format_cents(limit), by="t"
            )
        )

    @rule(target=calls, order=st.permutations([0, 1, 2]), caller=st.sampled_from("abc"))
    def win(self, order: list[int], caller: str) -> str | None:
        before = self.d.app.store.head()
        try:
            result = self.m.auction([self.m.targets[i] for i in order], caller_hash=caller)
        except DomainError:
            assert self.d.app.store.head() == before
            return None
        return str(result.call_id)

    @rule(call=calls)
    def post(self, call: str | None) -> None:
        if call:
            self._try(PostCall(call))

    @rule(call=calls)
    def answer(self, call: str | None) -> None:
        if call:
            self._try(RecordAnswer(call))

    @rule(call=calls, next_target=st.integers(0, 2), give_up=st.booleans())
    def fail_over(self, call: str | None, next_target: int, give_up: bool) -> None:
        if call:
            target = None if give_up else self.m.targets[next_target]
            self._try(FailOver(call, "no_answer", target, None if give_up else new_id("hold")))

    @rule(call=calls, duration_s=st.integers(0, 400))
    def connect(self, call: str | None, duration_s: int) -> None:
        """The common path: post, answer, complete (billed when long enough)."""
        if call:
            self._try(PostCall(call))
            self._try(RecordAnswer(call))
            self._try(CompleteCall(call, duration_s))

    @rule(call=calls, next_target=st.integers(0, 2))
    def ring_then_fail_over(self, call: str | None, next_target: int) -> None:
        if call:
            self._try(PostCall(call))
            self._try(FailOver(call, "busy", self.m.targets[next_target], new_id("hold")))

    @rule(call=calls, duration_s=st.integers(0, 400))
    def complete(self, call: str | None, duration_s: int) -> None:
        if call:
            self._try(CompleteCall(call, duration_s))

    @rule(call=calls, seconds=st.integers(1, 120))
    def expire(self, call: str | None, seconds: int) -> None:
        self.clock.advance(timedelta(seconds=seconds))
        if call:
            self._try(ExpirePing(call))

    @rule(call=calls, accept=st.booleans())
    def dispute(self, call: str | None, accept: bool) -> None:
        if not call:
            return
        dispute_id = self._try(parse.dispute_call(call_id=call, reason="not qualified", by="buyer"))
        if dispute_id:
            self._try(
                parse.resolve_dispute(
                    call_id=call,
                    dispute_id=dispute_id,
                    accept=accept,
                    note="reviewed",
                    by="finance",
                )
            )

    # -- invariants --------------------------------------------------------------------------
    @invariant()
    def books_balance(self) -> None:
        if self.domain is None:
            return
        ledger = ledger_from_log(self.d.app)  # Transfer() itself asserts debits == credits
        assert ledger.total_net_cents() == 0
        ledger.check(self.m.buyers)
        for buyer_id in self.m.buyers:
            live = self.d.app.load(Buyer, buyer_id, "buyer_id")
            rebuilt = ledger.balance(buyer_account(buyer_id))
            assert live.available_cents == rebuilt.available_cents
            assert live.posted_cents == rebuilt.posted_cents
            assert live.available_cents >= -live.credit_limit_cents

    def teardown(self) -> None:
        try:
            if self.domain is None:
                return
            try:
                seen = {str(n.originator_id) for n in notifications(self.d.app)}
                for aggregate_id in seen:
                    live = self.d.app.repository.get(aggregate_id)
                    replayed = project_aggregate(None, self.d.app.events.get(aggregate_id))
                    assert vars(replayed) == vars(live), aggregate_id
            finally:
                self.d.close()
        finally:
            if self.data_dir is not None:
                shutil.rmtree(self.data_dir, ignore_errors=True)


LedgerMachine.TestCase.settings = settings(
    max_examples=80,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_ledger_state_machine = LedgerMachine.TestCase
