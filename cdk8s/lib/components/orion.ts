/**
 * Orion, the NGSI-v2 context broker, in multi-service mode: the `fiware-service` header of a
 * request selects the tenant's own MongoDB database (`orion-<tenant>`).
 */
import type { Construct } from 'constructs';

import type { PlatformContext } from '../../../platform/context.js';
import { MONGODB_USERS } from './mongodb.js';
import { Workload, env, httpProbe, secretEnv } from '../workload.js';

/** Props of {@link Orion}. */
export interface OrionProps {
  readonly context: PlatformContext;
}

/** The Orion context broker. Whom it reaches is its registry entry's `calls`. */
export class Orion extends Workload<'orion'> {
  constructor(scope: Construct, id: string, props: OrionProps) {
    const ctx = props.context;
    const api = ctx.port('orion', 'api');
    super(scope, id, {
      context: ctx,
      service: 'orion',
      kind: 'Deployment',
      // The image runs as `nobody`; a numeric user lets the kubelet enforce runAsNonRoot.
      runAs: { user: 65534, group: 65534 },
      containers: [
        {
          name: 'orion',
          image: 'orion',
          // The image entrypoint already passes -fg -multiservice -disableFileLog. NOTE (1)
          env: [
            secretEnv('ORION_DB_PASSWORD', 'mongodb', MONGODB_USERS.orion.passwordKey),
            env(
              'ORION_MONGO_URI',
              `mongodb://${MONGODB_USERS.orion.user}:$(ORION_DB_PASSWORD)@${ctx.serviceHost('mongodb')}:${ctx.port('mongodb', 'db')}/?authSource=admin`,
            ),
            env('ORION_LOG_LEVEL', 'INFO'),
            env('ORION_PORT', api),
          ],
          ports: ['api'],
          // /version never touches MongoDB: a live process answers it.
          livenessProbe: httpProbe('/version', api, { periodSeconds: 15, failureThreshold: 4 }),
          // A query does: Orion is ready only when it can reach its database. NOTE (2)
          readinessProbe: httpProbe('/v2/entities?limit=1', api, { periodSeconds: 10 }),
          startupProbe: httpProbe('/version', api, { periodSeconds: 2, failureThreshold: 60 }),
          // Orion writes its PID file to /tmp even with -fg.
          writableTmp: true,
        },
      ],
    });
  }
}

// NOTE
// 1. MongoDB connection. Orion 4.0 removed -dbhost/-dbuser/-dbpwd; the whole connection,
//    credentials and authSource included, is the URI (ORION_MONGO_URI). The password comes
//    from the bootstrap Secret through Kubernetes' $(VAR) expansion, so neither git nor a
//    ConfigMap holds it; bootstrap passwords are URL-safe, so they need no escaping here.
//    See https://github.com/telefonicaid/fiware-orion/blob/master/doc/manuals/admin/cli.md
// 2. Readiness through the database. The image's own HEALTHCHECK queries /v2/entities for
//    the same reason: /version answers even when MongoDB is gone, which would keep a broker
//    that cannot serve a single request in the Service's endpoints.
