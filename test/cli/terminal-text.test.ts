/**
 * terminal-text.ts: nothing a peer sends can act on the terminal — no C0 or
 * C1 control, no ESC (so no CSI/OSC sequence), no bidi override — while the
 * text stays readable (control pictures, indented continuation lines).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
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
});
