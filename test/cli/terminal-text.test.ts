/**
 * terminal-text.ts: nothing a peer sends can act on the terminal — no C0 or
 * C1 control, no ESC (so no CSI/OSC sequence), no bidi override — while the
 * text stays readable (control pictures, indented continuation lines).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatDevices } from '../../src/cli/commands/devices.js';
import { groupNoticeLine } from '../../src/cli/commands/group.js';
import { noticeLine } from '../../src/cli/commands/notices.js';
import { formatMessage } from '../../src/cli/commands/receive.js';
import { describeError } from '../../src/cli/cli-error.js';
import { ClientError } from '../../src/client/core/errors.js';
import { terminalMessage, terminalText } from '../../src/cli/terminal-text.js';

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]/;

describe('terminal text', () => {
  it('turns escape sequences into inert, visible text', () => {
    assert.equal(terminalText('\u001b[2J\u001b]0;pwned\u0007'), '␛[2J␛]0;pwned␇');
    assert.equal(terminalText('a\u009b31mb'), 'a\ufffd31mb', '8-bit CSI');
    assert.equal(terminalText('x\ry\b\u007f'), 'x␍y␈␡');
  });

  it('removes bidi overrides and isolates', () => {
    assert.equal(terminalText('abc\u202edef\u2066g\u2069'), 'abc\ufffddef\ufffdg\ufffd');
  });

  it('keeps single-line fields on one line', () => {
    assert.equal(terminalText('team\nfake line\t!'), 'team␊fake line␉!');
  });

  it('keeps message newlines and tabs readable, indenting continuation lines', () => {
    assert.equal(
      terminalMessage('one\r\ntwo\n[x] bob.1: fake\tt'),
      'one\n    two\n    [x] bob.1: fake\tt',
    );
    assert.equal(terminalMessage('a\u2028b'), 'a\ufffdb');
  });

  it('leaves ordinary text, emoji and other scripts alone', () => {
    const text = 'héllo 👋 שלום 你好 — ok';
    assert.equal(terminalText(text), text);
    assert.equal(terminalMessage(text), text);
  });

  it('never lets a control character through (every code unit below U+00A0)', () => {
    let all = '';
    for (let code = 0; code < 0xa0; code++) all += String.fromCharCode(code);
    all += '\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c';
    assert.doesNotMatch(terminalText(all), CONTROL);
    const message = terminalMessage(all).replace(/[\n\t]/g, '');
    assert.doesNotMatch(message, CONTROL);
  });

  it('is applied by every human printing path, and not by --json', () => {
    const evil = 'x\u001b[2J\u001b]0;pwned\u0007\u202ey';
    const message = {
      id: new Uint8Array(16),
      chat: evil,
      sender: evil,
      senderDevice: 1,
      text: `${evil}\nline two`,
      sentAt: 0,
      receivedAt: 0,
      outgoing: true,
      receipts: {},
    };
    const lines = [
      formatMessage(message, false),
      noticeLine({ type: 'device-refused', account: evil, deviceId: 2, reason: evil }),
      noticeLine({ type: 'account-key-changed', account: evil, verified: false }),
      noticeLine({
        type: 'session-refused',
        from: evil,
        fromDevice: 2,
        timestamp: 0,
        reason: evil,
        held: true,
      }),
      groupNoticeLine({
        type: 'group-message-refused',
        groupId: evil,
        from: evil,
        fromDevice: 1,
        reason: evil,
      }),
      groupNoticeLine({ type: 'group-change-refused', groupId: evil, version: 2, code: evil }),
      formatDevices([
        {
          deviceId: 2,
          name: evil,
          primary: false,
          current: false,
          keyIndex: 1,
          linkedAt: 0,
          lastSeenAt: 0,
        },
      ]),
      describeError(new ClientError('untrusted-identity', 'x', { account: evil })),
    ];
    for (const line of lines) {
      assert.ok(line !== undefined);
      assert.ok(line.includes('pwned'), line);
      assert.doesNotMatch(line.replace(/\n/g, ''), CONTROL, JSON.stringify(line));
    }
    // --json keeps the text exactly (JSON escapes the controls itself).
    const json = JSON.parse(formatMessage(message, true)) as { text: string; from: string };
    assert.equal(json.text, message.text);
    assert.equal(json.from, evil);
  });
});
