/**
 * The tenancy policy's data for a service that enforces the policy in-process (the same wasm
 * policy and data as the gateway's OPA): one content-addressed ConfigMap per service, mounted
 * as a file. NOTE (1) of provisioning.ts explains the content addressing.
 */
import { k8s } from 'cdk8s-plus-33';
import type { Construct } from 'constructs';

import type { PlatformContext } from '../../../platform/context.js';
import { policyData } from '../../../platform/policy-data.js';
import { checksum } from '../util.js';
import { env } from '../workload.js';

/** Where the policy data document is mounted in the container. */
export const POLICY_DATA_DIR = '/etc/kitt4sme';
export const POLICY_DATA_KEY = 'policy-data.json';

/** The policy data of a service: its ConfigMap's name, the volume, mount and variable. */
export interface PolicyDataFile {
  /** `<service>-policy-<hash>`: it changes whenever the data does. */
  readonly configMapName: string;
  readonly data: string;
  readonly volume: k8s.Volume;
  readonly mount: k8s.VolumeMount;
  /** `POLICY_DATA_FILE`, the path the services read. */
  readonly envVar: k8s.EnvVar;
}

/** The policy data file of `service` (not yet in the tree: see {@link addPolicyDataConfigMap}). */
export function policyDataFile(ctx: PlatformContext, service: string): PolicyDataFile {
  const data = `${JSON.stringify(policyData(ctx), null, 2)}\n`;
  const configMapName = `${service}-policy-${checksum(data).slice(0, 10)}`;
  return {
    configMapName,
    data,
    volume: {
      name: 'policy-data',
      configMap: { name: configMapName, items: [{ key: POLICY_DATA_KEY, path: POLICY_DATA_KEY }] },
    },
    mount: { name: 'policy-data', mountPath: POLICY_DATA_DIR, readOnly: true },
    envVar: env('POLICY_DATA_FILE', `${POLICY_DATA_DIR}/${POLICY_DATA_KEY}`),
  };
}

/** Adds the ConfigMap of a {@link policyDataFile} to `scope` (id `PolicyData`). */
export function addPolicyDataConfigMap(
  scope: Construct,
  file: PolicyDataFile,
  namespace: string,
  app: string,
): void {
  new k8s.KubeConfigMap(scope, 'PolicyData', {
    metadata: { name: file.configMapName, namespace, labels: { app } },
    data: { [POLICY_DATA_KEY]: file.data },
  });
}
