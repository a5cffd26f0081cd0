#!/usr/bin/env -S npx tsx
/**
 * `npm run token -- --tenant <t> [--client | --user [name]]`: prints an access token of the
 * platform realm for scenarios and curl.
 *
 *   curl -H "Authorization: Bearer $(npm run -s token -- --tenant manufracture)" \
 *        -H 'fiware-service: manufracture' https://kitt4sme.localhost/orion/v2/entities
 *
 * Credentials come from the environment (KITT4SME_CLIENT_SECRET, KITT4SME_PASSWORD, or the
 * per-client names of the keycloak-realm Secret) or else from that Secret in the cluster.
 *
 * Exit codes: 0 token printed, 1 Keycloak refused the credentials, 2 usage error (or a plain
 * http URL to a host that is not loopback or in-cluster),
 * 3 Keycloak unreachable, no such realm, or no credentials found.
 */
import { loadPlatformContext } from '../../../platform/context.js';
import { runCli } from '../../../platform/cli.js';
import { tokenCommand, tokenExitCode } from '../src/token-command.js';

const program = tokenCommand(loadPlatformContext());

await runCli(program, { exitCode: tokenExitCode });
