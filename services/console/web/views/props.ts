/** What every view of the console gets from its shell (app.tsx). */
import type { ConsoleConfig } from '../../src/contract.js';
import type { Api } from '../api.js';

/** What every view gets. */
export interface ViewProps {
  readonly config: ConsoleConfig;
  readonly api: Api;
  readonly tenant: string;
  /** Whether the user's roles in this tenant may change things through `api`. */
  readonly mayWrite: (api: keyof ConsoleConfig['apis']) => boolean;
}
