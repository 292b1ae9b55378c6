import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { BrowserRouter } from 'react-router';
import { App } from './App';
import '../otp/otp.css';
import './demo.css';

const apiUrl = import.meta.env.VITE_API_URL || 'http://127.0.0.1:3000';
const inboxUrl = import.meta.env.VITE_INBOX_URL || undefined;

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <BrowserRouter>
      <App apiUrl={apiUrl} inboxUrl={inboxUrl} />
    </BrowserRouter>
  </StrictMode>,
);
