"""Healer throughput from Python (5 KB / 50 KB / 400 KB pages, call overhead included) and the
guardian's time per page per width in Debian's Chromium over tests/fixtures/layouts.

Each healer figure is the median of many runs; guardian figures are the mean over the corpus
(one warm-up pass first, so browser start-up is not counted).
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import trinity_core as tc

ROOT = Path(__file__).resolve().parents[2]
LAYOUTS = ROOT / "tests" / "fixtures" / "layouts"

CSS = (
    "body{font:16px/1.5 system-ui;margin:0}.grid{display:grid;grid-template-columns:1fr 1fr 1fr;gap:24px}"
    "@media (max-width:700px){.grid{grid-template-columns:1fr}}.card{flex:0 0 320px}"
)
SECTION = (
    '<section class="wrap"><h2>A section heading</h2><p>Generated content explains the product with sentences '
    'of ordinary length, a <a href="https://example.com/a/long/path?q=1">link</a> and <code>code()</code>.</p>'
    '<div class="grid"><div class="card"><h3>One</h3><p>Card text.</p></div><div class="card" '
    'style="display:grid;grid-template-columns:2fr 1fr"><span>Two</span><span>2</span></div></div>'
    "<ul><li>First point</li><li>Second point</li></ul><table><tr><th>Plan</th><th>Price</th></tr>"
    '<tr><td>Team</td><td>$29</td></tr></table><pre>fn main() { println!("hello"); }</pre></section>\n'
)


def page(size: int) -> str:
    html = f"<!doctype html><html><head><title>t</title><style>{CSS}</style></head><body>\n"
    while len(html) + len(SECTION) < size:
        html += SECTION
    return html + "</body></html>\n"


def bench_heal() -> None:
    print("healer: trinity_core.heal_html from Python (best and median of many runs)")
    for name, size in (("small", 5 * 1024), ("typical", 50 * 1024), ("large", 400 * 1024)):
        html = page(size)
        runs = max(20, min(2000, 40_000_000 // len(html)))
        for _ in range(runs // 10 + 1):
            tc.heal_html(html)
        samples = []
        for _ in range(runs):
            t = time.perf_counter()
            tc.heal_html(html)
            samples.append(time.perf_counter() - t)
        m, best = statistics.median(samples), min(samples)
        print(
            f"  {name:<8} {len(html) / 1024:7.1f} KB  best {best * 1e3:8.3f} ms/page {len(html) / best / 1e6:6.1f} MB/s"
            f"  median {m * 1e3:8.3f} ms {len(html) / m / 1e6:6.1f} MB/s"
        )


def bench_guardian() -> None:
    try:
        from trinity_core.guardian import Guardian, GuardianError
    except ImportError as e:  # pragma: no cover
        print(f"guardian: skipped ({e})")
        return
    pages = sorted(LAYOUTS.glob("*/*.html"))
    try:
        g = Guardian()
    except GuardianError as e:
        print(f"guardian: skipped ({e})")
        return
    with g:
        for p in pages[:3]:
            g.check(p.read_text())  # warm-up: contexts per width, Chromium caches
        per_width: dict[int, list[float]] = {w: [] for w in g.widths}
        heal_times = []
        for p in pages:
            for w in g.check(p.read_text()).widths:
                per_width[w.width].append(w.elapsed_ms)
            t = time.perf_counter()
            g.heal(p.read_text())
            heal_times.append((time.perf_counter() - t) * 1e3)
        print(f"guardian: check time per page per width, mean over {len(pages)} corpus pages ({g.executable_path})")
        for width, times in per_width.items():
            print(f"  {width:>5} px  {statistics.mean(times):7.1f} ms  (median {statistics.median(times):.1f} ms)")
        all_times = [t for ts in per_width.values() for t in ts]
        print(f"  all widths {statistics.mean(all_times):7.1f} ms per page per width")
        print(f"  guardian.heal (check → heal → re-check): mean {statistics.mean(heal_times):.0f} ms per page")


if __name__ == "__main__":
    bench_heal()
    if "--no-guardian" not in sys.argv:
        bench_guardian()
