/**
 * Test support: the fleet's Config Management Plugin for {@link startArgoCd}, as the repo-server
 * sidecar runs it in a cluster: the plugin configuration synth generates
 * (deploy/bootstrap/argocd-values.yaml, `configs.cmp`), whose command runs the tree the plugin's
 * image carries (`npm run image:contents -- --service fleet-plugin`, assembled here). Only where
 * that tree lies and which node runs it differ from the image.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { parse } from 'yaml';

import { FLEET_PLUGIN_COMMAND, FLEET_PLUGIN_NAME } from '../../cdk8s/lib/gitops/fleet-plugin.js';
import { assembleImageContents } from '../../toolchain/image-contents.js';
import type { ArgoCdPlugin } from '../real/argocd.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Assembles the plugin image's tree into `dir` (a new or empty directory) and returns the
 * plugin for `startArgoCd({ plugins: [...] })`.
 * @throws Error when the generated values do not configure the plugin with the image's command.
 */
export function fleetPlugin(dir: string, root = ROOT): ArgoCdPlugin {
  const app = assembleImageContents({ service: 'fleet-plugin', out: dir, log: () => undefined });
  const values = parse(
    readFileSync(join(root, 'deploy', 'bootstrap', 'argocd-values.yaml'), 'utf8'),
  ) as { configs: { cmp?: { plugins?: Record<string, { generate: { command: string[] } }> } } };
  const spec = values.configs.cmp?.plugins?.[FLEET_PLUGIN_NAME];
  const imageCommand = [...FLEET_PLUGIN_COMMAND];
  if (
    !spec ||
    JSON.stringify(spec.generate.command) !== JSON.stringify(imageCommand) ||
    JSON.stringify(app.command) !== JSON.stringify(['node', 'dist/cdk8s/bin/fleet-render.js'])
  )
    throw new Error(
      `the argo-cd values do not configure ${FLEET_PLUGIN_NAME} with the image's command ${JSON.stringify(imageCommand)}: ${JSON.stringify(spec ?? null)}; run \`npm run synth\``,
    );
  return {
    config: {
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'ConfigManagementPlugin',
      metadata: { name: FLEET_PLUGIN_NAME },
      // TEST ONLY, visibly: the image's `node /app/dist/...` is this machine's node and the tree.
      spec: { ...spec, generate: { command: [process.execPath, join(app.out, app.command[1]!)] } },
    },
  };
}
