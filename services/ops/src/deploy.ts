/**
 * The objects of `deploy/` as Argo CD will apply them, read from the generated YAML.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

import type { KubernetesObject } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';

/** The repository's deploy/ directory. */
export const DEPLOY_DIR = fileURLToPath(new URL('../../../deploy', import.meta.url));

/** One object and the file it came from (relative to the deploy dir). */
export interface DeployObject {
  readonly file: string;
  readonly object: KubernetesObject & { metadata: { name: string; namespace?: string } };
}

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) =>
      e.isDirectory()
        ? yamlFiles(join(dir, e.name))
        : /\.ya?ml$/.test(e.name)
          ? [join(dir, e.name)]
          : [],
    )
    .sort();
}

/**
 * Every Kubernetes object under `dir` (documents without apiVersion and kind, such as Helm
 * values files, are not objects and are left out).
 * @throws TypeError when a file is not valid YAML: deploy/ is generated, so that is a bug.
 */
export function readDeployObjects(dir: string = DEPLOY_DIR): DeployObject[] {
  return yamlFiles(dir).flatMap((path) => {
    const file = relative(dir, path);
    return parseAllDocuments(readFileSync(path, 'utf8')).flatMap((doc) => {
      if (doc.errors.length) throw new TypeError(`${file}: ${doc.errors[0]!.message}`);
      const object = doc.toJS() as DeployObject['object'] | null;
      return object && typeof object === 'object' && object.apiVersion && object.kind
        ? [{ file, object }]
        : [];
    });
  });
}

/** The Argo CD Applications deploy/ defines: what `status` expects to find. */
export interface ExpectedApplications {
  /** Every Application, by name, sorted. */
  readonly names: readonly string[];
  /**
   * Those deploy/ sources from the platform repository (config gitops.repoURL): the ones
   * that must be at the pushed commit. Judged here, in deploy/, by name, so a cluster whose
   * Applications point at a mirror of the repository is judged the same.
   */
  readonly fromPlatformRepo: readonly string[];
}

/** The Argo CD Applications deploy/ defines; see {@link ExpectedApplications}. */
export function expectedApplications(
  objects: readonly DeployObject[],
  platformRepoURL: string,
): ExpectedApplications {
  const apps = objects
    .filter(
      (o) => o.object.kind === 'Application' && o.object.apiVersion?.startsWith('argoproj.io/'),
    )
    .map((o) => o.object as DeployObject['object'] & { spec?: { source?: { repoURL?: string } } });
  return {
    names: apps.map((a) => a.metadata.name).sort(),
    fromPlatformRepo: apps
      .filter((a) => a.spec?.source?.repoURL === platformRepoURL)
      .map((a) => a.metadata.name)
      .sort(),
  };
}
