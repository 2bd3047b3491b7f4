"""Cache hit path from Python, side by side, key derivation included, for a ~1 KB chat request.

trinity_core.Cache (memory tier; `lookup_chat(request)` and `get(key(request))`) vs LiteLLM's
in-memory cache (`Cache(type="local").get_cache(**request)`) vs a `cachetools` LRU keyed by
`hashlib.sha256(json.dumps(request, sort_keys=True))` in pure Python. Then the Redis tier vs a
raw redis-py GET of the same value, and the filesystem tier. Ratios > 1: trinity-core faster.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable
from typing import Any

REQUEST: dict[str, Any] = {
    "model": "gpt-4o-mini",
    "temperature": 0,
    "max_tokens": 300,
    "messages": [
        {"role": "system", "content": "You write concise, friendly product copy for a static site generator. " * 5},
        {"role": "user", "content": "Write a hero headline and a two-sentence pitch for a coffee shop. " * 8},
    ],
}
ANSWER = "Fresh beans, slow mornings. " * 10


def per_call_us(fn: Callable[[], object], seconds: float = 1.0) -> float:
    """Best of 5 runs of the mean time per call, in microseconds."""
    n = 1000
    while True:  # size a batch to ~seconds/5
        t = time.perf_counter()
        for _ in range(n):
            fn()
        if (dt := time.perf_counter() - t) > seconds / 5:
            break
        n *= 2
    best = dt / n
    for _ in range(4):
        t = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - t) / n)
    return best * 1e6


def row(name: str, us: float, ours: float | None = None) -> None:
    ratio = "" if ours is None else f"   trinity-core is {us / ours:5.1f}x faster"
    print(f"  {name:<58} {us:8.2f} µs{ratio}")


def main() -> None:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import cachetools
    import redis as redis_py
    from litellm.caching.caching import Cache as LiteLLMCache
    from litellm.types.caching import LiteLLMCacheType

    import trinity_core as tc
    from trinity_core.testing import RedisServer

    size = len(json.dumps(REQUEST))
    print(f"cache hit path, {size}-byte chat request, key derivation included")

    ours = tc.Cache(memory={"max_entries": 100_000})
    ours.store_chat(REQUEST, ANSWER)
    assert ours.lookup_chat(REQUEST) == ANSWER
    t_lookup = per_call_us(lambda: ours.lookup_chat(REQUEST))
    t_get_key = per_call_us(lambda: ours.get(ours.key(REQUEST)))
    key = ours.key(REQUEST)
    t_get = per_call_us(lambda: ours.get(key))

    lru: cachetools.LRUCache[str, str] = cachetools.LRUCache(maxsize=100_000)

    def ct_key(req: dict[str, Any]) -> str:
        return hashlib.sha256(json.dumps(req, sort_keys=True).encode()).hexdigest()

    lru[ct_key(REQUEST)] = ANSWER
    assert lru.get(ct_key(REQUEST)) == ANSWER
    t_ct = per_call_us(lambda: lru.get(ct_key(REQUEST)))

    lite = LiteLLMCache(type=LiteLLMCacheType.LOCAL)
    # LiteLLM stores responses as JSON text and parses them on a hit.
    lite.add_cache(json.dumps(ANSWER), **REQUEST)  # type: ignore[no-untyped-call]
    assert lite.get_cache(**REQUEST) == ANSWER
    t_lite = per_call_us(lambda: lite.get_cache(**REQUEST), seconds=2.0)

    row("trinity_core.Cache.lookup_chat(request)", t_lookup)
    row("trinity_core.Cache.get(cache.key(request))", t_get_key)
    row("trinity_core.Cache.get(key)  (key already known)", t_get)
    row("cachetools LRU + sha256(json.dumps(sort_keys))", t_ct, t_lookup)
    row("LiteLLM Cache(type='local').get_cache(**request)", t_lite, t_lookup)

    print("redis tier vs raw redis-py GET of the same value (loopback redis-server)")
    with RedisServer() as server:
        r = tc.Cache(redis={"url": server.url}, memory=None)
        r.set("k", ANSWER)
        assert r.get("k") == ANSWER
        raw = redis_py.Redis(host="127.0.0.1", port=server.port)
        raw.set("raw", ANSWER.encode())
        t_redis = per_call_us(lambda: r.get("k"))
        t_raw = per_call_us(lambda: raw.get("raw"))
        row("trinity_core.Cache(redis).get(key)", t_redis)
        row("redis-py Redis.get(key)", t_raw)
        print(f"  {'trinity-core / redis-py (bar: <= 1.5)':<58} {t_redis / t_raw:8.2f}")

    print("filesystem tier (SHA-256 checked on every read)")
    with tempfile.TemporaryDirectory() as d:
        f = tc.Cache(filesystem={"path": d}, memory=None)
        f.set("k", ANSWER)
        assert f.get("k") == ANSWER
        row("trinity_core.Cache(filesystem).get(key)", per_call_us(lambda: f.get("k")))


if __name__ == "__main__":
    main()
