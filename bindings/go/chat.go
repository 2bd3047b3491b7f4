package trinity

import "encoding/json"

// The chat types mirror the core's JSON (core/src/llm/types.rs), in OpenAI's vocabulary, so
// encoding/json moves them across the C ABI unchanged.

// ChatRequest is one request for every provider. Model is a configured route, a registry id or
// alias, or "provider/model" naming a configured provider.
type ChatRequest struct {
	Model    string    `json:"model"`
	Messages []Message `json:"messages"`
	// Pointers where zero is a meaningful value; nil leaves the provider's default.
	Temperature    *float64        `json:"temperature,omitempty"`
	TopP           *float64        `json:"top_p,omitempty"`
	MaxTokens      int             `json:"max_tokens,omitempty"`
	Stop           []string        `json:"stop,omitempty"`
	Seed           *int64          `json:"seed,omitempty"`
	ResponseFormat *ResponseFormat `json:"response_format,omitempty"`
	Tools          []Tool          `json:"tools,omitempty"`
	// ToolChoice is "auto", "none", "required" or {"type": "function", "function": {"name": ...}}.
	ToolChoice any            `json:"tool_choice,omitempty"`
	User       string         `json:"user,omitempty"`
	Metadata   map[string]any `json:"metadata,omitempty"`
	// TimeoutMs overrides the provider's total timeout for this call.
	TimeoutMs uint64 `json:"timeout_ms,omitempty"`
	// Extra fields are sent as given and win over the typed ones: an escape hatch for fields
	// this struct does not have yet.
	Extra map[string]any `json:"-"`
}

// MarshalJSON writes the typed fields, then Extra over them.
func (r ChatRequest) MarshalJSON() ([]byte, error) {
	type plain ChatRequest // without this method
	b, err := json.Marshal(plain(r))
	if err != nil || len(r.Extra) == 0 {
		return b, err
	}
	var fields map[string]any
	if err := json.Unmarshal(b, &fields); err != nil {
		return nil, err
	}
	for k, v := range r.Extra {
		fields[k] = v
	}
	return json.Marshal(fields)
}

// Message is one chat message. Role: system, developer, user, assistant or tool.
// Content is a string or a []ContentPart (text and image parts); nil with ToolCalls.
type Message struct {
	Role       string     `json:"role"`
	Content    any        `json:"content,omitempty"`
	Name       string     `json:"name,omitempty"`
	ToolCalls  []ToolCall `json:"tool_calls,omitempty"`
	ToolCallID string     `json:"tool_call_id,omitempty"`
}

// ContentPart is {Type: "text", Text} or {Type: "image_url", ImageURL}.
type ContentPart struct {
	Type     string    `json:"type"`
	Text     string    `json:"text,omitempty"`
	ImageURL *ImageURL `json:"image_url,omitempty"`
}

// ImageURL is an https:// URL or a data:image/...;base64, URL.
type ImageURL struct {
	URL    string `json:"url"`
	Detail string `json:"detail,omitempty"`
}

// ResponseFormat is {Type: "text" | "json_object"} or {Type: "json_schema", JSONSchema}.
type ResponseFormat struct {
	Type       string         `json:"type"`
	JSONSchema map[string]any `json:"json_schema,omitempty"`
}

// Tool is a function the model may call.
type Tool struct {
	Type     string      `json:"type,omitempty"` // "function" when empty
	Function FunctionDef `json:"function"`
}

// FunctionDef describes a tool function; Parameters is its JSON Schema.
type FunctionDef struct {
	Name        string         `json:"name"`
	Description string         `json:"description,omitempty"`
	Parameters  map[string]any `json:"parameters,omitempty"`
}

// ToolCall is a call the model made; Arguments is JSON text as the model wrote it.
type ToolCall struct {
	ID       string       `json:"id"`
	Type     string       `json:"type,omitempty"`
	Function FunctionCall `json:"function"`
}

// FunctionCall names the function and carries its arguments.
type FunctionCall struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

// Usage counts tokens: PromptTokens every input token (cache reads and writes included),
// CompletionTokens every output token (reasoning included). CachedTokens were served from the
// provider's cache; CacheWriteTokens (5 minutes) and CacheWrite1hTokens were written to it.
type Usage struct {
	PromptTokens       uint64 `json:"prompt_tokens"`
	CompletionTokens   uint64 `json:"completion_tokens"`
	TotalTokens        uint64 `json:"total_tokens"`
	CachedTokens       uint64 `json:"cached_tokens"`
	CacheWriteTokens   uint64 `json:"cache_write_tokens,omitempty"`
	CacheWrite1hTokens uint64 `json:"cache_write_1h_tokens,omitempty"`
	ReasoningTokens    uint64 `json:"reasoning_tokens,omitempty"`
}

// ChatResponse is the answer to a chat request.
type ChatResponse struct {
	ID        string     `json:"id"`
	Content   string     `json:"content"`
	ToolCalls []ToolCall `json:"tool_calls,omitempty"`
	// FinishReason: stop, length, tool_calls, content_filter, or the provider's own word.
	FinishReason string `json:"finish_reason"`
	Usage        Usage  `json:"usage"`
	// Provider is the configured provider name that answered; Model the model it named.
	Provider  string  `json:"provider"`
	Model     string  `json:"model"`
	LatencyMs float64 `json:"latency_ms"`
	// CostUSD is nil when the call could not be priced (CostDetail.UnpricedReason says why).
	CostUSD    *float64    `json:"cost_usd"`
	CostDetail *CostDetail `json:"cost_detail,omitempty"`
	Cached     bool        `json:"cached"`
	Attempts   uint32      `json:"attempts"`
	// Debug is seed 004's DebugInfo: the request log's id for the call, timings, tokens, cost.
	Debug *DebugInfo `json:"debug,omitempty"`
}

// DebugInfo is what an answer says about its call; RequestID finds it in the request log.
type DebugInfo struct {
	RequestID    string  `json:"request_id"`
	Provider     string  `json:"provider"`
	Model        string  `json:"model"`
	DurationMs   float64 `json:"duration_ms"`
	InputTokens  uint64  `json:"input_tokens"`
	OutputTokens uint64  `json:"output_tokens"`
	// Cost is USD, nil when the call could not be priced.
	Cost *float64 `json:"cost"`
	// LatencyMs is the provider's part: DurationMs less queueing and engine overhead.
	LatencyMs          float64  `json:"latency_ms"`
	TimeToFirstTokenMs *float64 `json:"time_to_first_token_ms"`
}

// ChatChunk is one streamed piece; the last carries FinishReason and, where the provider
// reports it, Usage.
type ChatChunk struct {
	Delta        string          `json:"delta"`
	ToolCalls    []ToolCallDelta `json:"tool_calls,omitempty"`
	FinishReason string          `json:"finish_reason,omitempty"`
	Usage        *Usage          `json:"usage,omitempty"`
	// On the chunk that carries the usage: what the stream cost.
	CostUSD    *float64    `json:"cost_usd,omitempty"`
	CostDetail *CostDetail `json:"cost_detail,omitempty"`
	// Cached: replayed from the response cache, with the original chunk boundaries.
	Cached bool `json:"cached,omitempty"`
}

// ToolCallDelta is a piece of a streamed tool call; its first piece carries ID and Name.
type ToolCallDelta struct {
	Index     uint32 `json:"index"`
	ID        string `json:"id,omitempty"`
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments"`
}
