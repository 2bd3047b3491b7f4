// Engine logs: each client's records (retries, fallbacks, breaker transitions, each call's end)
// at its `logging.level`, scrubbed of keys unless `logging.redact` is false, delivered on the JS
// thread in batches after the calls that made them.

import { flushLogs as nativeFlushLogs } from '../native/index.js';

export type LogLevel = 'error' | 'warn' | 'info' | 'debug' | 'trace';

/** One engine log record: OpenTelemetry GenAI field names (`gen_ai.request.model`, ...). */
export interface LogRecord {
  readonly timestamp: string;
  readonly level: LogLevel;
  /** The emitting module, `trinity_core::llm::books`. */
  readonly target: string;
  readonly message: string;
  /** The request log's id of the call. */
  readonly request_id?: string;
  /** The record as the client's `logging.format` renders it. */
  readonly line: string;
  readonly [field: string]: unknown;
}

/** What `setLogger` takes: `console`, pino, winston and the like. */
export interface Logger {
  error(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  debug(message: string, fields?: Record<string, unknown>): void;
}

/** Resolves once every record emitted before it has reached its listeners. */
export async function flushLogs(timeoutMs = 5000): Promise<boolean> {
  const done = nativeFlushLogs(timeoutMs);
  // The log thread has queued its calls on the JS thread: let them run.
  await new Promise<void>((resolve) => setImmediate(resolve));
  await new Promise<void>((resolve) => setImmediate(resolve));
  return done;
}

/** One record to `listener`; a listener that throws loses that record only. */
export function deliver(listener: (record: LogRecord) => void, records: unknown[]): void {
  for (const record of records) {
    try {
      listener(record as LogRecord);
    } catch (e) {
      process.emitWarning(`trinity-core: a log listener threw: ${String(e)}`);
    }
  }
}

/** A record to a `Logger`, `trace` as `debug`. */
export function toLogger(logger: Logger): (record: LogRecord) => void {
  return (record) => {
    const { level, message, ...fields } = record;
    (level === 'trace' ? logger.debug : logger[level]).call(logger, message, fields);
  };
}
