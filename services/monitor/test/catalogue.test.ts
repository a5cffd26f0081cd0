/**
 * The monitor's own events against what docs/events.md says of them. The document is generated
 * from the catalogue (platform/events.ts), but the monitor builds its events in its own code
 * (src/events.ts): a pair or a data field changed in the catalogue changes the document and
 * nothing the monitor sends. Here each liveness event is built as the monitor builds it and
 * held to its catalogue entry: its type, the type that resolves it, and exactly its data.
 */
import { describe, expect, it } from '@jest/globals';

import type { EventKey } from '../../../platform/events.js';
import { EVENT_CATALOGUE, eventTypeOf } from '../../../platform/events.js';
import { livenessEvent } from '../src/events.js';
import type { TargetKind } from '../src/liveness.js';

const T0 = Date.parse('2026-12-02T10:00:00Z');
/** Always in `data`, before the fields of the type (docs/events.md). */
const ALWAYS = ['tenant', 'kind', 'id'];
const entry = (key: string) =>
  EVENT_CATALOGUE[key as EventKey] as { resolvedBy?: EventKey; data: readonly string[] };

describe.each(['device', 'agent'] as const)('the %s liveness events', (kind: TargetKind) => {
  const target = { tenant: 'manufracture', kind, id: 'press-1', intervalSeconds: 60 };
  const offline = livenessEvent(target, { type: 'offline', since: T0, lastSeen: T0 - 1 });
  const recovered = livenessEvent(target, {
    type: 'recovered',
    since: T0 + 60_000,
    offlineSince: T0,
    resolves: offline.id,
  });
  const offlineKey = `monitor.${kind}.offline`;

  it('are the catalogue pair: the offline event is resolved by the type the monitor sends next', () => {
    expect(offline.type).toBe(eventTypeOf(offlineKey as EventKey));
    expect(entry(offlineKey).resolvedBy).toBeDefined();
    expect(recovered.type).toBe(eventTypeOf(entry(offlineKey).resolvedBy!));
    expect(recovered.data.resolves).toBe(offline.id);
  });

  it('carry the data the catalogue lists (the agent fields come from the agent, not from here)', () => {
    const own = (key: string) =>
      [
        ...ALWAYS,
        ...entry(key).data.filter((d) => !['agent', 'host', 'revision'].includes(d)),
      ].sort();
    expect(Object.keys(offline.data).sort()).toEqual(own(offlineKey));
    expect(Object.keys(recovered.data).sort()).toEqual(own(entry(offlineKey).resolvedBy!));
  });
});
