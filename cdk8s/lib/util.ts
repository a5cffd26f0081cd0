/**
 * Small helpers shared by the constructs.
 */
import { createHash } from 'node:crypto';

/** A short content hash, for names and annotations that must change when content changes. */
export function checksum(...parts: readonly string[]): string {
  return createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, 16);
}
