/**
 * DOM helpers for the unit tests: act on rendered React views as a user would.
 * Not a test file itself (no `.spec`).
 */

export function q<T extends Element = HTMLElement>(
  root: ParentNode,
  selector: string
): T | null {
  return root.querySelector<T>(selector);
}

/**
 * Type into a React-controlled input or textarea (React listens to the native
 * value setter and the `input` event).
 */
export function type(
  element: HTMLInputElement | HTMLTextAreaElement,
  text: string
): void {
  const proto = Object.getPrototypeOf(element);
  Object.getOwnPropertyDescriptor(proto, 'value')!.set!.call(element, text);
  element.dispatchEvent(new Event('input', { bubbles: true }));
}

export function choose(select: HTMLSelectElement, value: string): void {
  select.value = value;
  select.dispatchEvent(new Event('change', { bubbles: true }));
}

export function sleep(ms: number): Promise<void> {
  return new Promise(resolve => setTimeout(resolve, ms));
}
