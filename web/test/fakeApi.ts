// An OtpApi whose answers each test scripts, built from the same bodies the server sends.
import { vi } from 'vitest';
import type { ApiResult, OtpApi, SendBody, StatusBody, VerifyBody } from '../src/otp/api';
import { classifyError } from '../src/otp/errors';

export function ok<T>(data: T, status = 200): ApiResult<T> {
  const now = Date.now();
  return { ok: true, status, data, requestedAt: now, receivedAt: now };
}

export function fail<T>(status: number, body: unknown): ApiResult<T> {
  const now = Date.now();
  return { ok: false, status, error: classifyError(status, body), requestedAt: now, receivedAt: now };
}

/** Server time T as ISO plus n seconds. */
export function at(base: number, seconds = 0): string {
  return new Date(base + seconds * 1000).toISOString();
}

export function statusBody(server: number, overrides: Partial<StatusBody> = {}): StatusBody {
  return {
    otp_required: true,
    verified: false,
    phone_hint: '+14•••••••01',
    session: null,
    next_send_at: at(server),
    server_time: at(server),
    ...overrides,
  };
}

export function sendBody(server: number, { ttl = 300, cooldown = 30, attempts = 5 } = {}): SendBody {
  return {
    session_id: 'aaaaaaaa-0000-4000-8000-000000000001',
    expires_at: at(server, ttl),
    resend_available_at: at(server, cooldown),
    attempts_remaining: attempts,
    server_time: at(server, 0),
  };
}

export interface FakeApi extends OtpApi {
  status: ReturnType<typeof vi.fn<OtpApi['status']>>;
  send: ReturnType<typeof vi.fn<OtpApi['send']>>;
  verify: ReturnType<typeof vi.fn<OtpApi['verify']>>;
}

/**
 * status answers `status` every time unless a test says otherwise; send and verify answer
 * what each test queues with mockResolvedValueOnce.
 */
export function fakeApi(status: () => StatusBody): FakeApi {
  return {
    status: vi.fn<OtpApi['status']>(async () => ok(status())),
    send: vi.fn<OtpApi['send']>(async () => fail<SendBody>(500, { message: 'unexpected send' })),
    verify: vi.fn<OtpApi['verify']>(async () => fail<VerifyBody>(500, { message: 'unexpected verify' })),
  };
}
