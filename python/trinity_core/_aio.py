"""asyncio glue the native module calls into."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def deferred(awaitable: Awaitable[T]) -> T:
    """A real coroutine around a native awaitable, for `asyncio.run(client.chat(...))`:
    outside a running loop a call cannot start yet, and `asyncio.run` accepts only coroutines."""
    return await awaitable
