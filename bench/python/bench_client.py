"""LLM client throughput from Python asyncio, side by side on one mock server (loopback).

trinity_core.Client vs the official `openai` package (AsyncOpenAI) vs LiteLLM
(`litellm.acompletion` with `api_base`), at 50 and 256 concurrent requests. The server is the
`trinity mock-server` binary in its own process; every client gets the same prompt and the
same answer. Ratios > 1 mean trinity-core is faster.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
MESSAGES = [{"role": "user", "content": "Summarise the benefits of caching LLM responses in one sentence."}]


def start_server() -> tuple[subprocess.Popen[str], str]:
    binary = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release" / "trinity"
    proc = subprocess.Popen(
        [str(binary), "mock-server", "--port", "0"], stdout=subprocess.PIPE, stdin=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("listening on "):
        proc.kill()
        raise RuntimeError(f"mock server did not start: {line!r}")
    return proc, line.removeprefix("listening on ")


async def run(call: Callable[[], Awaitable[Any]], total: int, concurrency: int) -> float:
    """Requests per second for `total` calls with at most `concurrency` in flight."""
    sem = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with sem:
            await call()

    await asyncio.gather(*(one() for _ in range(min(total, concurrency))))  # warm the pools
    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(total)))
    return total / (time.perf_counter() - started)


async def main() -> None:
    from importlib.metadata import version

    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network here: use its bundled copy
    import litellm
    import openai

    import trinity_core as tc

    proc, url = start_server()
    try:
        trinity = tc.Client({"providers": {"mock": {"kind": "openai_compatible", "base_url": url + "/v1"}}})
        sdk = openai.AsyncOpenAI(base_url=url + "/v1", api_key="sk-bench", max_retries=0)
        litellm.telemetry = False

        # Distinct requests (a `user` each): identical ones in flight would share one upstream call.
        n = itertools.count()

        async def via_trinity() -> str:
            return (await trinity.chat(model="mock/mock-model", messages=MESSAGES, user=f"u{next(n)}")).content

        async def via_openai() -> str:
            r = await sdk.chat.completions.create(model="mock-model", messages=MESSAGES, user=f"u{next(n)}")  # type: ignore[arg-type]
            return r.choices[0].message.content or ""

        async def via_litellm() -> str:
            r = await litellm.acompletion(
                model="openai/mock-model",
                api_base=url + "/v1",
                api_key="sk-bench",
                messages=MESSAGES,
                user=f"u{next(n)}",
            )
            return str(r.choices[0].message.content)

        answers = {await via_trinity(), await via_openai(), await via_litellm()}
        assert len(answers) == 1, f"clients disagree: {answers}"
        print(f"trinity-core {tc.__version__} · openai {openai.__version__} · litellm {version('litellm')}")
        print(f"python {sys.version.split()[0]} · mock server {url} (separate process) · {os.cpu_count()} cores")
        for concurrency in (50, 256):
            ours = await run(via_trinity, 20_000, concurrency)
            theirs = await run(via_openai, 2_000, concurrency)
            lite = await run(via_litellm, 1_000, concurrency)
            print(
                f"  {concurrency:>3} concurrent: trinity {ours:>8.0f} req/s · openai {theirs:>6.0f} req/s "
                f"({ours / theirs:5.1f}x) · litellm {lite:>6.0f} req/s ({ours / lite:5.1f}x)"
            )
    finally:
        proc.kill()
        proc.wait()


if __name__ == "__main__":
    asyncio.run(main())
