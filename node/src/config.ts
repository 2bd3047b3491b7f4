// Config: one schema (YAML or JSON) shared by every language; keys stay snake_case as in the files.

import * as native from '../native/index.js';
import { call } from './errors';

/** The normalized config: every section with defaults filled in, secrets redacted. */
export interface TrinityConfig {
  readonly providers: Readonly<Record<string, unknown>>;
  readonly models: Readonly<Record<string, unknown>>;
  readonly registry: Readonly<Record<string, unknown>>;
  readonly cache: Readonly<Record<string, unknown>>;
  readonly breaker: Readonly<Record<string, unknown>>;
  readonly retry: Readonly<Record<string, unknown>>;
  readonly rate_limits: Readonly<Record<string, unknown>>;
  readonly queue: Readonly<Record<string, unknown>>;
  readonly budget: Readonly<Record<string, unknown>>;
  readonly logging: Readonly<Record<string, unknown>>;
  readonly metrics: Readonly<Record<string, unknown>>;
  readonly monitor: Readonly<Record<string, unknown>>;
  readonly context: Readonly<Record<string, unknown>>;
  readonly [section: string]: unknown;
}

export interface ConfigOptions {
  /** Apply `TRINITY_*` environment overrides (default true). */
  env?: boolean | undefined;
}

/** Parses YAML or JSON text; a bad field is a `ConfigError` with `details.path`. */
export function parseConfig(text: string, opts?: ConfigOptions): TrinityConfig {
  return call(() => native.parseConfig(text, opts?.env)) as TrinityConfig;
}

/** Reads a `.yaml`, `.yml` or `.json` config file. */
export function loadConfig(path: string, opts?: ConfigOptions): TrinityConfig {
  return call(() => native.loadConfig(path, opts?.env)) as TrinityConfig;
}
