/**
 * The web console (services/console): a static server of the built browser app and its
 * configuration document, behind the gateway at /console. It holds no secret and calls no
 * other workload: the browser signs in through Keycloak and calls the API routes with the
 * user's own token. Restricted Pod Security, read-only root filesystem.
 */
import type { Construct } from 'constructs';

import type { PlatformContext } from '../../../platform/context.js';
import { Workload, env, httpProbe } from '../workload.js';

/** Props of {@link Console}. */
export interface ConsoleProps {
  readonly context: PlatformContext;
}

/** The web console's workload. */
export class Console extends Workload<'console'> {
  constructor(scope: Construct, id: string, props: ConsoleProps) {
    const ctx = props.context;
    const port = ctx.port('console', 'web');
    super(scope, id, {
      context: ctx,
      service: 'console',
      kind: 'Deployment',
      // services/console/Dockerfile: USER 65532:65532.
      runAs: { user: 65532, group: 65532 },
      containers: [
        {
          name: 'console',
          image: 'console',
          env: [
            env('CONSOLE_PORT', port),
            // The issuer the browser signs in at: Keycloak on the platform's public URL.
            env('CONSOLE_PUBLIC_URL', ctx.publicUrl),
          ],
          ports: ['web'],
          livenessProbe: httpProbe('/healthz', port, { periodSeconds: 15, failureThreshold: 4 }),
          readinessProbe: httpProbe('/readyz', port, { periodSeconds: 10 }),
        },
      ],
    });
  }
}
