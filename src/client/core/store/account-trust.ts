/**
 * The user's identity trust decisions per contact account:
 * - the account key the user marked **verified** (compared safety numbers
 *   and said so with `quintet trust <account> --verified`);
 * - a **pending** account key: one the server served in place of the pinned
 *   key, which nothing is encrypted to until the user accepts it.
 *
 * Kept apart from the verified device view (verified-devices.ts), which the
 * directory rewrites on every refresh: these are the user's decisions and
 * change only when the user acts (or the pending change goes away).
 *
 * Layout (table `account-trust`): one `AccountTrustRecord` per account name.
 */
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { AccountTrustRecordSchema } from '../../../gen/quintet/v1/client_store_pb.js';
import { ClientError } from '../errors.js';
import type { KeyValueView } from './kv.js';

/** Table name; part of the persisted format. */
export const ACCOUNT_TRUST_TABLE = 'account-trust';

const PUBLIC_KEY_LENGTH = 33;

/** The trust decisions about one contact account. */
export interface AccountTrust {
  /** The account key the user verified (33 bytes), if any. */
  readonly verifiedKey: Uint8Array | undefined;
  /** A served account key the user has not accepted yet (33 bytes), if any. */
  readonly pendingKey: Uint8Array | undefined;
  /** ms, this device's clock: when the pending key was first seen (0 without one). */
  readonly pendingSince: number;
}

/** Trust decisions per account. */
export interface AccountTrustStore {
  get(account: string): Promise<AccountTrust | undefined>;
  put(account: string, trust: AccountTrust): Promise<void>;
  delete(account: string): Promise<void>;
}

function optionalKey(bytes: Uint8Array): Uint8Array | undefined {
  if (bytes.length === 0) return undefined;
  if (bytes.length !== PUBLIC_KEY_LENGTH) {
    throw new ClientError('invalid-record', 'stored account trust key has the wrong length');
  }
  return bytes;
}

/** Encodes a trust record (exported for the store-format snapshot test). */
export function encodeAccountTrust(trust: AccountTrust): Uint8Array {
  return toBinary(
    AccountTrustRecordSchema,
    create(AccountTrustRecordSchema, {
      verifiedKey: trust.verifiedKey ?? new Uint8Array(0),
      pendingKey: trust.pendingKey ?? new Uint8Array(0),
      pendingSince: BigInt(trust.pendingSince),
    }),
  );
}

/** Decodes a trust record; `ClientError('invalid-record')` when damaged. */
export function decodeAccountTrust(bytes: Uint8Array): AccountTrust {
  let record;
  try {
    record = fromBinary(AccountTrustRecordSchema, bytes);
  } catch (error) {
    throw new ClientError('invalid-record', 'stored account trust record does not parse', {
      cause: error,
    });
  }
  return {
    verifiedKey: optionalKey(record.verifiedKey),
    pendingKey: optionalKey(record.pendingKey),
    pendingSince: Number(record.pendingSince),
  };
}

/** The trust store over one view (direct or inside a transaction). */
export function accountTrustStore(view: KeyValueView): AccountTrustStore {
  return {
    async get(account) {
      const bytes = await view.get(ACCOUNT_TRUST_TABLE, account);
      return bytes === undefined ? undefined : decodeAccountTrust(bytes);
    },
    put: (account, trust) => view.put(ACCOUNT_TRUST_TABLE, account, encodeAccountTrust(trust)),
    delete: (account) => view.delete(ACCOUNT_TRUST_TABLE, account),
  };
}
