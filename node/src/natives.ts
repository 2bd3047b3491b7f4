// The native half of wrapper objects other modules run on (a batch runs on a Client's native
// client). Not exported from the package: users pass the wrapper objects themselves.

import type { NativeClient } from '../native/index.js';
import { InvalidInputError } from './errors';

const clients = new WeakMap<object, NativeClient>();

/** @internal Called by the `Client` constructor. */
export function registerClient(client: object, native: NativeClient): void {
  clients.set(client, native);
}

/** @internal The native client of a `Client`; `InvalidInputError` for anything else. */
export function nativeClient(client: unknown): NativeClient {
  const native = typeof client === 'object' && client !== null ? clients.get(client) : undefined;
  if (native === undefined) throw new InvalidInputError('client: expected a Client');
  return native;
}
