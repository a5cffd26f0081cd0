/**
 * The schema of the platform config (platform/config/platform.ts) and its validation.
 *
 * `loadPlatformContext()` (platform/context.ts) validates the config, with the pins of the
 * component registry, before anything is built. Every rule has a stable error code,
 * a description of the problem and the fix; `docs/errors.md` is generated from
 * {@link CONFIG_ERRORS}, so the documentation and the messages cannot drift apart.
 */
import { z } from 'zod';

import type { ChartId, ImageId } from '../components.js';
import { CHART_IDS, IMAGE_IDS } from '../components.js';
import { PlatformError } from '../errors.js';
import { SIZE_PROFILES } from './profiles.js';

/**
 * The in-cluster git server of the local-only mode (minikube/README.md): a fork without a
 * remote sets gitops.repoURL to this and `minikube/up.sh` serves the local repository there.
 */
export const LOCAL_GIT = {
  service: 'gitops-repo',
  /** The read-only daemon Argo CD's repo server fetches from. */
  port: 9418,
  /**
   * The daemon that accepts pushes: on the pod's loopback, reached by a port-forward or, through
   * the server's sidecar, by the fleet service's mesh identity only (cdk8s/lib/gitops/local-git.ts).
   */
  pushPort: 9419,
  repo: 'platform.git',
} as const;
export const LOCAL_GIT_REPO_URL = `git://${LOCAL_GIT.service}.argocd.svc.cluster.local/${LOCAL_GIT.repo}`;

/** One documented config error: what it means and how to solve it. */
export interface ConfigErrorSpec {
  /** What was wrong, phrased for the person editing platform.ts. */
  readonly problem: string;
  /** What to do about it. */
  readonly fix: string;
}

/** Every config error the platform can report, by stable code. */
export const CONFIG_ERRORS = {
  ERR_CONFIG_UNKNOWN_KEY: {
    problem: 'the config has a key the platform does not know (often a typo)',
    fix: 'remove the key or correct its spelling; docs/config.md lists every key',
  },
  ERR_CONFIG_TYPE: {
    problem: 'a value is missing or has the wrong type',
    fix: 'give the value the type docs/config.md names for this key',
  },
  ERR_CONFIG_REPO_URL: {
    problem: 'gitops.repoURL is not a git URL Argo CD can clone',
    fix: `use an https URL (https://github.com/<you>/<repo>.git) or an ssh URL (git@host:<you>/<repo>.git) of your fork, or ${LOCAL_GIT_REPO_URL} for the local-only mode (minikube/README.md)`,
  },
  ERR_CONFIG_REVISION: {
    problem: 'gitops.targetRevision is not a branch, tag or commit name',
    fix: 'use a branch (main), a tag (v1.2.0) or a commit SHA, without spaces',
  },
  ERR_CONFIG_HOST: {
    problem: 'ingress.host is not a DNS host name',
    fix: 'use a lower-case host name such as kitt4sme.localhost, without scheme, port or path',
  },
  ERR_CONFIG_NAMESPACE: {
    problem:
      'a namespace name is not a DNS label, is reserved (default, kube-*, istio-system, argocd) or is used twice',
    fix: 'use distinct lower-case names of 1-63 letters, digits and "-", e.g. fiware and identity',
  },
  ERR_CONFIG_TENANTS_EMPTY: {
    problem: 'no tenant is configured',
    fix: 'add at least one tenant to `tenants`, e.g. { name: "manufracture" }',
  },
  ERR_CONFIG_DISPLAY_NAME: {
    problem:
      'a tenant display name contains "$" (it reaches the Keycloak realm file, where ${...} would be expanded from Keycloak’s environment)',
    fix: 'write the display name without "$"',
  },
  ERR_CONFIG_TENANT_NAME: {
    problem:
      'a tenant name is not a valid FIWARE service name (Orion lower-cases service names and accepts only letters, digits and "_")',
    fix: 'use 1-50 characters: lower-case letters, digits and "_", starting with a letter',
  },
  ERR_CONFIG_TENANT_DUPLICATE: {
    problem: 'two tenants have the same name',
    fix: 'give every tenant a distinct name',
  },
  ERR_CONFIG_SERVICE_PATH: {
    problem:
      'a tenant service path is not a FIWARE service path (/ or up to 10 levels of /name, names of letters, digits and "_")',
    fix: 'list absolute service paths such as /floor1 or /plant/line2, or leave servicePaths out to allow every path',
  },
  ERR_CONFIG_PROFILE: {
    problem: 'profile is not a known size profile',
    fix: 'use "laptop" (one replica of everything, fits a 4 vCPU / 8 GiB minikube) or "production"',
  },
  ERR_CONFIG_STORAGE_CLASS: {
    problem: 'storage.storageClass is not a Kubernetes object name',
    fix: 'use the name of a StorageClass of your cluster (`kubectl get storageclass`), or null for the cluster default',
  },
  ERR_CONFIG_STORAGE_SIZE: {
    problem: 'a storage size is not a Kubernetes binary quantity',
    fix: 'write sizes as a whole number with a binary unit, e.g. 512Mi, 10Gi or 1Ti',
  },
  ERR_CONFIG_STORAGE_TOO_SMALL: {
    problem: 'a storage size is below the minimum the component needs to start',
    fix: 'raise the size to at least the minimum named in the message',
  },
  ERR_CONFIG_BACKUP_SCHEDULE: {
    problem:
      'backup.schedule is not a cron schedule a Kubernetes CronJob accepts (five fields: minute hour day-of-month month day-of-week, or @daily, @hourly, @weekly, @monthly, @yearly)',
    fix: 'write a schedule such as "30 2 * * *" (every night at 02:30) or "@daily"; each field a number in its range, *, a range a-b, a step */n or a list a,b',
  },
  ERR_CONFIG_BACKUP_KEEP: {
    problem: 'backup.keep is not a whole number from 1 to 100',
    fix: 'keep at least one backup per database, e.g. 7 for a week of nightly backups',
  },
  ERR_CONFIG_TIME_ZONE: {
    problem: 'backup.timeZone is not an IANA time zone name',
    fix: 'use a name of the tz database such as Etc/UTC or Europe/Rome (`timedatectl list-timezones`)',
  },
  ERR_CONFIG_REALM: {
    problem: 'identity.realm is not a valid Keycloak realm name',
    fix: 'use 1-36 characters: lower-case letters, digits and "-", starting with a letter',
  },
  ERR_CONFIG_IMAGE_REPOSITORY: {
    problem: 'an image repository is not a valid image reference without tag',
    fix: 'write the repository only, e.g. quay.io/fiware/orion; put the version in `tag`',
  },
  ERR_CONFIG_IMAGE_TAG: {
    problem: 'an image tag is not pinned (latest, a floating major, or empty)',
    fix: 'pin an exact release tag such as 4.2.0 or 17.6-alpine, or a sha256 digest',
  },
  ERR_CONFIG_CHART_VERSION: {
    problem: 'a Helm chart version is not an exact semantic version',
    fix: 'pin an exact chart version such as 1.28.0 (no ranges, no "latest")',
  },
  ERR_CONFIG_CHART_REPO: {
    problem: 'a Helm chart repository is not an https URL',
    fix: 'use the https URL of the chart repository, e.g. https://istio-release.storage.googleapis.com/charts',
  },
  ERR_CONFIG_KUBERNETES_VERSION: {
    problem: 'cluster.kubernetesVersion is not an exact Kubernetes release',
    fix: 'write the exact release with its v, such as v1.36.3, inside the range Istio supports (see charts.istio.why)',
  },
  ERR_CONFIG_AGENTS_QUOTA: {
    problem:
      'a value of agents.quota or agents.defaultResources is not a positive whole number, is below its minimum, or a default exceeds its limit or the quota',
    fix: 'give CPU in millicores and memory in MiB, requests at most limits, defaults inside the quota (docs/config.md)',
  },
  ERR_CONFIG_WHY: {
    problem: 'a pinned version has no reason',
    fix: 'add a one-line `why`: why this release, and what it must stay compatible with',
  },
} as const satisfies Record<string, ConfigErrorSpec>;

/** A stable config error code. */
export type ConfigErrorCode = keyof typeof CONFIG_ERRORS;

/** One problem found in the config. */
export interface ConfigIssue {
  /** Where, as written in platform.ts, e.g. `tenants[1].name`. */
  readonly path: string;
  readonly code: ConfigErrorCode;
  /** The offending value, when there is one. */
  readonly received?: unknown;
  /** Extra detail beyond the documented problem, e.g. the minimum size. */
  readonly detail?: string;
}

/** Thrown when the platform config is invalid; nothing has been synthesized. */
export class ConfigError extends PlatformError {
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[]) {
    const lines = issues.map(formatIssue);
    super(
      'ERR_CONFIG_INVALID',
      `the platform config is invalid (${issues.length} problem${issues.length === 1 ? '' : 's'}):\n${lines.join('\n')}`,
      'edit platform/config/platform.ts as each line says (a line starting with COMPONENTS or CHARTS is a pin of the component registry, platform/components.ts), then run `npm run synth` again',
    );
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

/** Renders one issue as `path: problem (got value). Fix: fix. [CODE]`. */
export function formatIssue(issue: ConfigIssue): string {
  const spec = CONFIG_ERRORS[issue.code];
  const got = issue.received === undefined ? '' : ` (got ${JSON.stringify(issue.received)})`;
  const detail = issue.detail ? `; ${issue.detail}` : '';
  return `  ${issue.path || '(root)'}: ${spec.problem}${got}${detail}. Fix: ${spec.fix}. [${issue.code}]`;
}

// ---------------------------------------------------------------------------------------------
// Rules
// ---------------------------------------------------------------------------------------------

const TENANT_NAME = /^[a-z][a-z0-9_]{0,49}$/;
const DNS_HOST =
  /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;
const DNS_SUBDOMAIN =
  /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const REPO_URL = /^(https:\/\/[^\s/]+\/\S+|git@[^\s:]+:\S+|ssh:\/\/\S+)$/;
const KUBERNETES_VERSION = /^v1\.[0-9]+\.[0-9]+$/;
const REVISION = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,254}$/;
const QUANTITY = /^[1-9][0-9]*(Ki|Mi|Gi|Ti)$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const RESERVED_NAMESPACES = ['default', 'istio-system', 'argocd'];
const REALM = /^[a-z][a-z0-9-]{0,35}$/;
const IMAGE_REPOSITORY =
  /^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(\/[a-z0-9]+([._-][a-z0-9]+)*)+$|^[a-z0-9]+([._-][a-z0-9]+)*$/;
/** Pinned: an exact release (at least major.minor) with an optional variant suffix, or a digest. */
export const PINNED_TAG =
  /^(v?[0-9]+\.[0-9]+(\.[0-9]+)?([-+._][0-9A-Za-z.-]+)?|sha256:[a-f0-9]{64})$/;
/** Whether an image reference names a pinned tag (`repo:1.2.3`) or a digest (`repo@sha256:...`). */
export function isPinnedImage(ref: string): boolean {
  const at = ref.indexOf('@');
  if (at >= 0) return ref.slice(at + 1).startsWith('sha256:') && PINNED_TAG.test(ref.slice(at + 1));
  const colon = ref.lastIndexOf(':');
  if (colon < 0 || ref.indexOf('/', colon) >= 0) return false;
  const tag = ref.slice(colon + 1);
  return !tag.startsWith('sha256:') && PINNED_TAG.test(tag);
}

/** An exact semantic version, e.g. a Helm chart version. */
export const EXACT_SEMVER = /^v?[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$/;

const code = (c: ConfigErrorCode) => ({ error: c });

const why = z.string().trim().min(8, code('ERR_CONFIG_WHY'));

/** A pinned image: the registry's, or a config override of it. */
export const imageSchema = z.strictObject({
  repository: z.string().regex(IMAGE_REPOSITORY, code('ERR_CONFIG_IMAGE_REPOSITORY')),
  tag: z.string().regex(PINNED_TAG, code('ERR_CONFIG_IMAGE_TAG')),
  why,
});

/** A pinned chart: the registry's, or a config override of it. */
export const chartSchema = z.strictObject({
  repoURL: z.string().regex(/^https:\/\/\S+$/, code('ERR_CONFIG_CHART_REPO')),
  version: z.string().regex(EXACT_SEMVER, code('ERR_CONFIG_CHART_VERSION')),
  /** The release of the application the chart installs, where something else must match it. */
  appVersion: z.string().regex(EXACT_SEMVER, code('ERR_CONFIG_CHART_VERSION')).optional(),
  /** The registry and namespace of the chart's images, where the values set it. */
  imageHub: z.string().regex(IMAGE_REPOSITORY, code('ERR_CONFIG_IMAGE_REPOSITORY')).optional(),
  why,
});

const quantity = z.string().regex(QUANTITY, code('ERR_CONFIG_STORAGE_SIZE'));

/** Storage each stateful component needs at the very least to start; synth rejects less. */
export const MINIMUM_STORAGE = {
  mongodb: '1Gi',
  cratedb: '1Gi',
  keycloakPostgres: '512Mi',
  grafana: '256Mi',
  prometheus: '1Gi',
  monitor: '64Mi',
} as const;

/** Storage each backup volume needs at the very least; synth rejects less. */
export const MINIMUM_BACKUP_STORAGE = {
  mongodb: '1Gi',
  cratedb: '1Gi',
  keycloakPostgres: '256Mi',
} as const;

/** The @-shorthands a CronJob schedule may be (robfig/cron, which the CronJob controller uses). */
const CRON_MACROS = [
  '@yearly',
  '@annually',
  '@monthly',
  '@weekly',
  '@daily',
  '@midnight',
  '@hourly',
];
/** The range of each of the five cron fields: minute, hour, day of month, month, day of week. */
const CRON_RANGES: readonly (readonly [number, number])[] = [
  [0, 59],
  [0, 23],
  [1, 31],
  [1, 12],
  [0, 7],
];

/**
 * Whether `schedule` is a standard five-field cron expression (numbers only, no names) or one
 * of the @-shorthands, with every number inside its field's range.
 * @see https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/#schedule-syntax
 */
export function isCronSchedule(schedule: string): boolean {
  if (CRON_MACROS.includes(schedule)) return true;
  const fields = schedule.trim().split(/\s+/);
  if (fields.length !== 5) return false;
  return fields.every((field, i) => {
    const [lo, hi] = CRON_RANGES[i]!;
    const inRange = (n: string) => /^\d+$/.test(n) && Number(n) >= lo && Number(n) <= hi;
    return field.split(',').every((part) => {
      const m = /^(\*|\d+|\d+-\d+)(?:\/(\d+))?$/.exec(part);
      if (!m) return false;
      const [, base, step] = m;
      if (step !== undefined && !(Number(step) >= 1 && Number(step) <= hi)) return false;
      if (base === '*') return true;
      const [a, b] = base!.split('-');
      return inRange(a!) && (b === undefined || (inRange(b) && Number(a) <= Number(b)));
    });
  });
}

/** An IANA time zone name as the CronJob's `timeZone` takes it (`Etc/UTC`, `Europe/Rome`). */
const TIME_ZONE = /^(UTC|[A-Z][A-Za-z_+-]*(\/[A-Za-z0-9_+-]+){1,2})$/;

const SERVICE_PATH = /^\/$|^(\/[A-Za-z0-9_]{1,50}){1,10}$/;

const tenantSchema = z.strictObject({
  name: z.string().regex(TENANT_NAME, code('ERR_CONFIG_TENANT_NAME')),
  // No `$`: the name reaches the realm file, where Keycloak expands ${...} from its environment.
  displayName: z
    .string()
    .trim()
    .min(1)
    .max(100)
    .regex(/^[^$]*$/, code('ERR_CONFIG_DISPLAY_NAME'))
    .optional(),
  servicePaths: z
    .array(z.string().regex(SERVICE_PATH, code('ERR_CONFIG_SERVICE_PATH')))
    .min(1, code('ERR_CONFIG_SERVICE_PATH'))
    .optional(),
});

const platformSchema = z.strictObject({
  gitops: z.strictObject({
    repoURL: z
      .string()
      .refine((u) => u === LOCAL_GIT_REPO_URL || REPO_URL.test(u), code('ERR_CONFIG_REPO_URL')),
    targetRevision: z.string().regex(REVISION, code('ERR_CONFIG_REVISION')),
  }),
  cluster: z.strictObject({
    kubernetesVersion: z.string().regex(KUBERNETES_VERSION, code('ERR_CONFIG_KUBERNETES_VERSION')),
    why,
  }),
  ingress: z.strictObject({
    host: z.string().regex(DNS_HOST, code('ERR_CONFIG_HOST')),
    tls: z.boolean(),
  }),
  namespaces: z.strictObject({
    platform: z.string().regex(DNS_LABEL, code('ERR_CONFIG_NAMESPACE')),
    identity: z.string().regex(DNS_LABEL, code('ERR_CONFIG_NAMESPACE')),
  }),
  tenants: z.array(tenantSchema).min(1, code('ERR_CONFIG_TENANTS_EMPTY')),
  profile: z.enum(SIZE_PROFILES, code('ERR_CONFIG_PROFILE')),
  storage: z.strictObject({
    storageClass: z.string().regex(DNS_SUBDOMAIN, code('ERR_CONFIG_STORAGE_CLASS')).nullable(),
    sizes: z.strictObject({
      mongodb: quantity,
      cratedb: quantity,
      keycloakPostgres: quantity,
      grafana: quantity,
      prometheus: quantity,
      monitor: quantity,
    }),
  }),
  backup: z.strictObject({
    schedule: z.string().refine(isCronSchedule, code('ERR_CONFIG_BACKUP_SCHEDULE')),
    timeZone: z.string().regex(TIME_ZONE, code('ERR_CONFIG_TIME_ZONE')),
    keep: z
      .number(code('ERR_CONFIG_BACKUP_KEEP'))
      .int(code('ERR_CONFIG_BACKUP_KEEP'))
      .min(1, code('ERR_CONFIG_BACKUP_KEEP'))
      .max(100, code('ERR_CONFIG_BACKUP_KEEP')),
    // Absent: the StorageClass of `storage`; null: the cluster default.
    storageClass: z
      .string()
      .regex(DNS_SUBDOMAIN, code('ERR_CONFIG_STORAGE_CLASS'))
      .nullable()
      .optional(),
    sizes: z.strictObject({
      mongodb: quantity,
      cratedb: quantity,
      keycloakPostgres: quantity,
    }),
  }),
  identity: z.strictObject({
    realm: z.string().regex(REALM, code('ERR_CONFIG_REALM')),
    demoUsers: z.boolean(),
  }),
  // The namespaces of the tenants' agents (agents-<tenant>, platform/fleet/): a ResourceQuota
  // each, and the resources of an agent container that names none (LimitRange defaults too).
  agents: z.strictObject({
    quota: z.strictObject({
      requestsCpuMilli: z.number().int().min(100, code('ERR_CONFIG_AGENTS_QUOTA')),
      requestsMemoryMi: z.number().int().min(128, code('ERR_CONFIG_AGENTS_QUOTA')),
      limitsCpuMilli: z.number().int().min(100, code('ERR_CONFIG_AGENTS_QUOTA')),
      limitsMemoryMi: z.number().int().min(128, code('ERR_CONFIG_AGENTS_QUOTA')),
      pods: z.number().int().min(1, code('ERR_CONFIG_AGENTS_QUOTA')),
    }),
    defaultResources: z.strictObject({
      cpuRequestMilli: z.number().int().min(1, code('ERR_CONFIG_AGENTS_QUOTA')),
      cpuLimitMilli: z.number().int().min(1, code('ERR_CONFIG_AGENTS_QUOTA')),
      memoryRequestMi: z.number().int().min(1, code('ERR_CONFIG_AGENTS_QUOTA')),
      memoryLimitMi: z.number().int().min(1, code('ERR_CONFIG_AGENTS_QUOTA')),
    }),
  }),
  // Overrides of the registry's pins (platform/components.ts), e.g. a fork's own image.
  images: z
    .strictObject(
      Object.fromEntries(IMAGE_IDS.map((id) => [id, imageSchema.optional()])) as Record<
        ImageId,
        z.ZodOptional<typeof imageSchema>
      >,
    )
    .optional(),
  charts: z
    .strictObject(
      Object.fromEntries(CHART_IDS.map((id) => [id, chartSchema.optional()])) as Record<
        ChartId,
        z.ZodOptional<typeof chartSchema>
      >,
    )
    .optional(),
});

/** The platform config as written in platform.ts. */
export type PlatformConfigInput = z.input<typeof platformSchema>;

/** A validated platform config. */
export type PlatformConfig = Readonly<z.output<typeof platformSchema>>;
export type Tenant = PlatformConfig['tenants'][number];

/** Identity helper that gives platform.ts its types and editor completion. */
export function definePlatform(config: PlatformConfigInput): PlatformConfigInput {
  return config;
}

/**
 * Validates a config; returns it typed, or throws a {@link ConfigError} listing every problem.
 *
 * @throws ConfigError with one {@link ConfigIssue} per problem, each with a documented code.
 */
export function parsePlatformConfig(input: unknown): PlatformConfig {
  const result = platformSchema.safeParse(input);
  const issues: ConfigIssue[] = result.success
    ? []
    : result.error.issues.flatMap((i) => toIssues(i, input));
  if (result.success) issues.push(...semanticIssues(result.data));
  if (issues.length > 0) throw new ConfigError(issues);
  return result.data as PlatformConfig;
}

/**
 * Checks the pins of the component registry by the rules of the config's overrides; the
 * issues' paths start with `COMPONENTS.` or `CHARTS.` (platform/components.ts).
 */
export function registryPinIssues(
  images: Readonly<Record<string, unknown>>,
  charts: Readonly<Record<string, unknown>>,
): ConfigIssue[] {
  const check = (schema: z.ZodType, value: unknown, base: string) => {
    const r = schema.safeParse(value);
    return r.success
      ? []
      : r.error.issues.flatMap((i) =>
          toIssues(i, value).map((x) => ({ ...x, path: joinPath(base, x.path) })),
        );
  };
  return [
    ...Object.entries(images).flatMap(([id, v]) => check(imageSchema, v, `COMPONENTS.${id}.image`)),
    ...Object.entries(charts).flatMap(([id, v]) => check(chartSchema, v, `CHARTS.${id}`)),
  ];
}

function toIssues(issue: z.core.$ZodIssue, input: unknown): ConfigIssue[] {
  const path = formatPath(issue.path);
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((k) => ({
      path: joinPath(path, k),
      code: 'ERR_CONFIG_UNKNOWN_KEY' as const,
    }));
  }
  const received = valueAt(input, issue.path);
  if (issue.message in CONFIG_ERRORS) {
    return [{ path, code: issue.message as ConfigErrorCode, received }];
  }
  return [{ path, code: 'ERR_CONFIG_TYPE', received, detail: issue.message }];
}

function semanticIssues(config: z.output<typeof platformSchema>): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const seen = new Map<string, number>();
  config.tenants.forEach((t, i) => {
    // Names are lower case already (TENANT_NAME), as Orion stores service names.
    const key = t.name;
    const first = seen.get(key);
    if (first !== undefined) {
      issues.push({
        path: `tenants[${i}].name`,
        code: 'ERR_CONFIG_TENANT_DUPLICATE',
        received: t.name,
        detail: `tenants[${first}] has the same name`,
      });
    } else {
      seen.set(key, i);
    }
  });
  const { platform, identity } = config.namespaces;
  for (const [key, ns] of Object.entries(config.namespaces)) {
    if (RESERVED_NAMESPACES.includes(ns) || ns.startsWith('kube-')) {
      issues.push({
        path: `namespaces.${key}`,
        code: 'ERR_CONFIG_NAMESPACE',
        received: ns,
        detail: 'reserved',
      });
    }
  }
  if (platform === identity) {
    issues.push({
      path: 'namespaces.identity',
      code: 'ERR_CONFIG_NAMESPACE',
      received: identity,
      detail: 'the platform namespace has the same name',
    });
  }
  for (const [key, minimum] of Object.entries(MINIMUM_STORAGE)) {
    const size = config.storage.sizes[key as keyof typeof MINIMUM_STORAGE];
    if (quantityBytes(size) < quantityBytes(minimum)) {
      issues.push({
        path: `storage.sizes.${key}`,
        code: 'ERR_CONFIG_STORAGE_TOO_SMALL',
        received: size,
        detail: `the minimum is ${minimum}`,
      });
    }
  }
  const { quota, defaultResources: d } = config.agents;
  const over: [string, number, number][] = [
    ['agents.defaultResources.cpuRequestMilli', d.cpuRequestMilli, d.cpuLimitMilli],
    ['agents.defaultResources.memoryRequestMi', d.memoryRequestMi, d.memoryLimitMi],
    ['agents.defaultResources.cpuLimitMilli', d.cpuLimitMilli, quota.limitsCpuMilli],
    ['agents.defaultResources.memoryLimitMi', d.memoryLimitMi, quota.limitsMemoryMi],
    ['agents.quota.requestsCpuMilli', quota.requestsCpuMilli, quota.limitsCpuMilli],
    ['agents.quota.requestsMemoryMi', quota.requestsMemoryMi, quota.limitsMemoryMi],
  ];
  for (const [path, value, max] of over)
    if (value > max)
      issues.push({
        path,
        code: 'ERR_CONFIG_AGENTS_QUOTA',
        received: value,
        detail: `more than ${max}`,
      });
  for (const [key, minimum] of Object.entries(MINIMUM_BACKUP_STORAGE)) {
    const size = config.backup.sizes[key as keyof typeof MINIMUM_BACKUP_STORAGE];
    if (quantityBytes(size) < quantityBytes(minimum)) {
      issues.push({
        path: `backup.sizes.${key}`,
        code: 'ERR_CONFIG_STORAGE_TOO_SMALL',
        received: size,
        detail: `the minimum is ${minimum}`,
      });
    }
  }
  return issues;
}

const UNITS: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40 };

/** Bytes of a binary quantity such as `10Gi`. */
export function quantityBytes(q: string): number {
  const m = /^([0-9]+)(Ki|Mi|Gi|Ti)$/.exec(q);
  if (!m) throw new TypeError(`not a binary quantity: ${q}`);
  return Number(m[1]) * (UNITS[m[2]!] as number);
}

function formatPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>(
    (acc, seg) => (typeof seg === 'number' ? `${acc}[${seg}]` : joinPath(acc, String(seg))),
    '',
  );
}

function joinPath(base: string, key: string): string {
  return base ? `${base}.${key}` : key;
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let cur: unknown = input;
  for (const seg of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[seg];
  }
  return cur;
}
