import '@testing-library/jest-dom/vitest';
import { cleanup } from '@testing-library/react';
import { afterEach } from 'vitest';

afterEach(() => {
  cleanup();
  sessionStorage.clear();
});

// jsdom lacks these; input-otp measures its container with them.
if (!('ResizeObserver' in globalThis)) {
  globalThis.ResizeObserver = class {
    observe() {}
    unobserve() {}
    disconnect() {}
  } as unknown as typeof ResizeObserver;
}
if (!document.elementFromPoint) {
  document.elementFromPoint = () => null;
}

// input-otp re-reads the caret position on its own timers after each keystroke, outside any
// act(); React's warning about that says nothing about this package.
const consoleError = console.error;
console.error = (...args: unknown[]) => {
  const text = typeof args[0] === 'string' ? args[0].replace('%s', String(args[1])) : '';
  if (text.includes('An update to Input inside a test was not wrapped in act')) return;
  consoleError(...args);
};
