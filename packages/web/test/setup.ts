// Setup for the web component tests (jsdom).
import { cleanup } from '@testing-library/react';
import { afterEach } from 'vitest';

// Testing Library unmounts after each test only when vitest runs with globals; we do not.
afterEach(() => {
  cleanup();
  window.sessionStorage.clear();
});

/** An object whose every method is a no-op: enough canvas for uPlot to "draw" onto nothing. */
function inert<T extends object>(base: T): T {
  return new Proxy(base, {
    get: (target, key) => (key in target ? target[key as keyof T] : () => undefined),
    set: (target, key, value) => Reflect.set(target, key, value),
  });
}

// jsdom has no canvas, Path2D or matchMedia; uPlot needs them to lay out its chart. The layout
// (scales, the plotting box, valToPos) is real; only the pixels are not drawn.
Object.defineProperty(HTMLCanvasElement.prototype, 'getContext', {
  value: function getContext(this: HTMLCanvasElement) {
    return inert({
      canvas: this,
      measureText: () => ({ width: 8, actualBoundingBoxAscent: 8, actualBoundingBoxDescent: 2 }),
    });
  },
});

class InertPath2D {
  constructor() {
    return inert(this);
  }
}
globalThis.Path2D ??= InertPath2D as unknown as typeof Path2D;

if (typeof window.matchMedia !== 'function') {
  Object.defineProperty(window, 'matchMedia', {
    configurable: true,
    value: (query: string) => inert({ matches: false, media: query, onchange: null }),
  });
}
