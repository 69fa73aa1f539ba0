/**
 * A tiny element builder. User content (names, message text) only ever goes
 * in through `textContent`, never `innerHTML`, so a message cannot inject
 * markup or script into the page that holds the keys.
 */

/** Attributes and listeners `h` understands. */
export interface Props {
  readonly class?: string;
  readonly id?: string;
  readonly type?: string;
  readonly placeholder?: string;
  readonly value?: string;
  readonly title?: string;
  readonly autocomplete?: string;
  readonly disabled?: boolean;
  readonly required?: boolean;
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly role?: string;
  /** `data-testid`: stable hooks for the browser tests. */
  readonly testid?: string;
  readonly ariaLabel?: string;
  readonly ariaLive?: 'polite' | 'assertive';
  readonly onclick?: (event: MouseEvent) => void;
  readonly onsubmit?: (event: SubmitEvent) => void;
  readonly oninput?: (event: Event) => void;
}

/** A child: a node, text, or nothing (skipped). */
export type Child = Node | string | false | null | undefined;

/** Creates an element with `props` and `children`. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Props = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (props.class !== undefined) el.className = props.class;
  if (props.id !== undefined) el.id = props.id;
  if (props.title !== undefined) el.title = props.title;
  if (props.role !== undefined) el.setAttribute('role', props.role);
  if (props.testid !== undefined) el.dataset['testid'] = props.testid;
  if (props.ariaLabel !== undefined) el.setAttribute('aria-label', props.ariaLabel);
  if (props.ariaLive !== undefined) el.setAttribute('aria-live', props.ariaLive);
  if (el instanceof HTMLInputElement || el instanceof HTMLButtonElement) {
    if (props.type !== undefined) el.type = props.type;
    if (props.disabled !== undefined) el.disabled = props.disabled;
  }
  if (el instanceof HTMLInputElement) {
    if (props.placeholder !== undefined) el.placeholder = props.placeholder;
    if (props.value !== undefined) el.value = props.value;
    if (props.autocomplete !== undefined) el.autocomplete = props.autocomplete as AutoFill;
    if (props.required !== undefined) el.required = props.required;
    if (props.minLength !== undefined) el.minLength = props.minLength;
    if (props.maxLength !== undefined) el.maxLength = props.maxLength;
  }
  // Widened to HTMLElement: the tag union defeats addEventListener's overloads.
  const target: HTMLElement = el;
  if (props.onclick !== undefined) target.addEventListener('click', props.onclick);
  if (props.onsubmit !== undefined) target.addEventListener('submit', props.onsubmit);
  if (props.oninput !== undefined) target.addEventListener('input', props.oninput);
  append(el, children);
  return el;
}

/** Appends children, skipping empty ones; strings become text nodes. */
export function append(parent: Node, children: readonly Child[]): void {
  for (const child of children) {
    if (child === false || child === null || child === undefined) continue;
    parent.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
  }
}

/** Replaces everything inside `parent` with `children`. */
export function replaceChildren(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, children);
}

/** A form field's current value; empty when the field is missing. */
export function fieldValue(form: HTMLFormElement, name: string): string {
  const field = form.elements.namedItem(name);
  return field instanceof HTMLInputElement ? field.value : '';
}
