/**
 * The one error type of the project's tools and services, and the shape of its catalogues.
 *
 * Every error a user can meet carries a stable `code` (documented in docs/errors.md, which is
 * generated from the catalogues, so the two cannot drift apart), a message that says what was
 * wrong, and a `fix` that says what to do. Programmer misuse throws `TypeError` instead.
 *
 * Each module that can fail for a user keeps its catalogue beside its code: the config schema
 * (config/schema.ts), the component registry (components.ts), the route table (routes.ts), the
 * cluster client (cluster.ts), each service and the scenario runner; this file holds the codes
 * shared by several tools.
 */
export class PlatformError extends Error {
  /** Stable, documented identifier, e.g. `ERR_CONFIG_INVALID`. */
  readonly code: string;
  /** What the user should do about it. */
  readonly fix: string;

  constructor(code: string, message: string, fix: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PlatformError';
    this.code = code;
    this.fix = fix;
  }
}

/** One documented error: what it means and how to solve it. */
export interface ErrorSpec {
  /** What was wrong, phrased for the person who meets it. */
  readonly problem: string;
  /** What to do about it. */
  readonly fix: string;
}

/** A catalogue of documented errors by stable code. */
export type ErrorCatalogue = Readonly<Record<string, ErrorSpec>>;

/** A {@link PlatformError} of a catalogue entry: its code, this occurrence's message, its fix. */
export function catalogueError<C extends ErrorCatalogue>(
  catalogue: C,
  code: keyof C & string,
  message: string,
  cause?: unknown,
): PlatformError {
  const spec = catalogue[code];
  if (!spec) throw new TypeError(`no error ${code} in the catalogue`);
  return new PlatformError(code, message, spec.fix, cause === undefined ? undefined : { cause });
}

/**
 * One line of an error that lists several problems, each with its own code of `catalogue`:
 * `  <where>: <problem> (<detail>). Fix: <fix>. [<code>]`.
 */
export function issueLine<C extends ErrorCatalogue>(
  catalogue: C,
  where: string,
  code: keyof C & string,
  detail: string,
): string {
  const spec = catalogue[code]!;
  return `  ${where}: ${spec.problem} (${detail}). Fix: ${spec.fix}. [${code}]`;
}

/** Codes shared by several tools, and the ones that group the detailed codes of a catalogue. */
export const PLATFORM_ERRORS = {
  ERR_CONFIG_INVALID: {
    problem:
      'the platform config (platform/config/platform.ts) has one or more invalid values; each is listed with its own code',
    fix: 'fix each listed value as its line says, then run `npm run synth` again',
  },
  ERR_ROUTE_INVALID: {
    problem:
      'the route table (the routes of platform/components.ts) has one or more invalid routes; each is listed with its own code',
    fix: 'fix each listed route as its line says, then run `npm run synth` again',
  },
  ERR_COMPONENT_INVALID: {
    problem:
      'the component registry (platform/components.ts) has one or more inconsistent entries; each is listed with its own code',
    fix: 'fix each listed entry as its line says, then run `npm run synth` again',
  },
  ERR_MANIFEST_INVALID: {
    problem: 'a synthesized object breaks one of the manifest rules below; nothing was written',
    fix: 'fix the construct that produced the object; an image that cannot run with a read-only root filesystem declares an exception with its reason',
  },
  ERR_CLUSTER_UNREACHABLE: {
    problem:
      'a tool that talks to the cluster could not reach it with kubectl, or the cluster refused a request',
    fix: 'start the cluster or select the right context (`kubectl config use-context`, or --context), then run the command again',
  },
  ERR_SECRET_CONFLICT: {
    problem:
      '`npm run bootstrap:secrets` found two copies of a client secret (Keycloak’s keycloak-realm and the application’s Secret) with different values',
    fix: 'delete the copy that is wrong (usually the application’s) and run `npm run bootstrap:secrets` again; it copies the other value',
  },
  ERR_SECRET_INPUT_MISSING: {
    problem:
      '`npm run bootstrap:secrets` needs a value only you have: the fleet service’s access token for an https gitops.repoURL, or the SSH host keys of an ssh git host that platform/git-remote.ts does not pin; nothing was created',
    fix: 'give the value the message names (`--git-token-file <file>`, or KITT4SME_FLEET_GIT_TOKEN_FILE naming the file, for the token; `--git-known-hosts <file>` for host keys) and run the command again',
  },
  ERR_TOOL_MISSING: {
    problem: 'a command-line tool the command needs is not installed',
    fix: 'install the tool the message names, then run the command again',
  },
  ERR_IMAGE_SERVICE_UNKNOWN: {
    problem:
      '`npm run image:contents` was given a service that has no image build (no services/<name>/tsconfig.build.json naming its entry point)',
    fix: 'pass one of the services the message lists with --service',
  },
  ERR_IMAGE_OUT_NOT_EMPTY: {
    problem: '`npm run image:contents` refuses to write into a directory that already has files',
    fix: 'pass a new or empty directory with --out (or delete the old tree first)',
  },
  ERR_IMAGE_IMPORT_UNDECLARED: {
    problem:
      'the compiled service imports a package that the root package.json does not list under dependencies (a devDependency is not installed in the image)',
    fix: 'add the package to dependencies with `npm install --save-exact <package>` (or remove the import), then run the command again',
  },
  ERR_IMAGE_IMPORT_UNRESOLVED: {
    problem:
      'the assembled image tree cannot run as built: an import or asset it needs is missing, an import cannot be followed (a computed specifier), or a package version differs from package-lock.json',
    fix: 'make the import a string literal (or the asset a `new URL(<literal>, import.meta.url)`), run `npm install` so package-lock.json matches package.json, then run the command again',
  },
  ERR_IMAGE_BUILD_FAILED: {
    problem:
      'a step of `npm run image:contents` failed: the TypeScript compile of the service or the npm install of its production dependencies',
    fix: 'read the output of the step above the message (run `npm run typecheck` for a compile error; check the npm cache or the registry for an install error), then run the command again',
  },
  ERR_RELEASE_MISMATCH: {
    problem:
      'a release tag must be v<package.json version>, and the component registry must pin every image the release builds at that version',
    fix: 'bump "version" in package.json and the tag of each image the message names in platform/components.ts together (then `npm run synth` and commit), and tag that commit v<version>',
  },
} as const satisfies ErrorCatalogue;
