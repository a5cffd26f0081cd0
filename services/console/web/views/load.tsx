/** Loading an API answer into a view, and showing its failure. */
import { useCallback, useEffect, useState } from 'preact/hooks';

import { ApiError } from '../api.js';

/** How often the views read their APIs again, so what they show stays current. */
export const REFRESH_MS = 5000;

/** An answer being loaded: its data or its error, and a way to load it again. */
export interface Loaded<T> {
  readonly data?: T;
  readonly error?: ApiError | Error;
  readonly loading: boolean;
  readonly reload: () => void;
}

/** Loads `fn()` now, on `reload()` and, with `everyMs`, again every so often. */
export function useLoad<T>(
  fn: () => Promise<T>,
  deps: readonly unknown[],
  everyMs?: number,
): Loaded<T> {
  const [state, setState] = useState<{ data?: T; error?: Error; loading: boolean }>({
    loading: true,
  });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    fn().then(
      (data) => live && setState({ data, loading: false }),
      (error: Error) => live && setState({ error, loading: false }),
    );
    return () => {
      live = false;
    };
  }, [...deps, tick]);
  useEffect(() => {
    if (!everyMs) return undefined;
    const timer = setInterval(() => setTick((t) => t + 1), everyMs);
    return () => clearInterval(timer);
  }, [everyMs]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { ...state, reload };
}

/** An API's refusal or failure, with its code and fix. */
export function Failure({ error, what }: { error: Error; what: string }) {
  const e = error instanceof ApiError ? error : undefined;
  return (
    <div class="error" role="alert">
      <p>
        Could not load {what}: {error.message}
        {e?.status ? ` (HTTP ${e.status}${e.code ? `, ${e.code}` : ''})` : ''}
      </p>
      {e?.fix && <p>What to do: {e.fix}</p>}
    </div>
  );
}

/** The loading line of a view. */
export function Loading({ what }: { what: string }) {
  return (
    <p class="loading" role="status">
      Loading {what}…
    </p>
  );
}

/** A timestamp as the user's locale shows it, with the ISO form for machines. */
export function Time({ at }: { at?: string | undefined }) {
  if (!at) return <span class="none">–</span>;
  return <time dateTime={at}>{new Date(at).toLocaleString('en-GB', { timeZone: 'UTC' })} UTC</time>;
}

/** An API's refusal for people: its message, the field errors and what to do. */
export function describe(err: unknown): string {
  if (!(err instanceof ApiError)) return (err as Error).message;
  const fields = err.errors.map((e) => `${e.field}: ${e.message}`).join('; ');
  return `${err.message}${fields ? ` (${fields})` : ''} (HTTP ${err.status}${err.code ? `, ${err.code}` : ''})${err.fix ? `. What to do: ${err.fix}` : ''}`;
}
