// The current time for countdowns: re-renders the component every `intervalMs`, and reads the
// clock at each render (a render caused by new data must not show a time up to one interval old).
import { useEffect, useReducer } from 'react';

export function useNow(intervalMs = 1000, enabled = true): number {
  const [, tick] = useReducer((n: number) => n + 1, 0);
  useEffect(() => {
    if (!enabled) return;
    const id = setInterval(tick, intervalMs);
    return () => clearInterval(id);
  }, [intervalMs, enabled]);
  return Date.now();
}
