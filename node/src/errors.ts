// Errors: every failure leaving this package is a TrinityError whose `code` is the core's
// stable string code; one subclass per core error kind, so `instanceof` works.

import { errorKinds } from '../native/index.js';

export type ErrorCode =
  | 'invalid_input'
  | 'config'
  | 'not_found'
  | 'context_too_large'
  | 'budget_exceeded'
  | 'auth'
  | 'rate_limited'
  | 'timeout'
  | 'provider'
  | 'network'
  | 'circuit_open'
  | 'cancelled'
  | 'cache'
  | 'io'
  | 'internal'
  | 'guard_stopped';

/** Machine-readable facts about an error, e.g. `{ suggestions: [...] }` or `{ path: "..." }`. */
export type ErrorDetails = Readonly<Record<string, unknown>>;

export class TrinityError extends Error {
  readonly code: ErrorCode;
  readonly details: ErrorDetails | undefined;

  constructor(code: ErrorCode, message: string, details?: ErrorDetails, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.details = details;
  }
}

/** The base of one kind's class: fixes the code, keeps `(message, details)` for callers. */
function kind(code: ErrorCode) {
  return class extends TrinityError {
    constructor(message: string, details?: ErrorDetails, options?: ErrorOptions) {
      super(code, message, details, options);
    }
  };
}

export class InvalidInputError extends kind('invalid_input') {}
export class ConfigError extends kind('config') {}
export class NotFoundError extends kind('not_found') {}
export class ContextTooLargeError extends kind('context_too_large') {}
export class BudgetExceededError extends kind('budget_exceeded') {}
export class AuthError extends kind('auth') {}
export class RateLimitedError extends kind('rate_limited') {}
export class TimeoutError extends kind('timeout') {}
export class ProviderError extends kind('provider') {}
export class NetworkError extends kind('network') {}
export class CircuitOpenError extends kind('circuit_open') {}
export class CancelledError extends kind('cancelled') {}
export class CacheError extends kind('cache') {}
export class IoError extends kind('io') {}
export class InternalError extends kind('internal') {}
export class GuardStoppedError extends kind('guard_stopped') {}

type KindClass = new (message: string, details?: ErrorDetails, options?: ErrorOptions) => TrinityError;

/** Code -> class. A test checks it against the core's list (`errorKinds()`), both ways. */
export const ERROR_CLASSES: Readonly<Record<ErrorCode, KindClass>> = Object.freeze({
  invalid_input: InvalidInputError,
  config: ConfigError,
  not_found: NotFoundError,
  context_too_large: ContextTooLargeError,
  budget_exceeded: BudgetExceededError,
  auth: AuthError,
  rate_limited: RateLimitedError,
  timeout: TimeoutError,
  provider: ProviderError,
  network: NetworkError,
  circuit_open: CircuitOpenError,
  cancelled: CancelledError,
  cache: CacheError,
  io: IoError,
  internal: InternalError,
  guard_stopped: GuardStoppedError,
});

export interface ErrorKind {
  readonly code: ErrorCode;
  readonly number: number;
  readonly className: string;
}

/** The core's error kinds with their stable numbers, in number order. */
export function listErrorKinds(): ErrorKind[] {
  return errorKinds() as ErrorKind[];
}

function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERROR_CLASSES, code);
}

/**
 * Turns what the native layer threw into a TrinityError. napi-rs rejects arguments of the wrong
 * JS type before our code runs, with codes like `StringExpected`: those are the caller's input.
 */
export function toTrinityError(e: unknown): TrinityError {
  if (e instanceof TrinityError) return e;
  const err = e instanceof Error ? e : new Error(String(e));
  const { code, details } = err as Error & { code?: unknown; details?: ErrorDetails };
  if (isErrorCode(code)) return new ERROR_CLASSES[code](err.message, details);
  if (typeof code === 'string' && (code === 'InvalidArg' || code.endsWith('Expected'))) {
    return new InvalidInputError(err.message, { argument: code });
  }
  return new InternalError(err.message, undefined, { cause: err });
}

/** Calls into the native layer, translating what it throws. */
export function call<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw toTrinityError(e);
  }
}
