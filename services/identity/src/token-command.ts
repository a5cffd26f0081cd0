/**
 * The token command: an access token of the platform realm for scenarios and curl.
 * Exit codes: 0 token printed, 1 Keycloak refused the credentials, 2 usage error (or a plain
 * http URL to a host that is not loopback or in-cluster), 3 Keycloak unreachable, no such
 * realm, or no credentials found.
 */
import { Command, Option } from 'commander';

import { MACHINE_CLIENTS } from '../../../platform/identity.js';
import type { MachineKind } from '../../../platform/identity.js';
import type { PlatformContext } from '../../../platform/context.js';
import { EXIT } from '../../../platform/cli.js';
import type { PlatformError } from '../../../platform/errors.js';
import { tenantToken } from './tenant-token.js';

/** The exit code of a documented error of the token command. */
export function tokenExitCode(err: PlatformError): number {
  return err.code === 'ERR_CREDENTIALS_REJECTED'
    ? EXIT.failed
    : err.code === 'ERR_INSECURE_URL'
      ? EXIT.usage
      : EXIT.environment;
}

interface Opts {
  tenant: string;
  client?: boolean;
  user?: string | true;
  kind: MachineKind;
  keycloakUrl?: string;
  realm?: string;
  context?: string;
  json?: boolean;
}

/**
 * The `token` command, shared by `npm run token` and `npm run platform -- token`.
 */
export function tokenCommand(ctx: PlatformContext): Command {
  const tenants = ctx.config.tenants.map((t) => t.name);
  return new Command()
    .name('token')
    .description(
      'Print an access token of the platform realm: client credentials of a tenant machine client, or a user’s password grant through it.',
    )
    .requiredOption('--tenant <tenant>', `the tenant (${tenants.join(', ')})`)
    .addOption(
      new Option('--client', 'client credentials of the tenant client (the default)').conflicts(
        'user',
      ),
    )
    .option('--user [username]', 'password grant of a user (default: <tenant>-demo)')
    .addOption(
      new Option('--kind <kind>', 'which tenant client')
        .choices(Object.keys(MACHINE_CLIENTS))
        .default('scenarios'),
    )
    .option(
      '--keycloak-url <url>',
      'Keycloak base URL, ending in /auth (default: $KITT4SME_KEYCLOAK_URL or the ingress)',
    )
    .option('--realm <realm>', `realm (default: ${ctx.config.identity.realm})`)
    .option('--context <name>', 'kubeconfig context for reading Secrets (default: the current one)')
    .option('--json', 'print the token response and its claims as JSON')
    .action(async (opts: Opts) => {
      if (!tenants.includes(opts.tenant)) {
        console.error(
          `token: unknown tenant "${opts.tenant}"; the platform config has ${tenants.join(', ')}`,
        );
        process.exit(EXIT.usage);
      }
      const username = opts.user === true ? `${opts.tenant}-demo` : opts.user;
      if (username && !MACHINE_CLIENTS[opts.kind].passwordGrant) {
        console.error(
          `token: --user needs --kind scenarios (the ${opts.kind} client has no password grant)`,
        );
        process.exit(EXIT.usage);
      }
      const {
        token: t,
        clientId,
        keycloakUrl,
        secretSource,
      } = await tenantToken(ctx, {
        tenant: opts.tenant,
        kind: opts.kind,
        ...(username ? { username } : {}),
        ...(opts.keycloakUrl ? { keycloakUrl: opts.keycloakUrl } : {}),
        ...(opts.realm ? { realm: opts.realm } : {}),
        ...(opts.context ? { context: opts.context } : {}),
      });
      console.error(
        `token: ${username ? `user ${username} through ` : ''}client ${clientId} (secret from ${secretSource}) at ${keycloakUrl}`,
      );
      if (opts.json) {
        process.stdout.write(
          `${JSON.stringify(
            {
              access_token: t.accessToken,
              token_type: t.tokenType,
              expires_in: t.expiresIn,
              issuer: t.issuer,
              client_id: clientId,
              claims: t.claims,
            },
            null,
            2,
          )}\n`,
        );
      } else process.stdout.write(`${t.accessToken}\n`);
    });
}
