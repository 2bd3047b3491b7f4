"""Seed 004's ``ContextManager``, in Python: one object holding how to prune, with the five
methods as snake_case twins. Each method calls one function of the core; the functions
themselves (:func:`prune_context`, :func:`prioritize_context`, ...) give the full results.

    cm = ContextManager(dialect="anthropic", max_input_tokens=50_000)
    cm.get_available_context_window("claude-sonnet-4-5")
    messages = cm.prune_context(messages, "claude-sonnet-4-5")
    for w in cm.warn_if_too_large({"messages": messages, "max_tokens": 4096}, "claude-sonnet-4-5"):
        print(w["code"], w["message"])
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from trinity_core import _native

if TYPE_CHECKING:  # typing-only names of the stub
    from trinity_core._native import ContextWarning, Dialect

__all__ = ["ContextManager"]

Strategy = Literal["drop_oldest", "keep_first_last", "summarize"]


class ContextManager:
    """The window a conversation may use, pruning that the provider still accepts, ordering by
    relevance, and warnings before a request is sent. The options apply to every call."""

    def __init__(
        self,
        *,
        dialect: Dialect = "openai",
        strategy: Strategy = "drop_oldest",
        max_input_tokens: int | None = None,
        reserve_output_tokens: int | None = None,
        summarize: Callable[[list[dict[str, Any]]], str] | None = None,
    ) -> None:
        self.dialect: Dialect = dialect
        self.strategy: Strategy = strategy
        self.max_input_tokens = max_input_tokens
        self.reserve_output_tokens = reserve_output_tokens
        self.summarize = summarize

    def estimate_tokens(self, text: str, model: str) -> int:
        """Tokens of ``text`` for ``model``: exact for OpenAI encodings and for open models whose
        tokenizer is installed (``fetch_tokenizers``), a calibrated estimate for Claude, else an
        estimate."""
        return _native.count_tokens(text, model=model)

    def get_available_context_window(self, model: str) -> int:
        """Tokens a conversation may use: the window less the answer's room."""
        w = _native.available_context_window(
            model, reserve_output_tokens=self.reserve_output_tokens, max_input_tokens=self.max_input_tokens
        )
        return w["available"]

    def prune_context(self, messages: Sequence[Mapping[str, Any]], model: str) -> list[dict[str, Any]]:
        """``messages`` cut to fit (see :func:`trinity_core.prune_context`)."""
        return _native.prune_context(
            messages,
            model,
            max_input_tokens=self.max_input_tokens,
            reserve_output_tokens=self.reserve_output_tokens,
            strategy=self.strategy,
            dialect=self.dialect,
            summarize=self.summarize,
        )["messages"]

    def prioritize_context(self, messages: Sequence[Mapping[str, Any]], model: str | None = None) -> list[Any]:
        """Earlier turns reordered by relevance to the latest user message, most relevant first
        and last (see :func:`trinity_core.prioritize_context`). ``model`` is accepted for seed
        004's signature; relevance does not depend on it."""
        del model
        return _native.prioritize_context(messages)["items"]

    def warn_if_too_large(self, request: Mapping[str, Any], model: str | None = None) -> list[ContextWarning]:
        """Warnings with stable codes (see :func:`trinity_core.warn_if_too_large`)."""
        return _native.warn_if_too_large(request, model)
