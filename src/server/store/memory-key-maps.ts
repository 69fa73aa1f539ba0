/** What the in-memory key stores share: the per-device map key and the lowest-id take. */

/** The `(account, device)` key of the in-memory maps (NUL cannot occur in an account name). */
export function deviceKey(account: string, deviceId: number): string {
  return `${account}\u0000${deviceId}`;
}

/**
 * Removes and returns the lowest-id key of one device's one-time keys
 * (every backend hands them out lowest id first), or undefined when none.
 */
export function takeLowest<T>(keys: Map<number, T> | undefined): T | undefined {
  if (keys === undefined || keys.size === 0) return undefined;
  const lowest = Math.min(...keys.keys());
  const key = keys.get(lowest);
  keys.delete(lowest);
  return key;
}
