// Renders the package as an application would: provider, guarded route, overlay.
import { render } from '@testing-library/react';
import { vi } from 'vitest';
import { OtpProvider, ProtectedRoute } from '../src/otp';
import type { OtpApi } from '../src/otp/api';

export function renderOtp(
  api: OtpApi | undefined,
  { token = 'token', codeLength = 6, deliveryPollMs = 600_000, receiptPollMs = 600_000 } = {},
) {
  const onSignOut = vi.fn();
  const view = render(
    <OtpProvider
      apiUrl="http://api.test"
      token={token}
      api={api}
      onSignOut={onSignOut}
      codeLength={codeLength}
      deliveryPollMs={deliveryPollMs}
      receiptPollMs={receiptPollMs}
    >
      <ProtectedRoute
        unauthenticated={<p>Please sign in</p>}
        loading={<p>Loading…</p>}
        placeholder={<button type="button">Behind the overlay</button>}
      >
        <p>Secret page</p>
      </ProtectedRoute>
    </OtpProvider>,
  );
  return { ...view, onSignOut };
}
