/**
 * Request timeouts run on the injected scheduler (the client core does not
 * call the platform timer itself), so a host or test with its own clock
 * decides when a request times out.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ClientError } from '../../src/client/core/errors.js';
import { FrameChannel } from '../../src/client/core/frame-channel.js';
import type { Scheduler } from '../../src/client/core/scheduler.js';
import { decodeFrame, encodeFrame, frameRequest, responseFrame } from '../../src/wire/frame.js';

interface FakeTimer {
  readonly ms: number;
  readonly fire: () => void;
  cancelled: boolean;
}

describe('frame channel', () => {
  it('times requests out on the injected scheduler, and cancels the timer on an answer', async () => {
    const timers: FakeTimer[] = [];
    const schedule: Scheduler = (ms, fire) => {
      const timer: FakeTimer = { ms, fire, cancelled: false };
      timers.push(timer);
      return () => {
        timer.cancelled = true;
      };
    };
    const sent: Uint8Array[] = [];
    const channel = new FrameChannel((bytes) => sent.push(bytes), 3_600_000, schedule);

    const unanswered = channel.request({ case: 'preKeyStatus', value: {} });
    assert.equal(timers.length, 1, 'the timeout is on the injected scheduler');
    assert.equal(timers[0]?.ms, 3_600_000);
    timers[0]?.fire();
    await assert.rejects(unanswered, (error: unknown) => ClientError.is(error, 'timeout'));

    const answered = channel.request({ case: 'preKeyStatus', value: {} });
    const request = frameRequest(decodeFrame(sent[1] ?? new Uint8Array(0)));
    assert.ok(request !== undefined);
    channel.receive(
      encodeFrame(
        responseFrame(request.id, {
          case: 'preKeyStatus',
          value: { preKeysRemaining: 5, preKeyThreshold: 1 },
        }),
      ),
    );
    const response = await answered;
    assert.equal(response.body.case, 'preKeyStatus');
    assert.equal(timers[1]?.cancelled, true, 'the answered request no longer has a timer');
    // A late timer for an answered request changes nothing.
    timers[1]?.fire();
    channel.close();
  });
});
