/**
 * The monitor API's request model (zod): what the API validates and the OpenAPI document shows.
 */
import { z } from 'zod';

import { EVENT_TYPES } from '../../../platform/events.js';

/** A glob over target ids: visible characters of an id, plus `*` and `?`. */
const ID_PATTERN = /^[A-Za-z0-9_.:*?-]{1,256}$/;

/** A subscription request. */
export const SubscriptionBody = z.strictObject({
  url: z.url({ protocol: /^https?$/, error: 'an http(s) URL the events are POSTed to' }).max(2048),
  types: z
    .array(
      z.enum(EVENT_TYPES as [string, ...string[]], {
        error: `a type of the catalogue (docs/events.md): one of ${EVENT_TYPES.join(', ')}`,
      }),
    )
    .max(EVENT_TYPES.length)
    .default([]),
  id_pattern: z
    .string()
    .regex(ID_PATTERN, {
      error:
        'a glob over the id part of the subjects (`<kind>s/<id>`: device ids, agent instance names, rollout and alert ids): letters, digits, _ . : - and the wildcards * and ?',
    })
    .default('*'),
});

/** The query of GET /v1/events (the journal): filters, newest first, at most `limit`. */
export const EventsQuery = z.strictObject({
  type: z
    .enum(EVENT_TYPES as [string, ...string[]], {
      error: `a type of the catalogue (docs/events.md): one of ${EVENT_TYPES.join(', ')}`,
    })
    .optional()
    .describe('Only events of this type'),
  subject: z
    .string()
    .regex(/^[A-Za-z0-9_.:*?/-]{1,512}$/, {
      error: 'a subject (`<kind>s/<id>`) or a glob over subjects (`devices/*`)',
    })
    .optional()
    .describe('Only events whose subject matches (a glob: `*`, `?`)'),
  since: z.iso
    .datetime({ offset: true, error: 'an RFC 3339 date-time' })
    .optional()
    .describe('Only events whose time is at or after this'),
  limit: z.coerce
    .number({ error: 'an integer from 1 to 1000' })
    .int({ error: 'an integer from 1 to 1000' })
    .min(1, { error: 'an integer from 1 to 1000' })
    .max(1000, { error: 'an integer from 1 to 1000' })
    .default(100)
    .describe('At most this many events (1 to 1000)'),
});
