"""`released_on_error`: a reservation made before the events are appended is released when
anything stops the append — the store refusing the hold, a cancelled request, any other
error — and the error goes on to the caller."""

from __future__ import annotations

import asyncio

import pytest

from domain.errors import InsufficientFunds
from exchange.reservations import ReleaseMode, released_on_error

pytestmark = pytest.mark.anyio

Released = tuple[str, str, str, str, ReleaseMode]


class Recorder:
    """Records what is released (the one method `released_on_error` calls)."""

    def __init__(self) -> None:
        self.released: list[Released] = []

    async def release(
        self, market: str, target_id: str, buyer_id: str, hold_id: str, mode: ReleaseMode
    ) -> bool:
        self.released.append((market, target_id, buyer_id, hold_id, mode))
        return True


VOIDED: Released = ("main", "tgt_a", "buy_a", "hold_a", ReleaseMode.VOID)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.parametrize(
    "error",
    [
        InsufficientFunds("the account refuses the hold"),
        asyncio.CancelledError(),
        RuntimeError("the append failed"),
        KeyboardInterrupt(),
    ],
    ids=type,
)
async def test_it_releases_on_any_error_then_reraises(error: BaseException) -> None:
    hot = Recorder()
    with pytest.raises(type(error)) as raised:
        async with released_on_error(hot, "main", "tgt_a", "buy_a", "hold_a"):
            raise error
    assert raised.value is error
    assert hot.released == [VOIDED]


async def test_it_releases_when_the_awaiting_task_is_cancelled() -> None:
    hot = Recorder()
    entered = asyncio.Event()

    async def append() -> None:
        async with released_on_error(hot, "main", "tgt_a", "buy_a", "hold_a"):
            entered.set()
            await asyncio.Event().wait()  # an append that never finishes

    task = asyncio.create_task(append())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert hot.released == [VOIDED]


async def test_it_keeps_the_reservation_when_the_block_succeeds() -> None:
    hot = Recorder()
    async with released_on_error(hot, "main", "tgt_a", "buy_a", "hold_a"):
        pass
    assert hot.released == []
