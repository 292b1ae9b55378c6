// A modal dialog's two duties: the rest of the page is inert (no clicks, no focus, hidden
// from assistive technology), and Tab cycles inside the dialog. Focus returns to where it
// was when the dialog goes away.
import { useEffect, type RefObject } from 'react';

const FOCUSABLE = [
  'a[href]',
  'button:not([disabled])',
  'input:not([disabled]):not([type="hidden"])',
  'select:not([disabled])',
  'textarea:not([disabled])',
  '[tabindex]:not([tabindex="-1"])',
].join(',');

export function focusableIn(root: HTMLElement): HTMLElement[] {
  return Array.from(root.querySelectorAll<HTMLElement>(FOCUSABLE)).filter(
    (el) => !el.closest('[inert]') && el.getAttribute('aria-hidden') !== 'true' && el.tabIndex >= 0,
  );
}

/**
 * Makes every other child of <body> inert while the dialog is open. `host` is the element
 * the dialog is portalled into (a direct child of <body>).
 */
export function useInertOutside(host: HTMLElement | null): void {
  useEffect(() => {
    if (!host) return;
    const changed: HTMLElement[] = [];
    for (const el of Array.from(document.body.children)) {
      if (el === host || !(el instanceof HTMLElement) || el.hasAttribute('inert')) continue;
      if (el.tagName === 'SCRIPT' || el.tagName === 'STYLE') continue;
      el.setAttribute('inert', '');
      el.setAttribute('aria-hidden', 'true');
      changed.push(el);
    }
    return () => {
      for (const el of changed) {
        el.removeAttribute('inert');
        el.removeAttribute('aria-hidden');
      }
    };
  }, [host]);
}

/** Keeps Tab and Shift+Tab inside `dialog`, and pulls stray focus back into it. */
export function useFocusTrap(dialog: RefObject<HTMLElement | null>, active: boolean): void {
  useEffect(() => {
    const root = dialog.current;
    if (!active || !root) return;
    const before = document.activeElement as HTMLElement | null;

    const onKeyDown = (event: KeyboardEvent) => {
      if (event.key !== 'Tab') return;
      const items = focusableIn(root);
      if (items.length === 0) {
        event.preventDefault();
        root.focus();
        return;
      }
      const first = items[0];
      const last = items[items.length - 1];
      const current = document.activeElement;
      if (event.shiftKey && (current === first || !root.contains(current))) {
        event.preventDefault();
        last.focus();
      } else if (!event.shiftKey && (current === last || !root.contains(current))) {
        event.preventDefault();
        first.focus();
      }
    };
    const onFocusIn = (event: FocusEvent) => {
      if (event.target instanceof Node && !root.contains(event.target)) {
        (focusableIn(root)[0] ?? root).focus();
      }
    };
    document.addEventListener('keydown', onKeyDown, true);
    document.addEventListener('focusin', onFocusIn);
    if (!root.contains(document.activeElement)) (focusableIn(root)[0] ?? root).focus();
    return () => {
      document.removeEventListener('keydown', onKeyDown, true);
      document.removeEventListener('focusin', onFocusIn);
      if (before && before.isConnected && typeof before.focus === 'function') before.focus();
    };
  }, [dialog, active]);
}
