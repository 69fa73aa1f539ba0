/**
 * Frame kinds of the baseline relay's wire format (see bench/relay.ts), in
 * their own module so the load generator can import them without starting a
 * relay.
 */
export const RelayKind = { send: 1, push: 2, response: 3, ack: 4 } as const;
