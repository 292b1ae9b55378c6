import { describe, expect, it } from 'vitest';
import { clockOffset, formatDuration, narrowWindow, offsetWindow, parseTime, secondsUntil, spellDuration } from '../src/otp/clock';

describe('clock', () => {
  it('measures the server clock against the midpoint of the request', () => {
    const server = Date.parse('2030-01-01T12:00:00Z');
    // The client thinks it is an hour later; the call took 200 ms.
    const requestedAt = server + 3600_000 - 100;
    const receivedAt = server + 3600_000 + 100;
    expect(clockOffset('2030-01-01T12:00:00Z', requestedAt, receivedAt)).toBe(-3600_000);
  });

  it('bounds the offset by the round trip and narrows it by overlap', () => {
    const server = Date.parse('2030-01-01T12:00:00Z');
    const a = offsetWindow('2030-01-01T12:00:00Z', server - 100, server + 300)!;
    expect(a).toEqual({ low: -300, high: 100 });
    expect(narrowWindow(a, { low: -50, high: 500 })).toEqual({ low: -50, high: 100 });
    // No overlap: the newer reading wins.
    expect(narrowWindow(a, { low: 900, high: 950 })).toEqual({ low: 900, high: 950 });
    expect(offsetWindow('garbage', 0, 0)).toBeNull();
  });

  it('reads PostgreSQL timestamps with microseconds and offsets', () => {
    expect(parseTime('2026-11-25T08:15:01.898005+00:00')).toBe(Date.parse('2026-11-25T08:15:01.898Z'));
    expect(parseTime(null)).toBeNull();
    expect(parseTime('not a time')).toBeNull();
    expect(clockOffset('garbage', 0, 0)).toBe(0);
  });

  it('counts whole seconds up, never below zero', () => {
    expect(secondsUntil(10_500, 0)).toBe(11);
    expect(secondsUntil(10_000, 0)).toBe(10);
    expect(secondsUntil(1_000, 5_000)).toBe(0);
    expect(secondsUntil(null, 5_000)).toBe(0);
  });

  it('formats durations', () => {
    expect(formatDuration(0)).toBe('0:00');
    expect(formatDuration(5)).toBe('0:05');
    expect(formatDuration(75)).toBe('1:15');
    expect(formatDuration(3725)).toBe('1:02:05');
    expect(spellDuration(1)).toBe('1 second');
    expect(spellDuration(75)).toBe('1 minute 15 seconds');
    expect(spellDuration(900)).toBe('15 minutes');
    expect(spellDuration(0)).toBe('0 seconds');
  });
});
