/**
 * The example feature extractor (fleet/templates/feature-extractor.yaml): reads its tenant's
 * entities of one type from Orion (orion:read) every `pollSeconds`, keeps a window of each
 * numeric measurement and posts each new value's features (the value, the window's mean and
 * standard deviation before it) to its pipeline downstream, the detector.
 *
 * NGSI-v2 does not say which service path an entity is in, and an update needs it: the
 * extractor reads each of `servicePaths` on its own and sends the path with the features.
 * A value is new when the attribute (value and metadata, e.g. the IoT Agent's TimeInstant)
 * differs from the last read: the same value sent twice without a timestamp counts once.
 */
import { z } from 'zod';

import type { AgentKit, AgentModule, Features } from '../../../src/index.js';
import { downstreamUrl, numericValue, SeriesWindow } from '../../../src/index.js';

/** An NGSI-v2 identifier: printable ASCII without whitespace and `&?/#<>"'=;()`. */
const ngsiName = z
  .string()
  .regex(/^[^\s&?/#<>"'=;()]{1,256}$/, 'an NGSI-v2 name (no spaces, none of &?/#<>"\'=;())');

/** AGENT_CONFIG of the feature extractor. */
export const ExtractorConfig = z.strictObject({
  entityType: ngsiName,
  window: z.number().int().min(2).max(10_000).default(10),
  source: z.string().min(1),
  servicePaths: z
    .array(z.string().regex(/^\/[^#]*$/, 'a service path like /floor1 (no #)'))
    .min(1)
    .default(['/']),
  pollSeconds: z.number().positive().max(3600).default(10),
  downstream: z.string().min(1).optional(),
});
export type ExtractorConfig = z.output<typeof ExtractorConfig>;

/** What the extractor posts to the detector's POST /v1/features. */
export interface FeatureMessage extends Features {
  readonly entityId: string;
  readonly entityType: string;
  readonly servicePath: string;
  readonly attribute: string;
  readonly source: string;
}

/** The module. */
export const featureExtractor: AgentModule<typeof ExtractorConfig> = {
  name: 'feature-extractor',
  config: ExtractorConfig,
  start(kit: AgentKit<ExtractorConfig>) {
    const { config, log, ngsi, clock } = kit;
    const target = `${downstreamUrl(kit.env, config.downstream)}/v1/features`;
    const windows = new Map<string, SeriesWindow>();
    const seen = new Map<string, string>();
    const health = {
      polls: 0,
      sent: 0,
      lastPoll: undefined as string | undefined,
      lastError: undefined as string | undefined,
    };
    const stopper = new AbortController();

    const post = async (m: FeatureMessage) => {
      const res = await fetch(target, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(m),
        signal: AbortSignal.timeout(10_000),
      });
      if (!res.ok)
        throw new Error(`the detector answered ${res.status}: ${(await res.text()).slice(0, 200)}`);
      health.sent++;
    };

    const poll = async () => {
      for (const servicePath of config.servicePaths) {
        const entities = await ngsi.listEntities(config.entityType, servicePath);
        for (const e of entities)
          for (const [attribute, attr] of Object.entries(e)) {
            const value = numericValue(attr);
            if (value === undefined) continue;
            const key = `${servicePath}\u0000${e.id}\u0000${attribute}`;
            const print = JSON.stringify(attr);
            if (seen.get(key) === print) continue;
            seen.set(key, print);
            let w = windows.get(key);
            if (!w) windows.set(key, (w = new SeriesWindow(config.window)));
            const features = w.push(value);
            await post({
              entityId: e.id,
              entityType: e.type,
              servicePath,
              attribute,
              source: config.source,
              ...features,
            });
          }
      }
    };

    const loop = (async () => {
      while (!stopper.signal.aborted) {
        try {
          await poll();
          health.lastError = undefined;
        } catch (err) {
          health.lastError = (err as Error).message;
          log.warn({ err: health.lastError }, 'poll failed; trying again at the next poll');
        }
        health.polls++;
        health.lastPoll = new Date(clock.now()).toISOString();
        await clock.sleep(config.pollSeconds * 1000, stopper.signal);
      }
    })();

    return {
      async stop() {
        stopper.abort();
        await loop;
      },
      health: () => ({ ...health, downstream: target }),
    };
  },
};
