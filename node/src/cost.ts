// Cost: what a call costs at the registry's prices, as the client prices every answer.

import * as native from '../native/index.js';
import { call } from './errors';
import type { Usage } from './client';

/** A call's cost. Money is exact integer nano-USD (10⁻⁹ USD) inside; JS numbers hold it exactly up to $9 million. */
export interface CostDetail {
  /** Absent when the call could not be priced (see `unpricedReason`): never a silent 0. */
  readonly totalNanoUsd?: number;
  readonly totalUsd?: number;
  readonly inputNanoUsd: number;
  readonly cachedInputNanoUsd: number;
  readonly cacheWriteNanoUsd: number;
  readonly outputNanoUsd: number;
  readonly reasoningNanoUsd: number;
  /** The long-prompt tier the whole request was billed at (its threshold). */
  readonly tierAboveTokens?: number;
  /** Counted with the token counter (a stream without usage, cut short or cancelled). */
  readonly estimated: boolean;
  /** `unknown_model` or `missing_rate:<registry field>`. */
  readonly unpricedReason?: string;
}

/** Any of the usage counts; absent ones are 0. */
export type UsageCounts = Partial<Omit<Usage, 'totalTokens'>>;

/** What `usage` costs for `model` (dated and prefixed names are found: `openai/gpt-4o`, `claude-…-20250929`). */
export function cost(model: string, usage: UsageCounts, opts?: { estimated?: boolean }): CostDetail {
  return call(() => native.cost(model, usage, opts?.estimated)) as CostDetail;
}
