"""CostTracker and RequestLog from Python: seed 004's names in snake_case, exact sums, CSV read
back by the csv module, ring bound, queries, sink rotation (real files), no key in any record."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

import trinity_core as tc

T0 = datetime(2026, 12, 3, tzinfo=timezone.utc)
T0_MS = int(T0.timestamp() * 1000)
MIN = 60_000
DAY = 86_400_000
HOSTILE = ["plain", "comma, inside", 'quote " inside', "line\nbreak", 'crlf\r\nand "both", yes', "=1+1"]
KEYS = [
    "sk-proj-Abcdefghijklmnop1234567890",
    "sk-ant-api03-Zyxwvutsrqponm_lkjih-gfedcba",
    "AIzaSyA1234567890abcdefghijklmnopqrstu",
]


def rec(ts_ms: int, provider: str, model: str, nano: int | None) -> dict[str, object]:
    return {
        "timestamp_ms": ts_ms,
        "provider": provider,
        "model": model,
        "input_tokens": 100,
        "output_tokens": 10,
        "cached_tokens": 40,
        "cost_nano_usd": nano,
    }


def test_track_request_prices_from_the_registry() -> None:
    t = tc.CostTracker()
    # gpt-4o-mini: 7 x $0.15/1M + 3 x $0.60/1M = 2,850 nano-USD.
    assert t.track_request("gpt-4o-mini", 7, 3) == 2_850
    assert t.track_request(model="openai/gpt-4o-mini", input_tokens=7, output_tokens=3) == 2_850
    cached = t.track_request("gpt-4o-mini", 7, 3, cache_hit=7)
    assert cached is not None and cached < 2_850
    assert t.track_request("no-such-model-xyz", 1, 1) is None
    now = datetime.now(timezone.utc).timestamp()
    by_p = t.get_cost_by_provider(now - 120, now + 120)
    assert by_p["openai"]["requests"] == 3
    assert by_p["openai"]["cached_tokens"] == 7
    assert by_p["unknown"]["unpriced_requests"] == 1
    assert by_p["unknown"]["nano_usd"] == 0
    assert t.get_cost_by_model(now - 120, now + 120)["gpt-4o-mini"]["requests"] == 3
    s = t.summary(now - 120, now + 120)
    assert s["nano_usd"] == 2 * 2_850 + cached
    assert t.get_total_cost(now - 120, now + 120) == s["usd"]


def test_sums_are_exact_in_nano_usd_and_ranges_accept_datetimes() -> None:
    t = tc.CostTracker()
    for i in range(100_000):
        t.track(rec(T0_MS + (i % 60) * MIN, "openai", "gpt-4o-mini", 28_500))
    t.track(rec(T0_MS, "mystery", "x", None))
    s = t.summary(T0, datetime(2026, 12, 4, tzinfo=timezone.utc))
    assert s["nano_usd"] == 2_850_000_000
    assert s["usd"] == 2.85
    assert s["requests"] == 100_001
    assert s["unpriced_requests"] == 1
    # Epoch seconds work the same; [start, end) in whole minutes.
    assert t.summary(T0_MS / 1000, T0_MS / 1000 + 60)["requests"] == len(range(0, 100_000, 60)) + 1


def test_memory_is_bounded_by_minutes_times_series() -> None:
    t = tc.CostTracker(retention_minutes=60)
    for i in range(100_000):
        t.track(rec(T0_MS + (i // 10) * MIN, "p", f"m{i % 2}", 1))
    stats = t.stats()
    assert stats["buckets"] <= 60 * 2
    assert stats["series"] == 2


def test_budget_alerts() -> None:
    t = tc.CostTracker()
    now = T0_MS / 1000 + 3600
    assert t.get_budget_alert(10, now=now) == []
    t.track(rec(T0_MS + MIN, "openai", "gpt-4o", 8_000_000_000))
    alerts = t.get_budget_alert(10.0, now=now)
    assert [(a["threshold"], a["severity"]) for a in alerts] == [(0.5, "info"), (0.8, "warning")]
    assert alerts[0]["day"] == "2026-12-03"
    t.track(rec(T0_MS + MIN, "openai", "gpt-4o", 2_000_000_000))
    assert t.get_budget_alert(10.0, now=now)[-1]["severity"] == "critical"
    with pytest.raises(tc.InvalidInputError) as e:
        t.get_budget_alert(0, now=now)
    assert e.value.code == "invalid_input"


def test_csv_reads_back_equal_with_hostile_names() -> None:
    t = tc.CostTracker()
    for i, name in enumerate(HOSTILE):
        t.track(rec(T0_MS + i * MIN, name, "m " + name, 1_000_000_001))
    text = t.export_csv(T0, T0_MS / 1000 + 86_400)
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert [(r["provider"], r["model"]) for r in rows] == [(n, "m " + n) for n in HOSTILE]
    assert rows[0]["minute"] == "2026-12-03T00:00:00.000Z"
    assert rows[0]["cost_usd"] == "1.000000001"
    assert rows[0]["cost_nano_usd"] == "1000000001"


def test_bad_times_are_invalid_input() -> None:
    t = tc.CostTracker()
    with pytest.raises(tc.InvalidInputError):
        t.get_total_cost("yesterday", 0)  # type: ignore[arg-type]
    with pytest.raises(tc.InvalidInputError):
        t.track({"provider": "p"})


def test_request_log_ring_queries_and_debug_info() -> None:
    log = tc.RequestLog(history=50)
    for i in range(1_000):
        log.record(
            {
                "timestamp_ms": T0_MS + i * 1000,
                "provider": "openai" if i % 2 else "anthropic",
                "model": "gpt-4o" if i % 2 else "claude",
                "model_requested": "x",
                "latency_ms": float(i),
                "cost_nano_usd": 1_500,
                "messages": [{"role": "user", "content": "hi"}],
            }
        )
    assert len(log) == 50
    h = log.get_history(3)
    assert [r["timestamp_ms"] for r in h] == [T0_MS + i * 1000 for i in (997, 998, 999)]
    assert h[0]["schema_version"] == 1
    assert h[0]["messages"] is None, "bodies are off by default"
    assert len(log.query(provider="openai")) == 25
    assert len(log.query(model="claude", min_latency_ms=990)) == 5
    assert len(log.query(start=T0_MS / 1000 + 990, end=T0_MS / 1000 + 995)) == 5
    assert len(log.query(status="success", limit=7)) == 7
    d = tc.debug_info(h[-1])
    assert d["cost"] == 1.5e-6 and d["duration_ms"] == 999.0


def test_log_request_response_error_and_no_key_anywhere() -> None:
    log = tc.RequestLog(history=10)
    rid = log.log_request({"model": "gpt-4o", "temperature": 0.2})
    r = log.log_response(
        rid, {"provider": "openai", "usage": {"prompt_tokens": 12, "completion_tokens": 3}, "latency_ms": 5.0}
    )
    assert (r["status"], r["input_tokens"], r["model_requested"]) == ("success", 12, "gpt-4o")
    for key in KEYS:
        rid = log.log_request({"model": "gpt-4o"})
        err = tc.AuthError(f"Incorrect API key provided: {key}")
        r = log.log_error(rid, err)
        assert r["error_code"] in ("auth", "internal")
        log.log_error(log.log_request({"model": "m"}), {"code": "auth", "message": f"Authorization: Bearer {key}"})
        log.log_error(log.log_request({"model": "m"}), ValueError(f"bad key {key}"))
    texts = [
        log.export_logs("json"),
        log.export_logs("csv"),
        log.export_logs("jsonl"),
        json.dumps(log.get_history(100)),
    ]
    for text in texts:
        for key in KEYS:
            assert key not in text
        assert "[REDACTED]" in text
    assert log.query(status="error", limit=1)[0]["error_code"] == "internal"
    with pytest.raises(tc.InvalidInputError):
        log.export_logs("xml")  # type: ignore[arg-type]


def test_exports_read_back() -> None:
    log = tc.RequestLog()
    for name in HOSTILE:
        log.record({"provider": name, "model_requested": "m", "timestamp_ms": T0_MS})
    assert [r["provider"] for r in json.loads(log.export_logs("json"))] == HOSTILE
    rows = list(csv.DictReader(io.StringIO(log.export_logs("csv"), newline="")))
    assert [r["provider"] for r in rows] == HOSTILE
    lines = log.export_logs("jsonl").splitlines()
    assert [json.loads(line)["provider"] for line in lines] == HOSTILE


def test_sink_rotates_by_size_into_json_lines_files(tmp_path: Path) -> None:
    path = tmp_path / "requests.jsonl"
    log = tc.RequestLog(history=5, sink={"path": str(path), "max_bytes": 2048, "max_files": 2})
    for i in range(200):
        log.record({"timestamp_ms": T0_MS + i, "provider": "openai", "model_requested": "gpt-4o"})
    assert log.sink_errors == 0
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["requests.jsonl", "requests.jsonl.1", "requests.jsonl.2"]
    for name in files:
        data = (tmp_path / name).read_text()
        assert len(data.encode()) <= 2048
        records = [json.loads(line) for line in data.splitlines()]
        assert records and all(r["schema_version"] == 1 for r in records)
    newest = [json.loads(x) for x in path.read_text().splitlines()][-1]
    assert newest["timestamp_ms"] == T0_MS + 199


def test_sink_in_a_missing_directory_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(tc.ConfigError) as e:
        tc.RequestLog(sink={"path": str(tmp_path / "nope" / "log.jsonl")})
    assert "logging.sink.path" in str(e.value)
