import { Component } from 'react';
import type { ErrorInfo, ReactNode } from 'react';

interface State {
  error: Error | undefined;
}

/** Never a blank screen: a render error shows its message instead of unmounting the app. */
export class ErrorBoundary extends Component<{ children: ReactNode }, State> {
  override state: State = { error: undefined };

  static getDerivedStateFromError(error: unknown): State {
    return { error: error instanceof Error ? error : new Error(String(error)) };
  }

  override componentDidCatch(_error: Error, _info: ErrorInfo): void {
    // React already reports the error to the console; the UI is the only other place it goes.
  }

  override render(): ReactNode {
    if (this.state.error === undefined) {
      return this.props.children;
    }
    return (
      <main className="page">
        <h1>Something went wrong</h1>
        <p role="alert" className="error">
          {this.state.error.message}
        </p>
        <p>
          <a href="/experiments">Back to the experiments</a>
        </p>
      </main>
    );
  }
}
