"""trinity-core: a Rust engine for the hot paths of LLM applications.

    >>> import trinity_core as tc
    >>> tc.count_tokens("hello world", model="gpt-4o")
    2
    >>> tc.Registry().get("claude-sonnet-4-5").context_window
    200000

Every error is a :class:`TrinityError` with a stable ``.code`` (``"not_found"``,
``"invalid_input"``, ...), one subclass per code.

Resilience (:mod:`trinity_core.resilience`): :class:`CircuitBreaker` (``async with``, decorator),
:class:`RateLimiter`, :class:`RequestQueue` and :class:`LLMQueue` (``submit(fn, retry=True, ...)``).

Context (seed 004's ``ContextManager``, also as functions): :func:`prune_context` (a conversation cut
to the window that its provider still accepts), :func:`prioritize_context` (the most relevant documents
or turns first and last), :func:`warn_if_too_large` (warnings with stable codes),
:func:`available_context_window`, :func:`validate_conversation`.

Cost and observability: :class:`CostTracker` (per-minute totals, budget alerts, CSV) and
:class:`RequestLog` (one record per call, queries, JSON/CSV export, JSON Lines sink); each client
keeps its own (``client.costs``, ``client.request_log``) and its metrics
(``client.metrics_text()``, :func:`trinity_core.metrics.register` for ``prometheus_client``).

Batch runs (:mod:`trinity_core.batch`): JSON Lines of requests through a client with a
checksummed journal, resumable after a crash: ``async for line in batch.run(client, input,
output)``, ``batch.run_sync(...)``, ``batch.status(output)``.

Run guards (:mod:`trinity_core.guard`, seed 003): :class:`RunGuard` bounds an agent loop with
``max_steps``, ``max_time_s`` (a step or LLM call still running at the deadline is cancelled),
loop detection and a crash-safe JSON Lines event log (:func:`read_event_log`); every stop is a
:class:`GuardStoppedError` with ``details["reason"]``; ``performance_report()`` has count,
average, min, max, p50, p95 and p99 per metric.

Engine logs go to :mod:`logging` under ``trinity_core.*`` loggers (retries, fallbacks, breaker
transitions, each call's end), at the client's ``logging.level``, scrubbed of keys by default;
:func:`flush_logs` waits until they have arrived. See ``trinity_core._log`` for the record's fields.
"""

import logging as _logging

from trinity_core import batch, guard, metrics
from trinity_core._native import (
    ABI_VERSION,
    AuthError,
    BudgetExceededError,
    Cache,
    CacheError,
    CancelledError,
    ChatChunk,
    ChatResponse,
    ChatStream,
    CircuitOpenError,
    Client,
    Config,
    ConfigError,
    ContextTooLargeError,
    CostTracker,
    GuardStoppedError,
    InternalError,
    InvalidInputError,
    IoError,
    Model,
    NetworkError,
    NotFoundError,
    PerformanceMetrics,
    PromptOptimizer,
    ProviderError,
    ProviderMonitor,
    RateLimitedError,
    Registry,
    RequestLog,
    TimeoutError,
    TrinityError,
    Usage,
    __version__,
    available_context_window,
    compress_prompt,
    cost,
    count_message_tokens,
    count_tokens,
    count_tokens_batch,
    debug_info,
    dropped_log_records,
    error_kinds,
    fetch_tokenizers,
    flush_logs,
    heal_css,
    heal_html,
    load_tokenizer,
    optimize_prompt,
    optimize_prompt_for_model,
    prioritize_context,
    prune_context,
    read_event_log,
    set_tokenizer_dir,
    tokenizer_status,
    validate_conversation,
    warn_if_too_large,
)
from trinity_core.context import ContextManager
from trinity_core.guard import RunGuard
from trinity_core.resilience import (
    Admission,
    BreakerTicket,
    CircuitBreaker,
    LLMQueue,
    QueuePermit,
    RateLimiter,
    RequestQueue,
    RetryPolicy,
    is_retryable,
)

# A library's loggers stay silent until the application configures logging.
_logging.getLogger("trinity_core").addHandler(_logging.NullHandler())

__all__ = [
    "ABI_VERSION",
    "Admission",
    "AuthError",
    "BreakerTicket",
    "BudgetExceededError",
    "Cache",
    "CacheError",
    "CancelledError",
    "ChatChunk",
    "ChatResponse",
    "ChatStream",
    "CircuitBreaker",
    "CircuitOpenError",
    "Client",
    "Config",
    "ConfigError",
    "ContextManager",
    "ContextTooLargeError",
    "CostTracker",
    "GuardStoppedError",
    "InternalError",
    "InvalidInputError",
    "IoError",
    "LLMQueue",
    "Model",
    "NetworkError",
    "NotFoundError",
    "PerformanceMetrics",
    "PromptOptimizer",
    "ProviderError",
    "ProviderMonitor",
    "QueuePermit",
    "RateLimitedError",
    "RateLimiter",
    "Registry",
    "RequestLog",
    "RequestQueue",
    "RetryPolicy",
    "RunGuard",
    "TimeoutError",
    "TrinityError",
    "Usage",
    "__version__",
    "available_context_window",
    "prioritize_context",
    "prune_context",
    "validate_conversation",
    "warn_if_too_large",
    "count_message_tokens",
    "cost",
    "count_tokens",
    "count_tokens_batch",
    "fetch_tokenizers",
    "load_tokenizer",
    "set_tokenizer_dir",
    "tokenizer_status",
    "debug_info",
    "dropped_log_records",
    "error_kinds",
    "flush_logs",
    "is_retryable",
    "heal_css",
    "heal_html",
    "compress_prompt",
    "optimize_prompt",
    "optimize_prompt_for_model",
    "read_event_log",
    "metrics",
    "batch",
    "guard",
]
