/**
 * Typed group requests on top of the `Transport` (the group half of
 * server-api.ts). A refusal becomes `GroupRequestError` carrying the stable
 * wire code and, for a group send, the per-account device mismatches the
 * sender needs to repair its recipient set.
 */
import type { MessageInitShape } from '@bufbuild/protobuf';
import type { SignedGroupChange } from '../../../gen/quintet/v1/groups_pb.js';
import type {
  GroupRecipientSchema,
  Response,
  SendMessageRequestSchema,
} from '../../../gen/quintet/v1/transport_pb.js';
import type { RequestBody } from '../../../wire/frame.js';
import { ClientError, type ServerErrorDetails } from '../errors.js';
import { RateLimitedRequests, SEND_WAIT_OUT } from '../rate-limit-retry.js';
import type { Transport } from '../transport.js';

/** The recipients of one account in a group send. */
export type GroupRecipientInit = MessageInitShape<typeof GroupRecipientSchema>;
/** A pairwise send carried inside a group send (distribution messages). */
export type DistributionInit = MessageInitShape<typeof SendMessageRequestSchema>;

/** One account's device mismatch in a refused group send. */
export interface AccountMismatch {
  readonly account: string;
  readonly missing: readonly number[];
  readonly extra: readonly number[];
  readonly stale: readonly number[];
}

/** A refused group request: `ClientError('server-error')` plus per-account mismatches. */
export class GroupRequestError extends ClientError {
  constructor(
    serverCode: string,
    serverMessage: string,
    readonly mismatches: readonly AccountMismatch[],
    details?: ServerErrorDetails,
  ) {
    super('server-error', `server refused a group request: ${serverCode}`, {
      serverCode,
      serverMessage,
      ...(details === undefined ? {} : { details }),
    });
  }
}

type ResponseBody = Response['body'];
type BodyOf<C extends NonNullable<ResponseBody['case']>> = Extract<
  ResponseBody,
  { case: C }
>['value'];

/** What one `SendGroupMessage` carries. */
export interface GroupSendInit {
  readonly groupId: Uint8Array;
  /** A SenderKeyMessage; empty for a distributions-only chunk. */
  readonly ciphertext: Uint8Array;
  readonly recipients: GroupRecipientInit[];
  readonly distributions: DistributionInit[];
  readonly refused: GroupRecipientInit[];
  readonly timestamp: number;
  /** Typing indicators: pushed to connected devices only, never stored or re-sent. */
  readonly ephemeral?: boolean;
}

/** What `getGroup` serves: links from `firstVersion` on, and the server's head version. */
export interface ServedChain {
  readonly changes: SignedGroupChange[];
  readonly firstVersion: number;
  readonly headVersion: number;
  /** The server's word for its newest snapshot link (create, add, checkpoint). */
  readonly snapshotVersion: number;
}

/**
 * The server's group requests, typed. Group sends share `sends`, the retry
 * lane of `ServerApi` (one per-account bucket on the server): `rate-limited`,
 * `storage-full` and `unavailable` refusals are waited out and the same
 * request re-sent.
 */
export class GroupApi {
  constructor(
    private readonly transport: Transport,
    private readonly sends: RateLimitedRequests = new RateLimitedRequests({
      waitOut: SEND_WAIT_OUT,
    }),
  ) {}

  async createGroup(change: SignedGroupChange): Promise<void> {
    await this.#call({ case: 'createGroup', value: { change } }, 'createGroup');
  }

  async updateGroup(change: SignedGroupChange): Promise<void> {
    await this.#call({ case: 'updateGroup', value: { change } }, 'updateGroup');
  }

  /**
   * The served changes after `knownVersion` (the verified head), or with
   * none, a snapshot link and the changes after it; oldest first.
   */
  async getGroup(groupId: Uint8Array, knownVersion?: number): Promise<ServedChain> {
    const body = await this.#call(
      {
        case: 'getGroup',
        value: { groupId, ...(knownVersion === undefined ? {} : { knownVersion }) },
      },
      'getGroup',
    );
    return {
      changes: body.changes,
      firstVersion: body.firstVersion,
      headVersion: body.headVersion,
      snapshotVersion: body.snapshotVersion,
    };
  }

  async listGroups(): Promise<Uint8Array[]> {
    return (await this.#call({ case: 'listGroups', value: {} }, 'listGroups')).groupIds;
  }

  /**
   * One group send. A `queue-full` refusal fails with
   * `ClientError('queue-full')`, naming the recipient account when the
   * request had only one (the server does not say which device was full).
   */
  async sendGroupMessage(init: GroupSendInit): Promise<{ queuedOnly: boolean }> {
    // Built once: every retry carries exactly these bytes (the sender key
    // message and the distributions are already encrypted).
    const request: RequestBody = {
      case: 'sendGroupMessage',
      value: {
        groupId: init.groupId,
        ciphertext: init.ciphertext,
        recipients: init.recipients,
        distributions: init.distributions,
        refused: init.refused,
        timestamp: BigInt(init.timestamp),
        ephemeral: init.ephemeral === true,
      },
    };
    try {
      // An ephemeral send (typing) is not waited out and re-sent: late, it would be wrong.
      const body =
        init.ephemeral === true
          ? await this.#call(request, 'sendGroupMessage')
          : await this.sends.run(() => this.#call(request, 'sendGroupMessage'));
      return { queuedOnly: body.queuedOnly };
    } catch (error) {
      throw ClientError.queueFull(error, soleRecipient(init));
    }
  }

  async #call<C extends NonNullable<ResponseBody['case']>>(
    body: RequestBody,
    expected: C,
  ): Promise<BodyOf<C>> {
    const response = await this.transport.request(body);
    if (response.error !== undefined) {
      const error = response.error;
      throw new GroupRequestError(
        error.code,
        error.message,
        error.accountMismatches.map((m) => ({
          account: m.account,
          missing: m.missingDevices,
          extra: m.extraDevices,
          stale: m.staleDevices,
        })),
        {
          missingDevices: error.missingDevices,
          extraDevices: error.extraDevices,
          staleDevices: error.staleDevices,
          retryAfterMs: error.retryAfterMs,
          limit: error.limit,
        },
      );
    }
    if (response.body.case !== expected) {
      throw new ClientError('unexpected-response', `expected a ${expected} response`);
    }
    return response.body.value as BodyOf<C>;
  }
}

/** The one account a group send reaches, or undefined when it reaches several. */
function soleRecipient(init: GroupSendInit): string | undefined {
  const accounts = new Set<string>();
  for (const r of init.recipients) if (r.account !== undefined) accounts.add(r.account);
  for (const d of init.distributions) if (d.destination !== undefined) accounts.add(d.destination);
  if (accounts.size !== 1) return undefined;
  const [only] = accounts;
  return only;
}
