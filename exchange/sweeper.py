"""The sweeper: reservations past their expiry. A bid never posted is voided (its hold in the
log too); a routed call that never reported its end within `CALL_MAX_S` is completed unbilled;
either way the reservation is released. A claim is a lease (`claim_expired.lua`): several
workers sweep without claiming one reservation at once, and one whose claimer died is claimed
again after the lease."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from domain.call import Call
from domain.clock import Clock
from domain.commands import CompleteCall, ExpirePing
from exchange.blocking import in_thread
from exchange.hotstate import HotState
from exchange.reservations import ReleaseMode, ReservationState
from handlers.calls import CallHandlers

SWEEP_BATCH_MAX = 500
SWEEP_LEASE_MS = 60_000


class Sweeper:
    def __init__(
        self,
        *,
        hot: HotState,
        calls: CallHandlers,
        clock: Clock,
        executor: ThreadPoolExecutor,
    ) -> None:
        self.hot = hot
        self.calls = calls
        self.app = calls.app
        self.clock = clock
        self.executor = executor

    async def sweep(self, limit: int = SWEEP_BATCH_MAX) -> int:
        """Void bids that expired unposted and close calls that never reported an end;
        returns how many reservations were handled."""
        now = self.clock.now()
        handled = 0
        for market in await self.hot.markets():
            for hold_id in await self.hot.claim_expired(market, now, limit, SWEEP_LEASE_MS):
                reservation = await self.hot.reservation(market, hold_id)
                if not reservation:  # released meanwhile
                    await self.hot.drop_expiry(market, hold_id)
                    continue
                await self._expire_one(market, hold_id, reservation)
                handled += 1
        return handled

    async def _expire_one(self, market: str, hold_id: str, reservation: dict[str, str]) -> None:
        call_id, target, buyer = reservation["call"], reservation["target"], reservation["buyer"]
        call = await in_thread(self.executor, self.app.find, Call, call_id)
        held = call.pending_hold() if call is not None else None
        if call is not None and held is not None and held[0] == hold_id:
            if call.allows(Call.PingExpired):
                await in_thread(self.executor, self.calls.expire_ping, ExpirePing(call_id))
            elif call.allows(Call.CallCompleted):
                await in_thread(self.executor, self.calls.complete_call, CompleteCall(call_id, 0))
        mode = (
            ReleaseMode.VOID
            if reservation.get("state") == ReservationState.RESERVED
            else ReleaseMode.END
        )
        await self.hot.release(market, target, buyer, hold_id, mode)
