/**
 * The tenant's events journal (the monitor's, newest first), filtered by type and subject.
 * A platform without the journal (the monitor answers 404) has no events to show.
 */
import { useState } from 'preact/hooks';

import { ApiError } from '../api.js';
import type { ViewProps } from '../app.js';
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
        <table>
          <caption>Events of {tenant}, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Time</th>
              <th scope="col">Type</th>
              <th scope="col">Subject</th>
            </tr>
          </thead>
          <tbody>
            {events.data.map((e) => (
              <tr key={e.id}>
                <td>
                  <Time at={e.time} />
                </td>
                <td>{e.type}</td>
                <td>{e.subject ?? '–'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}
