"""Test helpers: a real mock provider server for your own tests.

    from trinity_core.testing import MockServer

    with MockServer(fixtures={"hi": {"prompt": "Say hi", "response": "Hi!"}}) as server:
        client = trinity_core.Client({"providers": {"openai": {
            "kind": "openai_compatible", "base_url": server.url + "/v1"}}})

The server speaks the OpenAI (`/v1/chat/completions`), Anthropic (`/v1/messages`) and Gemini
(`/v1beta/models/{model}:generateContent`) wire formats, streaming included, with latency and
fault injection (`faults={"script": ["429", "ok"]}` or `faults={"rates": {"503": 0.1}}`),
deterministic for a given `seed`.

`RedisServer()` starts a real `redis-server` (it must be installed) on a free loopback port with
no persistence, for the shared cache tier and shared rate limits; `restart()` keeps the port.
"""

from trinity_core._native import MockServer, RedisServer

__all__ = ["MockServer", "RedisServer"]
