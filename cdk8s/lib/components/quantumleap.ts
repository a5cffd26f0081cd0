/**
 * QuantumLeap: turns Orion's change notifications into time series in CrateDB and serves
 * them through its NGSI-TSDB API.
 */
import type { Construct } from 'constructs';

import type { PlatformContext } from '../../../platform/context.js';
import { CRATEDB_USERS_SECRET } from '../../../platform/secrets.js';
import { Workload, env, httpProbe } from '../workload.js';
import { QUANTUMLEAP_DB_USER, crateDbPasswordEnv } from './cratedb-users.js';

/** Props of {@link QuantumLeap}. */
export interface QuantumLeapProps {
  readonly context: PlatformContext;
}

/** The QuantumLeap time-series API. */
export class QuantumLeap extends Workload<'quantumleap'> {
  constructor(scope: Construct, id: string, props: QuantumLeapProps) {
    const ctx = props.context;
    const api = ctx.port('quantumleap', 'api');
    super(scope, id, {
      context: ctx,
      service: 'quantumleap',
      kind: 'Deployment',
      // The image sets no user; any non-root user can read its files.
      runAs: { user: 1000, group: 1000 },
      containers: [
        {
          name: 'quantumleap',
          image: 'quantumleap',
          env: [
            env('QL_DEFAULT_DB', 'crate'),
            env('CRATE_HOST', ctx.serviceHost('cratedb')),
            env('CRATE_PORT', ctx.port('cratedb', 'api')),
            // Its own CrateDB user, never the superuser (src/translators/crate.py reads these).
            env('CRATE_DB_USER', QUANTUMLEAP_DB_USER),
            crateDbPasswordEnv('CRATE_DB_PASS', CRATEDB_USERS_SECRET.quantumleapKey),
            env('CRATE_WAIT_ACTIVE_SHARDS', 1),
            env('USE_GEOCODING', 'False'),
            env('CACHE_QUERIES', 'False'),
            env('WORKERS', 2),
            env('LOGLEVEL', 'INFO'),
          ],
          ports: ['api'],
          livenessProbe: httpProbe('/version', api, { periodSeconds: 15, failureThreshold: 4 }),
          // /health answers 503 when CrateDB is unreachable: not ready, not restarted.
          readinessProbe: httpProbe('/health', api, { periodSeconds: 10, timeoutSeconds: 5 }),
          startupProbe: httpProbe('/version', api, { periodSeconds: 2, failureThreshold: 60 }),
          writableTmp: true,
        },
      ],
    });
  }
}
