"""trinity_core.Cache: seed 000's get/set(ttl) shape and cache_config.yaml, chat keys, tiers,
invalidation, maintenance, and the client serving a repeat from the cache."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

import trinity_core as tc
from trinity_core.testing import MockServer, RedisServer

REQUEST: dict[str, Any] = {"model": "p/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def test_get_set_values_of_every_kind() -> None:
    c = tc.Cache(backend="memory", ttl=60, max_size=100)
    assert c.get("missing") is None
    for key, value in [("s", "text"), ("b", b"\x00bytes"), ("j", {"a": [1, 2.5, None]}), ("n", 3)]:
        c.set(key, value)
        assert c.get(key) == value
    c.delete("s")
    assert c.get("s") is None
    s = c.stats()
    assert s["hits"] == 4 and s["misses"] == 2 and s["tiers"][0]["tier"] == "memory"


def test_seed_000_cache_config_yaml_shape(tmp_path: Path) -> None:
    config = {
        "cache": {
            "enabled": True,
            "backend": "filesystem",
            "ttl": 3600,
            "max_size": 1000,
            "redis": {"host": "localhost", "port": 6379, "db": 0},
            "filesystem": {"path": str(tmp_path / "llm_responses")},
        }
    }
    c = tc.Cache(config)
    c.set("k", "v", 10)
    assert tc.Cache(config).get("k") == "v", "another process reads the same files"
    report = c.validate()
    assert report["filesystem"]["valid"] == 1 and report["filesystem"]["corrupt"] == 0


def test_bad_config_names_the_field() -> None:
    with pytest.raises(tc.ConfigError) as info:
        tc.Cache(backend="mongo")
    assert info.value.details == {"path": "cache.backend"}
    with pytest.raises(tc.ConfigError) as info:
        tc.Cache(ttl_s=0)
    assert info.value.details == {"path": "cache.ttl_s"}


def test_chat_keys_are_canonical() -> None:
    c = tc.Cache()
    k = c.key(REQUEST)
    assert k.startswith("trinity:content:") and len(k) == len("trinity:content:") + 64
    reordered = {"messages": REQUEST["messages"], "model": REQUEST["model"], "user": "someone"}
    assert c.key(reordered) == k, "key order and the user field do not change the key"
    assert c.key({**REQUEST, "temperature": 0.5}) != k
    assert tc.Cache(strategy="user").key({**REQUEST, "user": "a:b"}).startswith("trinity:user:a%3Ab:")
    assert c.store_chat(REQUEST, "answer") == k
    assert c.lookup_chat(REQUEST) == "answer"
    with pytest.raises(tc.InvalidInputError):
        c.key({"model": "m"})


def test_hostile_keys_stay_inside_the_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    c = tc.Cache(filesystem={"path": str(root)}, memory=None)
    for key in ["../../escape", "a\x00b", "/etc/passwd", "\udcff lone surrogate"]:
        c.set(key, "v")
        assert c.get(key) == "v"
    assert [p.name for p in tmp_path.iterdir()] == ["root"]
    files = [p for p in (root / "v1").rglob("*") if p.is_file()]
    files[0].write_bytes(b"\x00" * 100)
    assert c.validate()["filesystem"]["corrupt"] == 1
    report = c.purge("expired")
    assert report["filesystem"]["corrupt"] == 1


def test_invalidate_purge_and_redis_shared_between_caches() -> None:
    with RedisServer() as redis:
        # No memory tier: a per-process memory tier would keep serving what another process invalidated.
        a = tc.Cache(redis={"url": redis.url}, memory=None)
        b = tc.Cache(backend="redis", redis={"host": "127.0.0.1", "port": redis.port})
        a.set("ns1:x", "1")
        a.set("ns1:y", "2")
        a.set("ns2:x", "3")
        assert b.get("ns1:x") == "1"
        assert b.invalidate("ns1:x") == 1
        assert a.get("ns1:x") is None
        assert a.invalidate_namespace("ns1") == 1
        assert a.get("ns2:x") == "3"
        a.purge("all")
        assert b.get("ns2:x") is None
        with pytest.raises(tc.InvalidInputError):
            a.purge()


def test_redis_down_is_a_miss_not_an_error(tmp_path: Path) -> None:
    redis = RedisServer()
    c = tc.Cache(redis={"url": redis.url, "timeout_ms": 100}, filesystem={"path": str(tmp_path)}, memory=None)
    c.set("k", "v")
    redis.stop()
    assert c.get("k") == "v", "served from the filesystem"
    c.set("k2", "v2")
    assert c.get("k2") == "v2"
    assert c.stats()["tiers"][0]["errors"] >= 1


def mock() -> MockServer:
    return MockServer(
        fixtures={
            "greet": {"prompt": "hi", "response": "Hello from the cache."},
            "chunked": {"prompt": "count", "response": "one two three", "chunks": ["one ", "two ", "three"]},
        },
        seed=1,
    )


def client(server: MockServer, cache: dict[str, Any]) -> tc.Client:
    provider = {"kind": "openai", "base_url": server.url + "/v1", "api_key": "k"}
    return tc.Client({"providers": {"p": provider}, "cache": cache})


def test_client_serves_a_repeat_from_the_cache() -> None:
    with mock() as server:
        c = client(server, {"enabled": True})
        first = c.chat_sync(REQUEST)
        calls = server.stats()["requests"]
        second = c.chat_sync(REQUEST)
        assert server.stats()["requests"] == calls
        assert second.cached and not first.cached and second.content == first.content
        assert c.cache is not None and c.cache.stats()["hits"] == 1
        assert c.cache.stats()["saved_usd"] > 0
        c.chat_sync({**REQUEST, "cache": {"no_cache": True}})
        assert server.stats()["requests"] == calls + 1
        assert client(server, {}).cache is None, "off unless enabled"


def test_client_stream_replays_identically() -> None:
    async def collect(c: tc.Client, req: dict[str, Any]) -> list[tuple[str, str | None, bool]]:
        return [(ch.delta, ch.finish_reason, ch.cached) async for ch in c.chat_stream(req)]

    with mock() as server:
        c = client(server, {"enabled": True})
        req = {**REQUEST, "messages": [{"role": "user", "content": "count"}]}
        first = asyncio.run(collect(c, req))
        calls = server.stats()["requests"]
        second = asyncio.run(collect(c, req))
        assert server.stats()["requests"] == calls
        assert [x[:2] for x in first] == [x[:2] for x in second]
        assert all(x[2] for x in second) and not any(x[2] for x in first)


def test_the_canonical_form_is_reproducible_by_hand() -> None:
    import hashlib
    import json

    request = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "héllo"}], "temperature": 1.0}
    # What core/src/cache/key.rs documents: answer-changing fields plus v=1, sorted keys, no
    # whitespace, integral floats as integers, UTF-8 unescaped.
    canonical = {"v": 1, "model": "gpt-4o-mini", "messages": request["messages"], "temperature": 1}
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert tc.Cache().key(request) == "trinity:content:" + hashlib.sha256(text.encode()).hexdigest()
