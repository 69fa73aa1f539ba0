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
import { ClientError } from '../errors.js';
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
  ) {
    super('server-error', `server refused a group request: ${serverCode}`, {
      serverCode,
      serverMessage,
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
}

/** What `getGroup` serves: links from `firstVersion` on, and the server's head version. */
export interface ServedChain {
  readonly changes: SignedGroupChange[];
  readonly firstVersion: number;
  readonly headVersion: number;
  /** The server's word for its newest snapshot link (create, add, checkpoint). */
  readonly snapshotVersion: number;
}

/** The server's group requests, typed. */
export class GroupApi {
  constructor(private readonly transport: Transport) {}

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

  async sendGroupMessage(init: GroupSendInit): Promise<{ queuedOnly: boolean }> {
    const body = await this.#call(
      {
        case: 'sendGroupMessage',
        value: {
          groupId: init.groupId,
          ciphertext: init.ciphertext,
          recipients: init.recipients,
          distributions: init.distributions,
          refused: init.refused,
          timestamp: BigInt(init.timestamp),
        },
      },
      'sendGroupMessage',
    );
    return { queuedOnly: body.queuedOnly };
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
      );
    }
    if (response.body.case !== expected) {
      throw new ClientError('unexpected-response', `expected a ${expected} response`);
    }
    return response.body.value as BodyOf<C>;
  }
}
