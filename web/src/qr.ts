/**
 * Drawing a link code as a QR code on a canvas (the `qrcode` package's
 * browser build). Medium error correction keeps the ~130-character code
 * scannable from a laptop screen at a modest size.
 */
import QRCode from 'qrcode';

/** Draws `text` into `canvas` at `size` CSS pixels. */
export async function drawQrCode(
  canvas: HTMLCanvasElement,
  text: string,
  size: number,
): Promise<void> {
  await QRCode.toCanvas(canvas, text, { errorCorrectionLevel: 'M', margin: 2, width: size });
}
