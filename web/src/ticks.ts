/**
 * Delivery state of an outgoing message for its ticks: one tick once the
 * server took it, two when a device of the recipient stored it, two blue
 * when one of them showed it. One read device is enough — it is the same
 * person — while "delivered" likewise needs only one device.
 */
import type { StoredMessage } from '../../src/sdk/browser.js';

/** What the ticks show. */
export type TickState = 'sent' | 'delivered' | 'read';

/** The tick state of an outgoing message from its per-device receipts. */
export function tickState(message: StoredMessage): TickState {
  const states = Object.values(message.receipts);
  if (states.includes('read')) return 'read';
  if (states.includes('delivered')) return 'delivered';
  return 'sent';
}

/** The glyphs and accessible label of a state. */
export function tickGlyph(state: TickState): { text: string; label: string } {
  switch (state) {
    case 'sent':
      return { text: '✓', label: 'Sent' };
    case 'delivered':
      return { text: '✓✓', label: 'Delivered' };
    case 'read':
      return { text: '✓✓', label: 'Read' };
  }
}
