import { loadPlatformConfig } from '../cdk8s/config/load.js';
import { ROUTES } from '../cdk8s/config/routes.js';
import { PlatformContext } from '../cdk8s/lib/context.js';
import { buildRealm, resolveRealm } from '../cdk8s/lib/identity/realm.js';
import { applyRealm } from '../services/identity/src/realm-apply.js';
async function main() {
  const ctx = new PlatformContext(loadPlatformConfig(), ROUTES);
  const def = buildRealm(ctx);
  const realm = resolveRealm(def, process.env as Record<string, string>);
  const res = await applyRealm({ keycloakUrl: 'http://127.0.0.1:18080/auth', username: 'admin', password: 'adminadminadmin' }, realm, (l) => console.log(' ', l));
  console.log(res.created, res.changes.length);
}
main().catch((e) => { console.error(e.code, e.message); process.exit(1); });
