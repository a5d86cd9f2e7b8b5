import { QueryClientProvider } from '@tanstack/react-query';
import type { QueryClient } from '@tanstack/react-query';
import { Navigate, Route, Routes } from 'react-router';

import type { Client } from '@determined-ts/sdk/client';

import { ClientProvider } from './client-context';
import { ErrorBoundary } from './components/ErrorBoundary';
import { Layout } from './components/Layout';
import { experimentsPath } from './lib/paths';
import { CheckpointPage } from './pages/CheckpointPage';
import { ExperimentPage } from './pages/ExperimentPage';
import { ExperimentsPage } from './pages/ExperimentsPage';
import { LoginPage } from './pages/LoginPage';
import { ModelPage } from './pages/ModelPage';
import { ModelsPage } from './pages/ModelsPage';
import { NotFoundPage } from './pages/NotFoundPage';
import { TrialPage } from './pages/TrialPage';
import { RequireSession } from './session/RequireSession';

/** The app under a router of the caller's choice (the browser's, or a memory one in tests). */
export function App({ client, queryClient }: { client: Client; queryClient: QueryClient }) {
  return (
    <ErrorBoundary>
      <ClientProvider client={client}>
        <QueryClientProvider client={queryClient}>
          <Routes>
            <Route path="/login" element={<LoginPage />} />
            <Route
              element={
                <RequireSession>
                  <Layout />
                </RequireSession>
              }
            >
              <Route index element={<Navigate to={experimentsPath} replace />} />
              <Route path="experiments" element={<ExperimentsPage />} />
              <Route path="experiments/:experimentId" element={<ExperimentPage />} />
              <Route path="trials/:trialId" element={<TrialPage />} />
              <Route path="trials/:trialId/checkpoints/:uuid" element={<CheckpointPage />} />
              <Route path="models" element={<ModelsPage />} />
              <Route path="models/:name" element={<ModelPage />} />
              <Route path="*" element={<NotFoundPage />} />
            </Route>
          </Routes>
        </QueryClientProvider>
      </ClientProvider>
    </ErrorBoundary>
  );
}
