/**
 * The images of the example AI modules (services/agent-kit/examples), defined once: the fleet's
 * templates name them (fleet/templates/*.yaml, held to these by
 * services/agent-kit/test/images.test.ts), the image builds are named after them
 * (toolchain/image-contents.ts) and each Dockerfile builds one of them.
 */
import type { ImageSpec } from '../components.js';

/** The example modules, by template name. */
export const EXAMPLE_AGENT_IMAGES = {
  'feature-extractor': {
    repository: 'ghcr.io/kitt4sme/feature-extractor',
    tag: '0.1.0',
    why: 'our own example module, built from services/agent-kit/examples/feature-extractor/Dockerfile; its template (fleet/templates/feature-extractor.yaml) pins this tag',
  },
  'anomaly-detector': {
    repository: 'ghcr.io/kitt4sme/anomaly-detector',
    tag: '0.1.0',
    why: 'our own example module, built from services/agent-kit/examples/anomaly-detector/Dockerfile; its template (fleet/templates/anomaly-detector.yaml) pins this tag',
  },
} as const satisfies Readonly<Record<string, ImageSpec>>;
export type ExampleModule = keyof typeof EXAMPLE_AGENT_IMAGES;

/** Where an example module's sources, Dockerfile and tsconfig.build.json are. */
export function exampleModuleDir(module: ExampleModule): string {
  return `services/agent-kit/examples/${module}`;
}

/** `repository:tag` of an example module's image. */
export function exampleImage(module: ExampleModule): string {
  const i = EXAMPLE_AGENT_IMAGES[module];
  return `${i.repository}:${i.tag}`;
}
