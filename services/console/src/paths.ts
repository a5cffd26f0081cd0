/** Where the console's build lives in the repository. */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Where `npm run console:build` writes the assets (git-ignored). The image sets
 * CONSOLE_ASSETS to its own copy instead.
 */
export const CONSOLE_DIST = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist');
