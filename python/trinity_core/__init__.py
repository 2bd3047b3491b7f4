"""trinity-core: a Rust engine for the hot paths of LLM applications.

    >>> import trinity_core as tc
    >>> tc.count_tokens("hello world", model="gpt-4o")
    2
    >>> tc.Registry().get("claude-sonnet-4-5").context_window
    200000

Every error is a :class:`TrinityError` with a stable ``.code`` (``"not_found"``,
``"invalid_input"``, ...), one subclass per code.
"""

from trinity_core._native import (
    ABI_VERSION,
    AuthError,
    BudgetExceededError,
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
    InternalError,
    InvalidInputError,
    IoError,
    Model,
    NetworkError,
    NotFoundError,
    ProviderError,
    RateLimitedError,
    Registry,
    TimeoutError,
    TrinityError,
    Usage,
    __version__,
    count_message_tokens,
    count_tokens,
    count_tokens_batch,
    error_kinds,
    heal_css,
    heal_html,
)

__all__ = [
    "ABI_VERSION",
    "AuthError",
    "BudgetExceededError",
    "CacheError",
    "CancelledError",
    "ChatChunk",
    "ChatResponse",
    "ChatStream",
    "CircuitOpenError",
    "Client",
    "Config",
    "ConfigError",
    "ContextTooLargeError",
    "InternalError",
    "InvalidInputError",
    "IoError",
    "Model",
    "NetworkError",
    "NotFoundError",
    "ProviderError",
    "RateLimitedError",
    "Registry",
    "TimeoutError",
    "TrinityError",
    "Usage",
    "__version__",
    "count_message_tokens",
    "count_tokens",
    "count_tokens_batch",
    "error_kinds",
    "heal_css",
    "heal_html",
]
