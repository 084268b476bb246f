/**
 * Errors the store raises for outcomes a caller must handle. Handlers map them to wire codes;
 * the store itself knows nothing of the wire.
 */
export class StoreError extends Error {
  constructor(
    readonly kind: 'not-found' | 'conflict' | 'stale' | 'out-of-range' | 'exists' | 'forbidden' | 'busy',
    message: string,
  ) {
    super(message);
    this.name = 'StoreError';
  }
}

export const notFound = (what: string) => new StoreError('not-found', `${what} not found`);
