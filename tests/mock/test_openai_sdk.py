"""The official `openai` (and `anthropic`) Python packages against `trinity mock-server`.

The point is fidelity: if the vendors' own SDKs parse our answers, streams, tool calls and
errors, the mock is faithful to the wire format and not just to our own client.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import openai
import pytest

ROOT = Path(__file__).resolve().parents[2]
BINARY = Path(os.environ.get("TRINITY_BIN", ROOT / "target" / "debug" / "trinity"))

FIXTURES = """
greeting:
  prompt: "Say hello"
  response: "Hello there, friend! Nice to meet you."
  metadata: {model: mock-gpt, tokens: 9}
weather:
  match: "(?i)weather"
  response: ""
  tool_calls:
    - name: get_weather
      arguments: {city: Paris, unit: celsius}
"""

StartServer = Callable[..., str]
CLAUDE = "mock-claude"  # a real model name would draw the SDK's deprecation warnings


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[StartServer]:
    """Starts `trinity mock-server --port 0` with the fixtures above; returns its URL."""
    if not BINARY.exists():
        pytest.fail(f"{BINARY} is missing: run `make build-mock` first")
    fixtures = tmp_path / "llm_responses.yaml"
    fixtures.write_text(FIXTURES)
    procs: list[subprocess.Popen[str]] = []

    def start(*args: str) -> str:
        proc = subprocess.Popen(
            [str(BINARY), "mock-server", "--port", "0", "--fixtures", str(fixtures), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        procs.append(proc)
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("listening on http://127.0.0.1:"), line
        return line.removeprefix("listening on ")

    yield start
    for proc in procs:
        # Closing stdin is the documented way to stop it (a dead parent has the same effect).
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            assert proc.wait(timeout=10) == 0
        finally:
            if proc.poll() is None:
                proc.kill()


def client(url: str, **kwargs: object) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key=str(kwargs.pop("api_key", "sk-test")), **kwargs)  # type: ignore[arg-type]


def ask(text: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": "be brief"}, {"role": "user", "content": text}]


def test_non_stream_answer_equals_the_fixture(start_server: StartServer) -> None:
    c = client(start_server())
    r = c.chat.completions.create(model="gpt-4o-mini", messages=ask("Say hello"))  # type: ignore[arg-type]
    assert r.choices[0].message.content == "Hello there, friend! Nice to meet you."
    assert r.choices[0].finish_reason == "stop"
    assert r.model == "mock-gpt"
    assert r.object == "chat.completion"
    assert r.usage is not None and r.usage.completion_tokens == 9
    assert r.usage.total_tokens == r.usage.prompt_tokens + 9
    # Unmatched prompts are echoed by default.
    r = c.chat.completions.create(model="gpt-4o-mini", messages=ask("anything else"))  # type: ignore[arg-type]
    assert r.choices[0].message.content == "anything else"


def test_stream_reassembles_the_text_and_reports_usage(start_server: StartServer) -> None:
    c = client(start_server("--chunk-delay-ms", "1"))
    stream = c.chat.completions.create(
        model="gpt-4o-mini",
        messages=ask("Say hello"),  # type: ignore[arg-type]
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert text == "Hello there, friend! Nice to meet you."
    assert sum(1 for ch in chunks if ch.choices and ch.choices[0].delta.content) > 1
    assert [ch.choices[0].finish_reason for ch in chunks if ch.choices and ch.choices[0].finish_reason] == ["stop"]
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 9


def test_tool_calls_parse(start_server: StartServer) -> None:
    c = client(start_server())
    r = c.chat.completions.create(model="gpt-4o-mini", messages=ask("What is the weather in Paris?"))  # type: ignore[arg-type]
    msg = r.choices[0].message
    assert r.choices[0].finish_reason == "tool_calls"
    assert msg.content is None
    assert msg.tool_calls is not None
    call = msg.tool_calls[0]
    assert call.type == "function"
    assert call.function.name == "get_weather"  # type: ignore[union-attr]
    assert json.loads(call.function.arguments) == {"city": "Paris", "unit": "celsius"}  # type: ignore[union-attr]

    # Streamed tool calls reassemble through the SDK's own helper.
    with c.chat.completions.stream(model="gpt-4o-mini", messages=ask("weather?")) as s:  # type: ignore[arg-type]
        final = s.get_final_completion()
    calls = final.choices[0].message.tool_calls
    assert calls is not None and calls[0].function.name == "get_weather"
    assert json.loads(calls[0].function.arguments) == {"city": "Paris", "unit": "celsius"}


def test_scripted_429_is_rate_limit_error_then_retry_succeeds(start_server: StartServer) -> None:
    url = start_server("--script", "429,429,ok", "--retry-after-ms", "10")
    with pytest.raises(openai.RateLimitError) as info:
        client(url, max_retries=0).chat.completions.create(model="m", messages=ask("Say hello"))  # type: ignore[arg-type]
    assert info.value.status_code == 429
    assert info.value.response.headers["retry-after-ms"] == "10"
    assert info.value.response.headers["retry-after"] == "1"
    assert info.value.code == "rate_limit_exceeded"
    # Script left: 429, ok. One retry (honouring retry-after-ms) gets the answer.
    r = client(url, max_retries=1).chat.completions.create(model="m", messages=ask("Say hello"))  # type: ignore[arg-type]
    assert r.choices[0].message.content == "Hello there, friend! Nice to meet you."


def test_wrong_key_is_authentication_error(start_server: StartServer) -> None:
    url = start_server("--api-key", "sk-right")
    with pytest.raises(openai.AuthenticationError) as info:
        client(url, api_key="sk-wrong", max_retries=0).chat.completions.create(model="m", messages=ask("hi"))  # type: ignore[arg-type]
    assert info.value.status_code == 401
    assert info.value.code == "invalid_api_key"
    r = client(url, api_key="sk-right").chat.completions.create(model="m", messages=ask("hi"))  # type: ignore[arg-type]
    assert r.choices[0].message.content == "hi"


def test_server_errors_surface_as_sdk_errors(start_server: StartServer) -> None:
    url = start_server("--script", "500,503,malformed")
    c = client(url, max_retries=0)
    with pytest.raises(openai.InternalServerError) as info:
        c.chat.completions.create(model="m", messages=ask("hi"))  # type: ignore[arg-type]
    assert info.value.status_code == 500
    with pytest.raises(openai.InternalServerError) as info:
        c.chat.completions.create(model="m", messages=ask("hi"))  # type: ignore[arg-type]
    assert info.value.status_code == 503
    with pytest.raises((openai.APIResponseValidationError, json.JSONDecodeError, ValueError)):
        c.chat.completions.create(model="m", messages=ask("hi"))  # type: ignore[arg-type]


def test_models_list(start_server: StartServer) -> None:
    ids = [m.id for m in client(start_server()).models.list()]
    assert "mock-model" in ids and "mock-gpt" in ids


def test_async_client_answers_and_streams(start_server: StartServer) -> None:
    url = start_server()

    async def main() -> tuple[list[str | None], str]:
        c = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="sk-test")
        answers = await asyncio.gather(
            *(c.chat.completions.create(model="m", messages=ask("Say hello")) for _ in range(20))  # type: ignore[arg-type]
        )
        stream = await c.chat.completions.create(model="m", messages=ask("Say hello"), stream=True)  # type: ignore[arg-type]
        text = "".join([ch.choices[0].delta.content or "" async for ch in stream if ch.choices])
        await c.close()
        return [a.choices[0].message.content for a in answers], text

    contents, text = asyncio.run(main())
    assert set(contents) == {"Hello there, friend! Nice to meet you."}
    assert text == "Hello there, friend! Nice to meet you."


# ---------------------------------------------------------------- anthropic


def test_anthropic_sdk_messages_stream_tools_and_errors(start_server: StartServer) -> None:
    anthropic = pytest.importorskip("anthropic")
    url = start_server("--script", "ok,ok,ok,429")
    c = anthropic.Anthropic(base_url=url, api_key="sk-ant-test", max_retries=0)

    m = c.messages.create(model=CLAUDE, max_tokens=100, messages=[{"role": "user", "content": "Say hello"}])
    assert m.content[0].type == "text"
    assert m.content[0].text == "Hello there, friend! Nice to meet you."
    assert m.stop_reason == "end_turn"
    assert m.usage.output_tokens == 9

    with c.messages.stream(model=CLAUDE, max_tokens=100, messages=[{"role": "user", "content": "Say hello"}]) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    assert text == "Hello there, friend! Nice to meet you."
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == 9

    m = c.messages.create(model=CLAUDE, max_tokens=100, messages=[{"role": "user", "content": "weather?"}])
    assert m.stop_reason == "tool_use"
    tool = m.content[0]
    assert tool.type == "tool_use" and tool.name == "get_weather"
    assert tool.input == {"city": "Paris", "unit": "celsius"}

    with pytest.raises(anthropic.RateLimitError) as info:
        c.messages.create(model=CLAUDE, max_tokens=100, messages=[{"role": "user", "content": "hi"}])
    assert info.value.status_code == 429
