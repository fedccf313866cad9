import { useCallback, useEffect, useRef, useState } from 'react';
import { useApi } from './api-context';
import type { RunReport } from './api-types';

export const POLL_MS = 500;

/**
 * Reads a run now and every POLL_MS while `keepPolling(report)` says so. `poke()` reads it again and resumes polling
 * (after an approve, say).
 */
export function useRun(runId: number | null, keepPolling: (r: RunReport) => boolean) {
  const api = useApi();
  const [report, setReport] = useState<RunReport | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [generation, setGeneration] = useState(0);
  const keep = useRef(keepPolling);
  keep.current = keepPolling;

  useEffect(() => {
    if (runId === null) return;
    let live = true;
    let timer: number | undefined;
    const tick = async () => {
      try {
        const r = await api.run(runId);
        if (!live) return;
        setReport(r);
        setError(null);
        if (keep.current(r)) timer = window.setTimeout(tick, POLL_MS);
      } catch (err) {
        if (!live) return;
        setError(err);
        // a passing network error should not end the progress display
        timer = window.setTimeout(tick, POLL_MS * 4);
      }
    };
    void tick();
    return () => {
      live = false;
      if (timer !== undefined) window.clearTimeout(timer);
    };
  }, [api, runId, generation]);

  const poke = useCallback(() => setGeneration((g) => g + 1), []);
  return { report, error, poke, setReport };
}

/** Closes a popup menu when the pointer goes down elsewhere or Escape is pressed. */
export function useDismiss(open: boolean, close: () => void) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!open) return;
    const onDown = (e: PointerEvent) => {
      if (ref.current && !ref.current.contains(e.target as Node)) close();
    };
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') close();
    };
    window.addEventListener('pointerdown', onDown);
    window.addEventListener('keydown', onKey);
    return () => {
      window.removeEventListener('pointerdown', onDown);
      window.removeEventListener('keydown', onKey);
    };
  }, [open, close]);
  return ref;
}
