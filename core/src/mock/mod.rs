//! Mock provider: fixtures answered in-process, and a real HTTP server speaking the OpenAI,
//! Anthropic and Gemini wire formats with latency and fault injection.
