from __future__ import annotations

from pathlib import Path

import pytest

import trinity_core as tc


def test_defaults_and_dict() -> None:
    d = tc.Config(env=False).to_dict()
    assert d["cache"]["enabled"] is False and d["breaker"]["window_size"] == 100
    c = tc.Config({"providers": {"openai": {"kind": "openai", "timeout_ms": 5000}}}, env=False)
    assert c.to_dict()["providers"]["openai"]["timeout_ms"] == 5000


def test_error_names_the_field() -> None:
    with pytest.raises(tc.ConfigError) as info:
        tc.Config.parse("providers: {openai: {kind: openai, timeout_ms: -1}}", env=False)
    assert info.value.code == "config"
    assert info.value.details == {"path": "providers.openai.timeout_ms"}
    assert str(info.value) == "providers.openai.timeout_ms: expected a positive integer"


def test_env_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    f = tmp_path / "trinity.yaml"
    f.write_text("providers:\n  openai: {kind: openai}\n")
    monkeypatch.setenv("TRINITY_PROVIDERS__OPENAI__TIMEOUT_MS", "1234")
    monkeypatch.setenv("TRINITY_CACHE__ENABLED", "true")
    d = tc.Config.from_file(str(f)).to_dict()
    assert d["providers"]["openai"]["timeout_ms"] == 1234 and d["cache"]["enabled"] is True
    assert tc.Config.from_file(str(f), env=False).to_dict()["cache"]["enabled"] is False
    monkeypatch.setenv("TRINITY_QUEUE__MAX_CONCURRENCY", "lots")
    with pytest.raises(tc.ConfigError) as info:
        tc.Config.from_file(str(f))
    assert info.value.details == {"path": "queue.max_concurrency"}


def test_secrets_never_shown() -> None:
    c = tc.Config.parse("providers: {openai: {kind: openai, api_key: sk-live-abcdef0123}}", env=False)
    assert "sk-live" not in repr(c) and "sk-live" not in str(c.to_dict())
    assert c.to_dict()["providers"]["openai"]["api_key"] == "[redacted]"


def test_bad_types() -> None:
    with pytest.raises(tc.InvalidInputError):
        tc.Config({"queue": object()})
    with pytest.raises(tc.ConfigError) as info:
        tc.Config({"queue": [1, 2]}, env=False)
    assert info.value.details == {"path": "queue"}
    with pytest.raises(tc.ConfigError):
        tc.Config.from_file("/no/such/file.yaml")
