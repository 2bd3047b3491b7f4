"""A batch of N chat requests (default 100,000; TRINITY_BENCH_BATCH_N) against one mock server,
side by side:

- trinity-core's crash-safe batch runner from Python (`trinity_core.batch.run_sync`, journal
  and part file synced in groups), at concurrency 256;
- `trinity_core.Client.chat` from asyncio at the same concurrency, no journal: the ceiling;
- the OpenAI cookbook's `api_request_parallel_processor.py`, as packaged on PyPI by `parareq`
  (0.1.0, "a packaged version of the code from the OpenAI Cookbook"), with its rate limits set
  out of the way so only its own loop bounds it.

Each runs in a child process of its own, which reports its wall time, its peak resident memory
and its resident memory sampled through the run (flat = bounded by concurrency, not by N).
Ratios > 1 mean trinity-core is faster.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_client import start_server  # noqa: E402

CONCURRENCY = 256
PROMPT = "Summarise item {} in one line."


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Sampler:
    """Resident memory every 0.25 s while the run goes on."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)

    def loop(self) -> None:
        while not self.done.wait(0.25):
            self.samples.append(rss_mb())

    def __enter__(self) -> Sampler:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.done.set()
        self.thread.join()


def child_trinity(url: str, n: int, workdir: Path, mode: str) -> dict[str, object]:
    import asyncio

    import trinity_core as tc
    from trinity_core import batch

    client = tc.Client(
        {
            "providers": {"mock": {"kind": "openai_compatible", "base_url": url + "/v1"}},
            "queue": {"max_concurrency": 512, "max_length": 200_000},
        }
    )
    if mode == "batch":
        inp = workdir / "trinity.jsonl"
        with inp.open("w") as f:
            for i in range(n):
                line = {"custom_id": f"item-{i}", "model": "mock/mock-model", "max_tokens": 50}
                line["messages"] = [{"role": "user", "content": PROMPT.format(i)}]
                f.write(json.dumps(line) + "\n")
        out = workdir / "trinity.out.jsonl"
        with Sampler() as s:
            started = time.perf_counter()
            summary = batch.run_sync(client, inp, out, concurrency=CONCURRENCY)
            took = time.perf_counter() - started
        with out.open() as f:
            lines = sum(1 for _ in f)
        assert summary["succeeded"] == n and summary["complete"] and lines == n, (summary, lines)
    else:

        async def run() -> None:
            sem = asyncio.Semaphore(CONCURRENCY)

            async def one(i: int) -> None:
                async with sem:
                    msgs = [{"role": "user", "content": PROMPT.format(i)}]
                    await client.chat(model="mock/mock-model", messages=msgs, max_tokens=50)

            await asyncio.gather(*(one(i) for i in range(n)))

        with Sampler() as s:
            started = time.perf_counter()
            asyncio.run(run())
            took = time.perf_counter() - started
    return {"seconds": took, "samples": s.samples}


def child_cookbook(url: str, n: int, workdir: Path) -> dict[str, object]:
    # parareq 0.1.0 imports its author's key from a module it does not ship
    # (`from synthgpt.secret import OPENAI_API_KEY`); give it one holding a placeholder.
    shim = workdir / "shim" / "synthgpt"
    shim.mkdir(parents=True, exist_ok=True)
    (shim / "__init__.py").write_text("")
    (shim / "secret.py").write_text('OPENAI_API_KEY = "sk-bench"\n')
    sys.path.insert(0, str(shim.parent))
    # It counts each request's tokens with tiktoken: give tiktoken its rank files offline.
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
    from tiktoken_offline import prepare

    prepare()
    from parareq.parareq import APIRequestProcessor

    inp = workdir / "cookbook.jsonl"
    with inp.open("w") as f:
        for i in range(n):
            line = {"model": "mock-model", "max_tokens": 50, "metadata": {"row_id": i}}
            line["messages"] = [{"role": "user", "content": PROMPT.format(i)}]
            f.write(json.dumps(line) + "\n")
    out = workdir / "cookbook.out.jsonl"
    # Its endpoint parser only takes https:// URLs: construct it with one, then point it at the
    # mock server's plain-HTTP address (the endpoint it derived, chat/completions, stays).
    processor = APIRequestProcessor(
        requests_filepath=str(inp),
        api_key="sk-bench",
        save_filepath=str(out),
        request_url="https://mock.invalid/v1/chat/completions",
        max_requests_per_minute=1e12,
        max_tokens_per_minute=1e15,
        token_encoding_name="cl100k_base",
        max_attempts=1,
        logging_level=40,
    )
    processor.request_url = url + "/v1/chat/completions"
    with Sampler() as s:
        started = time.perf_counter()
        processor.run()
        took = time.perf_counter() - started
    with out.open() as f:
        lines = sum(1 for _ in f)
    assert lines == n, lines
    return {"seconds": took, "samples": s.samples}


def child(which: str, url: str, n: int, workdir: str) -> None:
    d = Path(workdir)
    if which == "cookbook":
        result = child_cookbook(url, n, d)
    else:
        result = child_trinity(url, n, d, which)
    result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def run_child(which: str, url: str, n: int, workdir: Path) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", which, url, str(n), str(workdir)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def flat(samples: list[float]) -> str:
    """Resident memory at a tenth, half and the end of the run."""
    if len(samples) < 3:
        return "too short to sample"
    pick = [samples[len(samples) // 10], samples[len(samples) // 2], samples[-1]]
    return " → ".join(f"{v:.0f}" for v in pick) + " MB"


def main() -> None:
    from importlib.metadata import version

    import trinity_core as tc

    n = int(os.environ.get("TRINITY_BENCH_BATCH_N", "100000"))
    proc, url = start_server()
    try:
        print(f"batch of {n:,} chat requests · trinity-core {tc.__version__} · parareq {version('parareq')}")
        print(f"python {sys.version.split()[0]} · mock server {url} (separate process) · {os.cpu_count()} cores")
        rates = {}
        for which, label in (
            ("client", f"Client.chat from asyncio, {CONCURRENCY} in flight (no journal)"),
            ("batch", f"trinity_core.batch.run_sync, concurrency {CONCURRENCY}, journal on"),
            ("cookbook", "OpenAI cookbook parallel processor (parareq)"),
        ):
            with tempfile.TemporaryDirectory() as d:
                r = run_child(which, url, n, Path(d))
            secs = float(r["seconds"])  # type: ignore[arg-type]
            rates[which] = n / secs
            print(
                f"  {label:<62} {rates[which]:>8.0f} req/s · {secs:6.1f} s · peak {r['peak_mb']:.0f} MB · "
                f"resident {flat(r['samples'])}"  # type: ignore[arg-type]
            )
        print(
            f"  batch / client: {rates['batch'] / rates['client']:.3f} · "
            f"batch / cookbook: {rates['batch'] / rates['cookbook']:.1f}x"
        )
    finally:
        proc.kill()
        proc.wait()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
    else:
        main()
