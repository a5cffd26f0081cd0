/**
 * Loads the platform config of this repository, validated.
 */
import { platform } from './platform.js';
import type { PlatformConfig } from './schema.js';
import { parsePlatformConfig } from './schema.js';

/** The validated config of platform/config/platform.ts. @throws ConfigError */
export function loadPlatformConfig(): PlatformConfig {
  return parsePlatformConfig(platform);
}
