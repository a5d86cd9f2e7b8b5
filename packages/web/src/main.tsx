import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { BrowserRouter } from 'react-router';

import { App } from './App';
import { createBrowserClient, createQueryClient } from './api';
import './styles.css';

const root = document.getElementById('root');
if (root === null) {
  throw new Error('index.html has no #root');
}
createRoot(root).render(
  <StrictMode>
    <BrowserRouter>
      <App client={createBrowserClient()} queryClient={createQueryClient()} />
    </BrowserRouter>
  </StrictMode>,
);
