/**
 * What a release tag publishes: the project's own images (PROJECT_IMAGE_IDS, each a service
 * with an image build, toolchain/image-contents.ts), each at the package.json version, under the registry and name
 * the component registry pins (platform/components.ts), owned by the account that releases.
 * `.github/workflows/release.yml` runs `npm run release:check` before it builds anything.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { component, COMPONENT_IDS, PROJECT_IMAGE_IDS } from '../platform/components.js';
import type { ComponentId } from '../platform/components.js';
import { catalogueError, PLATFORM_ERRORS } from '../platform/errors.js';
import { imageServices, REPO_ROOT } from './image-contents.js';

/** One image a release pushes. */
export interface ReleaseImage {
  /** The service (and component id), e.g. `provisioning`. */
  readonly service: string;
  /** The Dockerfile, relative to the repository root (the build context). */
  readonly dockerfile: string;
  /** The registry's pin, e.g. `ghcr.io/kitt4sme/provisioning:0.2.0`. */
  readonly pinned: string;
  /** Where this release pushes it, without the tag, e.g. `ghcr.io/<owner>/provisioning`. */
  readonly name: string;
  /** name:version. */
  readonly reference: string;
}

/** The version a tag releases and its images. */
export interface Release {
  readonly version: string;
  readonly images: ReleaseImage[];
}

export interface ReleaseOptions {
  /** The git tag, e.g. `v0.2.0`. */
  readonly tag: string;
  /** The account that owns the pushed images (GitHub's repository_owner); lower-cased. */
  readonly owner: string;
  /** The repository; default this one. */
  readonly root?: string;
  /** The image pin of a component; default the component registry's. */
  readonly pinOf?: (id: string) => { repository: string; tag: string } | undefined;
}

const registryPin = (id: string) =>
  (COMPONENT_IDS as readonly string[]).includes(id)
    ? component(id as ComponentId).image
    : undefined;

/**
 * Checks `tag` against package.json's version and every released image's pin.
 *
 * @throws PlatformError ERR_RELEASE_MISMATCH listing every mismatch.
 */
export function releasePlan(options: ReleaseOptions): Release {
  const root = options.root ?? REPO_ROOT;
  const pinOf = options.pinOf ?? registryPin;
  const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
    version: string;
  };
  const problems: string[] = [];
  if (options.tag !== `v${version}`)
    problems.push(`the tag ${options.tag} is not v${version} (package.json's version)`);
  const owner = options.owner.toLowerCase();
  const built = imageServices(root).map((s) => s.name);
  const listed: readonly string[] = PROJECT_IMAGE_IDS;
  for (const name of built)
    if (!listed.includes(name))
      problems.push(
        `services/${name} has an image build but PROJECT_IMAGE_IDS (platform/components.ts) does not list it`,
      );
  const images = listed.map((id): ReleaseImage => {
    const service = { name: id };
    const pin = pinOf(id);
    const dockerfile = `services/${id}/Dockerfile`;
    if (!built.includes(id))
      problems.push(`PROJECT_IMAGE_IDS lists ${id}, but services/${id} has no image build`);
    if (!pin) {
      problems.push(`the component registry has no image for the service ${service.name}`);
      return { service: service.name, dockerfile, pinned: '', name: '', reference: '' };
    }
    if (pin.tag !== version)
      problems.push(
        `COMPONENTS.${service.name}.image pins ${pin.repository}:${pin.tag}, not version ${version}`,
      );
    // ghcr.io/<pinned owner>/<name> -> ghcr.io/<releasing owner>/<name>
    const [registry, ...rest] = pin.repository.split('/');
    const name = `${registry}/${owner}/${rest.at(-1)}`;
    return {
      service: service.name,
      dockerfile,
      pinned: `${pin.repository}:${pin.tag}`,
      name,
      reference: `${name}:${version}`,
    };
  });
  if (problems.length > 0)
    throw catalogueError(PLATFORM_ERRORS, 'ERR_RELEASE_MISMATCH', problems.join('; '));
  return { version, images };
}
