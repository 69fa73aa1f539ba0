/**
 * Scanning a link code with the camera, where the browser has the Shape
 * Detection API's `BarcodeDetector` (Chromium on Android and ChromeOS,
 * Safari). Elsewhere no button is shown and the code is pasted instead.
 * Frames are only inspected in this page; nothing leaves it.
 */
import { LINK_CODE_PREFIX } from '../../../src/sdk/browser.js';
import { h, type Child } from '../dom.js';

/** The part of `BarcodeDetector` used here (not in TypeScript's DOM library yet). */
interface BarcodeDetectorLike {
  detect(source: HTMLVideoElement): Promise<ReadonlyArray<{ readonly rawValue: string }>>;
}
type BarcodeDetectorClass = new (options: { formats: string[] }) => BarcodeDetectorLike;

/** How often a video frame is inspected, ms. */
const SCAN_INTERVAL_MS = 250;

function detectorClass(): BarcodeDetectorClass | undefined {
  const ctor: unknown = Reflect.get(globalThis, 'BarcodeDetector');
  // Checked at runtime above; the cast only names the shape we call.
  return typeof ctor === 'function' && navigator.mediaDevices !== undefined
    ? (ctor as BarcodeDetectorClass)
    : undefined;
}

/**
 * A "Scan with camera" button with its preview, or nothing when scanning is
 * not available. `onCode` gets the first Quintet link code seen.
 */
export function scanButton(
  onCode: (text: string) => void,
  onError: (error: unknown) => void,
): Child {
  const Detector = detectorClass();
  if (Detector === undefined) return null;
  const video = h('video', { class: 'scan-preview' });
  video.muted = true;
  video.playsInline = true;
  video.hidden = true;
  let stream: MediaStream | undefined;
  let timer: ReturnType<typeof setInterval> | undefined;
  const button = h('button', { type: 'button', class: 'secondary small' }, 'Scan with camera');
  const stop = (): void => {
    clearInterval(timer);
    timer = undefined;
    for (const track of stream?.getTracks() ?? []) track.stop();
    stream = undefined;
    video.hidden = true;
    button.textContent = 'Scan with camera';
  };
  const fail = (error: unknown): void => {
    stop();
    onError(error);
  };
  const start = async (): Promise<void> => {
    const detector = new Detector({ formats: ['qr_code'] });
    stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' } });
    video.srcObject = stream;
    video.hidden = false;
    button.textContent = 'Stop scanning';
    await video.play();
    timer = setInterval(() => {
      detector.detect(video).then((codes) => {
        const found = codes.find((code) => code.rawValue.startsWith(LINK_CODE_PREFIX));
        if (found === undefined) return;
        stop();
        onCode(found.rawValue);
      }, fail);
    }, SCAN_INTERVAL_MS);
  };
  button.addEventListener('click', () => {
    if (stream !== undefined) {
      stop();
      return;
    }
    start().catch(fail);
  });
  return h('div', { class: 'stack' }, button, video);
}
