/**
 * YAML as every generated file writes it. Its own module, so that the fleet renderer (and the
 * fleet plugin's image, which carries only what cdk8s/bin/fleet-render.ts reaches) does not
 * import the whole platform synthesis.
 */
import { stringify } from 'yaml';

/** One YAML document, as every generated file writes it. */
export function toYaml(doc: unknown): string {
  return stringify(doc, { lineWidth: 0, aliasDuplicateObjects: false });
}
