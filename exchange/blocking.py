"""The event store's calls are synchronous: the exchange's services run them on a bounded
thread pool, never on the event loop (the one exception, recording an auction, is queued to
the writer from the loop: `exchange.auctions`)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any, TypeVar

T = TypeVar("T")


async def in_thread(executor: Executor, fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)` on the pool, awaited from the event loop."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(executor, functools.partial(fn, *args))
