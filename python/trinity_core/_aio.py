"""asyncio glue the native module calls into."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def as_coroutine(awaitable: Awaitable[T]) -> T:
    """A real coroutine around a native awaitable: `asyncio.create_task` and `asyncio.run`
    accept only coroutines, and callers of the `openai` SDK pass its results to both."""
    return await awaitable
