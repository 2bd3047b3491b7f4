"""Chat through trinity-core against the built-in mock server: an answer, a stream, a fault."""

from __future__ import annotations

import asyncio

import trinity_core as tc
from trinity_core.testing import MockServer

FIXTURES = {
    "pitch": {
        "match": "(?i)pitch",
        "response": "trinity-core: one Rust engine for tokens, models and LLM calls, from every language.",
    },
}


async def main() -> None:
    with MockServer(fixtures=FIXTURES, seed=7, latency={"dist": "lognormal", "p50_ms": 20, "p99_ms": 80}) as server:
        client = tc.Client(
            {
                "providers": {"openai": {"kind": "openai_compatible", "base_url": server.url + "/v1"}},
                "models": {"fast": {"deployments": [{"provider": "openai", "model": "gpt-4o-mini"}]}},
            }
        )
        messages = [{"role": "user", "content": "Give me a one-line pitch."}]
        r = await client.chat(model="fast", messages=messages)
        print(f"answer   [{r.provider}/{r.model}, {r.latency_ms:.1f} ms]: {r.content}")
        print(f"usage    {r.usage.prompt_tokens} in + {r.usage.completion_tokens} out, cost ${r.cost_usd or 0:.8f}")

        print("stream   ", end="")
        async for chunk in client.chat_stream(model="fast", messages=messages):
            if chunk.delta:
                print(chunk.delta, end="|", flush=True)
        print()

        answers = await asyncio.gather(*(client.chat(model="fast", messages=messages) for _ in range(100)))
        print(f"parallel 100 calls, {len({a.content for a in answers})} distinct answer(s)")

    with MockServer(faults={"script": ["429", "ok", "429"], "retry_after_ms": 300}) as flaky:
        provider = {"kind": "openai", "base_url": flaky.url + "/v1", "api_key": "sk-demo"}
        # A 429 is retried after its Retry-After (the `retry` config section sets the policy).
        answer = await tc.Client({"providers": {"p": provider}}).chat(model="p/gpt-4o", messages=messages)
        print(f"retried  429 then an answer: {answer.attempts} attempts in {answer.latency_ms:.0f} ms")
        try:
            once = tc.Client({"providers": {"p": provider}, "retry": {"max_attempts": 1}})
            await once.chat(model="p/gpt-4o", messages=messages)
        except tc.RateLimitedError as e:
            assert e.details is not None
            print(f"fault    {e.code}: retry after {e.details['retry_after_ms']} ms (HTTP {e.details['status']})")


if __name__ == "__main__":
    asyncio.run(main())
