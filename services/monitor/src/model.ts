/**
 * The monitor API's request model (zod): what the API validates and the OpenAPI document shows.
 */
import { z } from 'zod';

import { EVENT_TYPES } from './events.js';

/** A glob over target ids: visible characters of an id, plus `*` and `?`. */
const ID_PATTERN = /^[A-Za-z0-9_.:*?-]{1,256}$/;

/** A subscription request. */
export const SubscriptionBody = z.strictObject({
  url: z.url({ protocol: /^https?$/, error: 'an http(s) URL the events are POSTed to' }).max(2048),
  types: z
    .array(z.enum(EVENT_TYPES, { error: `one of ${EVENT_TYPES.join(', ')}` }))
    .max(EVENT_TYPES.length)
    .default([]),
  id_pattern: z
    .string()
    .regex(ID_PATTERN, {
      error:
        'a glob over target ids (device ids, agent instance names): letters, digits, _ . : - and the wildcards * and ?',
    })
    .default('*'),
});
