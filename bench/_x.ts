import { writeFileSync } from 'node:fs';
import { loadPlatformConfig } from '../cdk8s/config/load.js';
import { ROUTES } from '../cdk8s/config/routes.js';
import { PlatformContext } from '../cdk8s/lib/context.js';
import { buildRealm } from '../cdk8s/lib/identity/realm.js';
const ctx = new PlatformContext(loadPlatformConfig(), ROUTES);
const def = buildRealm(ctx);
writeFileSync('/tmp/kc/keycloak-26.7.3/data/import/kitt4sme.json', JSON.stringify(def.realm, null, 1));
writeFileSync('/tmp/kc/env.sh', def.placeholders.map((p) => `export ${p.env}=pw-${p.id}-0123456789abcdef`).join('\n') + '\n');
