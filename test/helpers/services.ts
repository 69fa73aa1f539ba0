/**
 * The machine's PostgreSQL and NATS, for the suites that need them.
 *
 * A suite asks `serviceSkip('postgres')` before it registers its tests: when
 * the service answers, it gets undefined and runs; when it does not, it gets
 * a sentence saying what was tried, and passes it to `describe(…, { skip })`
 * so the run says plainly which suites it skipped and why. With
 * `QUINTET_REQUIRE_SERVICES=1` (set by `.ci/run`) a missing service is a
 * failure instead: CI must never pass by skipping.
 */
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import pg from 'pg';

/** The services tests may use. */
export type TestService = 'postgres' | 'nats';

/** PostgreSQL the tests use (trust auth, database `test`). */
export const TEST_DATABASE_URL =
  process.env.QUINTET_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
/** NATS the tests use. */
export const TEST_BUS_URL = process.env.QUINTET_TEST_BUS_URL ?? 'nats://127.0.0.1:4222';

const required = process.env.QUINTET_REQUIRE_SERVICES === '1';
const probes = new Map<TestService, Promise<string | undefined>>();

async function probePostgres(): Promise<string | undefined> {
  const client = new pg.Client({
    connectionString: TEST_DATABASE_URL,
    connectionTimeoutMillis: 3000,
  });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return undefined;
  } catch (error) {
    return `PostgreSQL at ${redact(TEST_DATABASE_URL)} did not answer (${describeError(error)})`;
  } finally {
    await client.end().catch(() => undefined);
  }
}

function probeNats(): Promise<string | undefined> {
  const url = new URL(TEST_BUS_URL);
  return new Promise((resolve) => {
    const socket = connect({ host: url.hostname, port: Number(url.port || 4222) });
    const done = (reason: string | undefined): void => {
      socket.destroy();
      resolve(reason);
    };
    socket.setTimeout(3000, () => done(`NATS at ${TEST_BUS_URL} did not answer within 3 s`));
    socket.once('error', (error) =>
      done(`NATS at ${TEST_BUS_URL} is not reachable (${describeError(error)})`),
    );
    // A NATS server greets every connection with an INFO line.
    socket.once('data', (data) =>
      done(
        data.toString('latin1').startsWith('INFO ')
          ? undefined
          : `${TEST_BUS_URL} is not a NATS server`,
      ),
    );
  });
}

function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function redact(url: string): string {
  const parsed = new URL(url);
  if (parsed.password !== '') parsed.password = '***';
  return parsed.toString();
}

/**
 * Undefined when `service` answers; otherwise why not, for `describe`'s
 * `skip` option. Throws under `QUINTET_REQUIRE_SERVICES=1`.
 */
export async function serviceSkip(...services: TestService[]): Promise<string | undefined> {
  for (const service of services) {
    let probe = probes.get(service);
    if (probe === undefined) {
      probe = service === 'postgres' ? probePostgres() : probeNats();
      probes.set(service, probe);
    }
    const reason = await probe;
    if (reason === undefined) continue;
    if (required) throw new Error(`QUINTET_REQUIRE_SERVICES=1 but ${reason}`);
    return `skipped: ${reason}; set QUINTET_REQUIRE_SERVICES=1 to make this a failure`;
  }
  return undefined;
}

/** A schema of its own for one test, dropped by `drop()`. */
export interface TestSchema {
  /** The schema's name (lower-case letters, digits, underscores). */
  readonly name: string;
  /** `TEST_DATABASE_URL` (pass `name` as the store's schema). */
  readonly url: string;
  drop(): Promise<void>;
}

/** Creates an empty schema with a unique name. */
export async function createTestSchema(label = 't'): Promise<TestSchema> {
  const safe = label
    .toLowerCase()
    .replace(/[^a-z0-9_]/g, '_')
    .slice(0, 20);
  const name = `q_${safe}_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE SCHEMA "${name}"`);
  } finally {
    await admin.end();
  }
  return {
    name,
    url: TEST_DATABASE_URL,
    drop: async () => {
      const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
      await client.connect();
      try {
        await client.query(`DROP SCHEMA IF EXISTS "${name}" CASCADE`);
      } finally {
        await client.end();
      }
    },
  };
}
