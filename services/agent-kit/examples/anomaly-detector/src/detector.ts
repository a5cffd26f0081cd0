/**
 * The example anomaly detector (fleet/templates/anomaly-detector.yaml), the shape of the
 * anchor's kitt4sme.anomaly module: a z-score of each new numeric measurement against a window of
 * the earlier ones; above `threshold`, it writes `anomalyAttribute` back to the entity
 * (orion:write, `POST /v2/entities/<id>/attrs`: PATCH would refuse the attribute the first
 * time, as the entity does not have it yet), and writes it again with `anomalous: false`
 * once every flagged measurement of that entity is back to normal. It never writes an entity
 * it has not flagged.
 *
 * Its input is either
 * - features from a pipeline upstream (the feature extractor): `POST /v1/features`, or
 * - Orion's notifications (`subscribe: true`, needs orion:subscribe): at start it makes sure
 *   its tenant has a subscription to changes of `entityType` notifying `POST /v1/notify`
 *   (`onlyChangedAttrs`, so its own anomaly writes do not come back as measurements), and keeps
 *   its own windows. A notification of another tenant, or one that is not an NGSI-v2
 *   notification, is refused.
 */
import { z } from 'zod';

import { agentObjectName } from '../../../../../platform/fleet/identity.js';
import { agentsNamespace } from '../../../../../platform/fleet/resolve.js';
import type { AgentKit, AgentModule, Features, NgsiEntity } from '../../../src/index.js';
import { backoffMs, numericValue, SeriesWindow, zScore } from '../../../src/index.js';

/** The port the templates declare (`ports: [8080]`): Orion notifies it in the cluster. */
export const DETECTOR_PORT = 8080;

const ngsiName = z
  .string()
  .regex(/^[^\s&?/#<>"'=;()]{1,256}$/, 'an NGSI-v2 name (no spaces, none of &?/#<>"\'=;())');

/** AGENT_CONFIG of the anomaly detector. */
export const DetectorConfig = z.strictObject({
  entityType: ngsiName,
  anomalyAttribute: ngsiName.default('anomaly'),
  threshold: z
    .number()
    .positive('a z-score above which a value is an anomaly, more than 0')
    .default(3),
  window: z.number().int().min(2).max(10_000).default(10),
  source: z.string().min(1),
  subscribe: z.boolean().default(true),
  notifyUrl: z.url({ protocol: /^https?$/ }).optional(),
});
export type DetectorConfig = z.output<typeof DetectorConfig>;

/** The body of POST /v1/features (what the feature extractor sends). */
export const FeatureMessage = z.strictObject({
  entityId: ngsiName,
  entityType: ngsiName,
  servicePath: z.string().regex(/^\/[^#]*$/, 'a service path like /floor1 (no #)'),
  attribute: ngsiName,
  value: z.number(),
  n: z.number().int().min(0),
  mean: z.number(),
  stdDev: z.number().min(0),
  source: z.string().optional(),
});

/** An NGSI-v2 notification (normalized). */
const Notification = z.object({
  subscriptionId: z.string().min(1),
  data: z.array(z.looseObject({ id: ngsiName, type: ngsiName })),
});

/** The verdict on one value. */
export interface Verdict {
  readonly attribute: string;
  readonly zScore: number | null;
  readonly anomalous: boolean;
  /** Whether the entity's anomaly attribute was written. */
  readonly written: boolean;
}

/** The subscription's description: how the detector finds its own again after a restart. */
export function subscriptionDescription(name: string, instance: string, type: string): string {
  return `${name} (${instance}): changes of ${type}`;
}

/** The module. */
export const anomalyDetector: AgentModule<typeof DetectorConfig> = {
  name: 'anomaly-detector',
  config: DetectorConfig,
  start(kit: AgentKit<DetectorConfig>) {
    const { config, env, log, ngsi, clock, app } = kit;
    const flagged = new Map<string, Set<string>>();
    const windows = new Map<string, SeriesWindow>();
    const health = {
      evaluated: 0,
      anomalies: 0,
      subscription: (config.subscribe ? 'pending' : 'off') as string,
      lastError: undefined as string | undefined,
    };

    const evaluate = async (
      entity: { id: string; type: string; servicePath: string },
      attribute: string,
      f: Features,
    ): Promise<Verdict> => {
      health.evaluated++;
      const z = zScore(f);
      const anomalous = z !== undefined && z > config.threshold;
      const key = `${entity.servicePath}\u0000${entity.id}`;
      const set = flagged.get(key) ?? new Set<string>();
      const was = set.size > 0;
      if (anomalous) set.add(attribute);
      else set.delete(attribute);
      if (set.size > 0) flagged.set(key, set);
      else flagged.delete(key);
      const zOut = z === undefined || !Number.isFinite(z) ? null : Math.round(z * 1000) / 1000;
      if (!anomalous && !(was && set.size === 0))
        return { attribute, zScore: zOut, anomalous, written: false };
      if (anomalous) health.anomalies++;
      await ngsi.upsertAttrs(
        entity.id,
        {
          [config.anomalyAttribute]: {
            type: 'StructuredValue',
            value: {
              anomalous,
              attribute,
              value: f.value,
              zScore: zOut,
              threshold: config.threshold,
              mean: f.mean,
              stdDev: f.stdDev,
              source: config.source,
              dateObserved: new Date(clock.now()).toISOString(),
            },
          },
        },
        entity.servicePath,
        entity.type,
      );
      log.info(
        { entity: entity.id, attribute, zScore: zOut, anomalous },
        'anomaly attribute written',
      );
      return { attribute, zScore: zOut, anomalous, written: true };
    };

    app.post('/v1/features', async (req, res) => {
      const parsed = FeatureMessage.safeParse(req.body);
      if (!parsed.success)
        return void res.status(400).json({
          error: 'BadRequest',
          description: `not a feature message: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ')}`,
        });
      const m = parsed.data;
      if (m.entityType !== config.entityType)
        return void res.status(400).json({
          error: 'BadRequest',
          description: `entityType: this detector watches ${config.entityType}, not ${m.entityType}`,
        });
      try {
        const verdict = await evaluate(
          { id: m.entityId, type: m.entityType, servicePath: m.servicePath },
          m.attribute,
          m,
        );
        res.json(verdict);
      } catch (err) {
        health.lastError = (err as Error).message;
        log.warn({ err: health.lastError }, 'could not write the anomaly attribute');
        res.status(502).json({ error: 'BadGateway', description: health.lastError });
      }
    });

    app.post('/v1/notify', async (req, res) => {
      const service = String(req.get('fiware-service') ?? '').toLowerCase();
      if (service !== env.fiwareService.toLowerCase())
        return void res.status(403).json({
          error: 'Forbidden',
          description: `this detector serves tenant ${env.fiwareService}, not '${service || '(no fiware-service)'}'`,
        });
      const parsed = Notification.safeParse(req.body);
      if (!parsed.success)
        return void res.status(400).json({
          error: 'BadRequest',
          description: `not an NGSI-v2 notification: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ')}`,
        });
      const servicePath =
        String(req.get('fiware-servicepath') ?? '/')
          .split(',')[0]!
          .trim() || '/';
      const verdicts: Verdict[] = [];
      try {
        for (const e of parsed.data.data as NgsiEntity[]) {
          if (e.type !== config.entityType) continue;
          for (const [attribute, attr] of Object.entries(e)) {
            if (attribute === config.anomalyAttribute) continue;
            const value = numericValue(attr);
            if (value === undefined) continue;
            const key = `${servicePath}\u0000${e.id}\u0000${attribute}`;
            let w = windows.get(key);
            if (!w) windows.set(key, (w = new SeriesWindow(config.window)));
            verdicts.push(
              await evaluate({ id: e.id, type: e.type, servicePath }, attribute, w.push(value)),
            );
          }
        }
        res.json({ verdicts });
      } catch (err) {
        health.lastError = (err as Error).message;
        log.warn({ err: health.lastError }, 'could not write the anomaly attribute');
        res.status(502).json({ error: 'BadGateway', description: health.lastError });
      }
    });

    // The subscription, made (or found) in the background: Orion may be away at start.
    const stopper = new AbortController();
    const notifyUrl =
      config.notifyUrl ??
      `http://${agentObjectName(env.id)}.${agentsNamespace(env.tenant)}.svc.cluster.local:${DETECTOR_PORT}/v1/notify`;
    const description = subscriptionDescription(kit.env.name, env.instance, config.entityType);
    const subscribing = config.subscribe
      ? (async () => {
          for (let failures = 0; !stopper.signal.aborted;) {
            try {
              const mine = (await ngsi.listSubscriptions()).find(
                (s) =>
                  s.description === description &&
                  (s.notification as { http?: { url?: string } } | undefined)?.http?.url ===
                    notifyUrl,
              );
              health.subscription =
                (mine?.id as string | undefined) ??
                (await ngsi.createSubscription({
                  description,
                  subject: { entities: [{ idPattern: '.*', type: config.entityType }] },
                  notification: {
                    http: { url: notifyUrl },
                    attrsFormat: 'normalized',
                    onlyChangedAttrs: true,
                  },
                }));
              log.info({ subscription: health.subscription, notifyUrl }, 'subscribed to Orion');
              return;
            } catch (err) {
              failures++;
              health.lastError = (err as Error).message;
              const wait = backoffMs(failures, 60_000, Math.random());
              log.warn({ err: health.lastError, retryInMs: wait }, 'could not subscribe; retrying');
              await clock.sleep(wait, stopper.signal);
            }
          }
        })()
      : Promise.resolve();

    return {
      async stop() {
        stopper.abort();
        await subscribing;
      },
      health: () => ({ ...health }),
    };
  },
};
