/**
 * Option parsers and the request-limit options of `quintet server`
 * (server-command.ts assembles the command): prekey bundle rates, request
 * limits that had fixed defaults, and ephemeral sends.
 */
import { InvalidArgumentError, type Command } from 'commander';

export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1)
    throw new InvalidArgumentError('must be a positive integer');
  return n;
}

export function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new InvalidArgumentError('must be a non-negative integer');
  }
  return n;
}

export function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('must be a positive number');
  return n;
}

// Prekey bundles: per-requester and per-target limits.
export function addBundleOptions(command: Command): void {
  command
    .option(
      '--bundle-rate-burst <n>',
      'bundle fetches per device, burst (default 100)',
      positiveInt,
    )
    .option(
      '--bundle-rate-per-second <n>',
      'bundle fetches per device, refill per second (default 2)',
      positiveNumber,
    )
    .option(
      '--bundle-target-burst <n>',
      'one-time prekey hand-outs per target account, burst (default 50)',
      positiveInt,
    )
    .option(
      '--bundle-target-per-second <n>',
      'one-time prekey hand-outs per target account, refill per second (default 0.05)',
      positiveNumber,
    );
}

// Request limits that had fixed defaults: prekeys, acks, frames, challenges, backlog, links.
export function addRequestLimitOptions(command: Command): void {
  command
    .option(
      '--max-pre-keys-per-upload <n>',
      'one-time prekeys in one upload (default 100)',
      positiveInt,
    )
    .option(
      '--max-pre-keys-stored <n>',
      'one-time prekeys kept per device (default 200)',
      positiveInt,
    )
    .option(
      '--max-kem-pre-keys-per-upload <n>',
      'one-time KEM (post-quantum) prekeys in one upload (default 100)',
      positiveInt,
    )
    .option(
      '--max-kem-pre-keys-stored <n>',
      'one-time KEM (post-quantum) prekeys kept per device (default 200)',
      positiveInt,
    )
    .option(
      '--pre-key-low-threshold <n>',
      'tell a device to upload prekeys below this many (default 10)',
      nonNegativeInt,
    )
    .option('--max-acks-per-request <n>', 'envelope guids in one ack (default 1024)', positiveInt)
    .option(
      '--max-malformed-frames <n>',
      'unparseable frames tolerated before closing with 4002 (default 3)',
      positiveInt,
    )
    .option(
      '--max-challenges-per-connection <n>',
      'unused login challenges one connection may hold (default 4)',
      positiveInt,
    )
    .option(
      '--backlog-page-size <n>',
      'envelopes read from the store per page when draining a queue (default 100)',
      positiveInt,
    )
    .option(
      '--link-ref-ttl-seconds <s>',
      'lifetime of a link reference shown in a QR code (default 60)',
      positiveNumber,
    )
    .option(
      '--link-complete-ttl-seconds <s>',
      'time a companion has to complete an approved link (default 300)',
      positiveNumber,
    );
}

// Ephemeral sends (typing indicators): size and per-device rate.
export function addEphemeralOptions(command: Command): void {
  command
    .option(
      '--max-ephemeral-bytes <n>',
      'content bytes of one ephemeral envelope, e.g. a typing indicator (default 4096)',
      positiveInt,
    )
    .option(
      '--ephemeral-rate-burst <n>',
      'ephemeral sends per device, burst (default 20)',
      positiveInt,
    )
    .option(
      '--ephemeral-rate-per-second <n>',
      'ephemeral sends per device, refill per second (default 2)',
      positiveNumber,
    );
}
