/// <reference types="vite/client" />

interface ImportMetaEnv {
  /** PostgREST's base URL (default http://127.0.0.1:3000). */
  readonly VITE_API_URL?: string;
  /** The mock SMS provider's inbox page, linked from the overlay. */
  readonly VITE_INBOX_URL?: string;
}
