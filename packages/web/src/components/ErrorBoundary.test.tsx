import { render, screen } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';

import { ErrorBoundary } from './ErrorBoundary';

function Broken(): never {
  throw new Error('the chart fell over');
}

describe('ErrorBoundary', () => {
  it('shows "Something went wrong" and the message instead of a blank screen', () => {
    // React reports the caught error on the console; keep the test output clean.
    const quiet = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      render(
        <ErrorBoundary>
          <Broken />
        </ErrorBoundary>,
      );
    } finally {
      quiet.mockRestore();
    }
    expect(screen.getByRole('heading', { level: 1, name: 'Something went wrong' })).toBeDefined();
    expect(screen.getByRole('alert').textContent).toBe('the chart fell over');
  });
});
