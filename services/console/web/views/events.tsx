/**
 * The tenant's events journal (the monitor's, newest first), filtered by type and subject.
 * A platform without the journal (the monitor answers 404) has no events to show.
 */
import { useState } from 'preact/hooks';

import type { JournalEvent } from '../api.js';
import { ApiError } from '../api.js';
import type { ViewProps } from './props.js';
import { Failure, Loading, REFRESH_MS, Time, useLoad } from './load.js';

export function EventsView({ api, tenant }: ViewProps) {
  const [filter, setFilter] = useState({ type: '', subject: '' });
  const events = useLoad(
    async () => {
      if (!api.has('monitor')) return [];
      try {
        return (await api.events(tenant, filter.type, filter.subject)).events ?? [];
      } catch (err) {
        if (err instanceof ApiError && err.status === 404) return [];
        throw err;
      }
    },
    [tenant, filter.type, filter.subject],
    REFRESH_MS,
  );

  return (
    <>
      <form
        class="filters"
        onSubmit={(e) => {
          e.preventDefault();
          const f = new FormData(e.currentTarget as HTMLFormElement);
          setFilter({ type: String(f.get('type') ?? ''), subject: String(f.get('subject') ?? '') });
        }}
      >
        <label>
          Type{' '}
          <input
            name="type"
            defaultValue={filter.type}
            placeholder="eu.kitt4sme.monitor.device.offline"
          />
        </label>
        <label>
          Subject <input name="subject" defaultValue={filter.subject} placeholder="devices/foo" />
        </label>
        <button type="submit">Filter</button>
      </form>
      {events.error ? (
        <Failure error={events.error} what="the events" />
      ) : !events.data ? (
        <Loading what="the events" />
      ) : events.data.length === 0 ? (
        <p>No events.</p>
      ) : (
        <EventsTable events={events.data} caption={`Events of ${tenant}, newest first`} />
      )}
    </>
  );
}

/**
 * Events of the journal as a table: when, the type (without `strip`, a prefix every row
 * shares), the subject and what the event says in a few words.
 */
export function EventsTable(props: {
  events: readonly JournalEvent[];
  caption: string;
  strip?: string;
  testId?: string;
}) {
  return (
    <table data-testid={props.testId}>
      <caption>{props.caption}</caption>
      <thead>
        <tr>
          <th scope="col">Time</th>
          <th scope="col">Type</th>
          <th scope="col">Subject</th>
          <th scope="col">Details</th>
        </tr>
      </thead>
      <tbody>
        {props.events.map((e) => (
          <tr key={e.id}>
            <td>
              <Time at={e.time} />
            </td>
            <td>
              {props.strip && e.type.startsWith(props.strip)
                ? e.type.slice(props.strip.length)
                : e.type}
            </td>
            <td>{e.subject ?? '–'}</td>
            <td>{summary(e)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** What an event says, in a few words: its wave, hosts, state, reason and who. */
function summary(e: JournalEvent): string {
  const d = e.data ?? {};
  const parts: string[] = [];
  if (typeof d['wave'] === 'number')
    parts.push(`wave ${d['wave']}${typeof d['waves'] === 'number' ? ` of ${d['waves']}` : ''}`);
  if (Array.isArray(d['hosts']) && d['hosts'].length > 0) parts.push(d['hosts'].join(', '));
  if (typeof d['state'] === 'string') parts.push(d['state']);
  if (typeof d['reason'] === 'string') parts.push(d['reason']);
  if (typeof d['by'] === 'string') parts.push(`by ${d['by']}`);
  return parts.join('; ') || '–';
}
