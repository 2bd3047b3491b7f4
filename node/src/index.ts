// @pi-builder/core: trinity-core for Node. LLM client, model registry, exact token counts, config.

import * as native from '../native/index.js';

export * from './errors';
export * from './registry';
export * from './tokens';
export * from './context';
export * from './cost';
export * from './healer';
export * from './prompt';
export * from './config';
export * from './cache';
export * from './client';
export * from './batch';
export * from './stream';
export * from './resilience';
export * from './observe';
export * from './monitor';
export * from './guard';
export { registerMetrics, type MetricsRegistration, type PromRegistry } from './metrics';
export { flushLogs, type LogLevel, type LogRecord, type Logger } from './logs';
export { MockServer, RedisServer, type MockServerConfig, type MockStats } from './testing';

/** The package version (equal to the Rust core's). */
export const version: string = native.version();
/** The C ABI version of the core this package was built with. */
export const abiVersion: number = native.abiVersion();
