"""`client.monitor` against a real mock server: a provider switched to 100% 503 is down within 5 s
and healthy again after it recovers, each callback once, from a thread that is not the caller's."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

import trinity_core as tc
from trinity_core.testing import MockServer


@pytest.fixture
def server() -> Iterator[MockServer]:
    with MockServer(seed=4) as s:
        yield s


def client(server: MockServer) -> tc.Client:
    return tc.Client(
        {
            "providers": {"p": {"kind": "openai", "base_url": server.url + "/v1", "api_key": "k"}},
            "retry": {"max_attempts": 1},
            "breaker": {"enabled": False},
            "monitor": {"window_s": 6, "recover_s": 2, "eval_interval_ms": 250},
        }
    )


def traffic_until(c: tc.Client, done: Any, limit_s: float) -> float:
    start = time.monotonic()
    while not done():
        assert time.monotonic() - start < limit_s, f"not within {limit_s} s"
        try:
            c.chat_sync(model="p/gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
        except tc.TrinityError:
            pass
        time.sleep(0.05)
    return time.monotonic() - start


def test_a_provider_switched_to_503_is_down_within_5_s_and_back_after(server: MockServer) -> None:
    c = client(server)
    m = c.monitor
    assert m.state("p") == "unknown" and m.health("p") is None and m.get_latency("p") is None
    changes: list[dict[str, Any]] = []
    downs: list[tuple[dict[str, Any], str]] = []
    m.on_state_change(changes.append)
    m.on_provider_down("p", lambda e: downs.append((e, threading.current_thread().name)))

    traffic_until(c, lambda: m.state("p") == "healthy", 10)
    latency = m.get_latency("p")
    assert latency is not None and latency > 0
    assert m.get_error_rate("p") == 0.0 and m.get_availability("p") == 1.0
    assert m.get_queue_depth("p") == 0

    server.set_faults({"rates": {"503": 1.0}})
    took = traffic_until(c, lambda: bool(downs), 10)
    assert took <= 5, took
    event, thread = downs[0]
    assert event["kind"] == "provider_down" and event["provider"] == "p" and event["to"] == "down"
    assert event["health"]["consecutive_failures"] >= 1  # 5 in a row, or half of the last 5 s
    assert thread != threading.current_thread().name

    server.set_faults({})
    traffic_until(c, lambda: m.state("p") == "healthy", 30)
    time.sleep(0.6)
    assert len(downs) == 1
    after = [e["to"] for e in changes][[e["to"] for e in changes].index("down") :]
    assert after.count("down") == 1 and after[-1] == "healthy", after
    health = m.health("p")
    assert health is not None and 0 < health["availability"] < 1
    points = m.get_historical_error_rate("p", 1)
    assert sum(p["failures"] for p in points) >= event["health"]["failures"] >= 1
    assert m.get_historical_latency("p", 1)[-1]["p95_ms"] is not None
    assert [h["provider"] for h in m.snapshot()] == ["p"]

    perf = c.performance
    assert perf.avg_latency("p") == m.get_latency("p")
    assert perf.error_rate("p") == m.get_error_rate("p")
    assert perf.requests_per_minute("p") == health["requests"] * 60 / 6
    assert (perf.tokens_per_second("p") or 0) > 0
    recovery = perf.avg_error_recovery_time("p")
    assert recovery is not None and recovery >= 2000  # recover_s
    report = perf.report()["p"]
    assert report["latency_ms"]["count"] == health["answered"]
    assert report["latency_ms"]["min"] <= report["latency_ms"]["average"] <= report["latency_ms"]["max"]
    assert perf.avg_latency("unseen") is None


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # boom, reported as unraisable
def test_thresholds_are_checked_and_a_raising_callback_is_contained(server: MockServer) -> None:
    c = client(server)
    m = c.monitor
    with pytest.raises(tc.InvalidInputError):
        m.on_high_error_rate(None, 1.5, print)
    fired: list[dict[str, Any]] = []

    def boom(event: dict[str, Any]) -> None:
        raise RuntimeError("a user's callback")

    m.on_high_error_rate("p", 0.5, boom)
    m.on_high_error_rate("p", 0.5, fired.append)
    server.set_faults({"rates": {"503": 1.0}})
    traffic_until(c, lambda: bool(fired), 10)
    assert fired[0]["kind"] == "high_error_rate" and fired[0]["value"] >= 0.5


def test_the_report_opens_in_chromium_and_its_pdf_reads_back_with_pdftotext(server: MockServer, tmp_path: Any) -> None:
    from playwright.sync_api import sync_playwright

    from trinity_core.guardian._shared import chromium_path

    c = client(server)
    server.set_faults({"rates": {"503": 0.3}})
    traffic_until(c, lambda: (c.monitor.health("p") or {}).get("requests", 0) >= 40, 10)
    with pytest.raises(tc.InvalidInputError):
        c.performance.generate_report("xml")  # type: ignore[call-overload]

    # The PDF: its headline figures are text (base-14 Helvetica), found by pdftotext.
    before = (c.monitor.health("p") or {})["requests"]
    pdf = c.performance.generate_report("pdf")
    after = (c.monitor.health("p") or {})["requests"]  # the window slides: a figure may drop
    assert isinstance(pdf, bytes) and pdf.startswith(b"%PDF-") and len(pdf) < 2 << 20
    (tmp_path / "report.pdf").write_bytes(pdf)
    text = subprocess.run(
        ["pdftotext", "-layout", str(tmp_path / "report.pdf"), "-"], check=True, capture_output=True, text=True
    ).stdout
    assert "trinity-core performance report" in text
    rows = [line.split() for line in text.splitlines() if line.split()[:1] == ["p"]]
    assert rows, text  # the provider's row: p, state, attempts, error %, ...
    assert after <= int(rows[0][2]) <= before, (rows[0], before, after)
    assert "p over time" in text and "Latency percentiles" in text and "Errors by code and provider" in text

    page_html = c.performance.generate_report("html")
    assert len(page_html) < 2 << 20 and "<script" not in page_html
    report = tmp_path / "report.html"
    report.write_text(page_html)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(None))
        page = browser.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(report.as_uri())
        lines = page.eval_on_selector_all("polyline", "els => els.map(e => e.points.numberOfItems)")
        text = page.inner_text("body")
        browser.close()
    assert errors == []
    assert lines and all(n > 0 for n in lines), lines
    assert "Latency percentiles" in text and "p over time" in text and "Errors by code and provider" in text
    assert "<td>provider</td><td>p</td>" in page_html  # the 503s, by error code and provider
