"""Healer throughput from Python (5 KB / 50 KB / 400 KB pages, call overhead included) and the
guardian's time per page per width in Debian's Chromium over tests/fixtures/layouts.

Each healer figure is the median of many runs; guardian figures are the mean over the corpus
(one warm-up pass first, so browser start-up is not counted).

``--corpus``: the guardian on the whole corpus (tests/python/healer_corpus.py: real templates,
the themed site, the layouts, real pages broken on purpose): fixed / overflowing, changed / clean,
new overflow, masked, and the time per page; and the opt-in safety net on the pages that fit.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import trinity_core as tc

ROOT = Path(__file__).resolve().parents[2]
LAYOUTS = ROOT / "tests" / "fixtures" / "layouts"
#: What the healer is given in the throughput runs: both preventive sets and two findings.
HEAL_OPTIONS = {
    "safety_net": True,
    "grid": True,
    "findings": [
        {"selector": ".card", "cause": "flex_child", "widths": [320, 375]},
        {"selector": "table", "cause": "wide_table", "widths": [320, 375, 768]},
    ],
}

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
    print("healer: trinity_core.heal_html from Python, safety net + grid + 2 findings (best and median of many runs)")
    for name, size in (("small", 5 * 1024), ("typical", 50 * 1024), ("large", 400 * 1024)):
        html = page(size)
        runs = max(20, min(2000, 40_000_000 // len(html)))
        for _ in range(runs // 10 + 1):
            tc.heal_html(html, HEAL_OPTIONS)
        samples = []
        for _ in range(runs):
            t = time.perf_counter()
            tc.heal_html(html, HEAL_OPTIONS)
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
            g.check(p)  # warm-up: Chromium caches
        per_width: dict[int, list[float]] = {w: [] for w in g.widths}
        heal_times = []
        for p in pages:
            for w in g.check(p, root=LAYOUTS / "themed" if "themed" in p.parts else None).widths:
                per_width[w.width].append(w.elapsed_ms)
            t = time.perf_counter()
            g.heal(p, root=LAYOUTS / "themed" if "themed" in p.parts else None)
            heal_times.append((time.perf_counter() - t) * 1e3)
        print(f"guardian: check time per page per width, mean over {len(pages)} corpus pages ({g.executable_path})")
        for width, times in per_width.items():
            print(f"  {width:>5} px  {statistics.mean(times):7.1f} ms  (median {statistics.median(times):.1f} ms)")
        all_times = [t for ts in per_width.values() for t in ts]
        print(f"  all widths {statistics.mean(all_times):7.1f} ms per page per width")
        print(f"  guardian.heal (check → heal → re-check): mean {statistics.mean(heal_times):.0f} ms per page")


def corpus_figures() -> None:
    sys.path.insert(0, str(ROOT / "tests" / "python"))
    import healer_corpus as hc

    from trinity_core.guardian import Guardian

    groups = {
        "real templates": hc.real_pages(),
        "layouts + themed, clean": hc.fixture_pages("clean"),
        "layouts + themed, broken": hc.fixture_pages("broken"),
        "real pages broken on purpose": hc.broken_real_pages(),
    }
    with Guardian() as g, Guardian(widths=(375, 1280), browser=g.browser) as shots:
        g.check(groups["real templates"][0].path)  # warm-up
        for group, pages in groups.items():
            over = fixed = clean = changed = new_over = masked = net_changed = net_over = 0
            times = []
            for p in pages:
                before = g.check(p.source, base_url=p.base_url, root=p.root)
                t = time.perf_counter()
                result = g.heal(p.source, base_url=p.base_url, root=p.root)
                times.append(time.perf_counter() - t)
                masked += result.masked
                if before.clean:
                    clean += 1
                    changed += result.html != p.text()
                    new_over += not result.clean
                    # The opt-in safety net on a page that fits: same pixels at 375 and 1280?
                    netted = tc.heal_html(p.text(), {"safety_net": True})["html"]
                    a = shots.check(p.text(), base_url=p.path, root=p.root, screenshots=True)
                    b = shots.check(netted, base_url=p.path, root=p.root, screenshots=True)
                    diff = [x.width for x, y in zip(a.widths, b.widths, strict=True) if x.screenshot != y.screenshot]
                    net_changed += bool(diff)
                    net_over += not b.clean
                    if diff:
                        print(f"    safety net changed {p.name} at {diff}")
                else:
                    over += 1
                    fixed += result.clean
                    if not result.clean:
                        print(
                            f"    not fixed: {p.name} {result.rounds[-1].failing_widths} {result.rounds[-1].findings}"
                        )
            print(
                f"  {group:<30} {len(pages):3} pages: fixed {fixed}/{over} overflowing,"
                f" changed {changed}/{clean} clean,"
                f" new overflow {new_over}, masked {masked}; guardian.heal {statistics.mean(times) * 1e3:.0f} ms/page"
                f" (median {statistics.median(times) * 1e3:.0f}); safety net changed {net_changed}/{clean} clean"
                f" (new overflow {net_over})"
            )


if __name__ == "__main__":
    if "--corpus" in sys.argv:
        corpus_figures()
        sys.exit(0)
    bench_heal()
    if "--no-guardian" not in sys.argv:
        bench_guardian()
