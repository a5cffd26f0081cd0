/**
 * The API-key digests of every tenant, published to the tenancy policy: an OPA bundle the
 * gateway's OPA polls (`GET /bundles/apikeys.tar.gz`, with ETags) and the data the service's
 * own in-process policy reads.
 *
 * The source of truth is the IoT Agents themselves: every service group of every configured
 * tenant, read over the agents' north APIs (service path `/*`), so a group a platform admin
 * creates on an agent directly is covered too. Only SHA-256 digests leave the service.
 *
 * Freshness (NOTE 1): the data is at most {@link ApiKeyPublisherOptions.maxAgeMs} old when
 * served, and a group written through this service makes it stale at once; OPA polls every
 * `API_KEYS_POLL_SECONDS`. So a new group's key works, and a deleted group's key is refused,
 * within `API_KEYS_FRESHNESS_SECONDS` (10 s) at the gateway.
 */
import { gzipSync } from 'node:zlib';

import type { DeviceProtocol } from '../../../platform/components.js';
import { DEVICE_PROTOCOLS } from '../../../platform/components.js';
import type { ApiKeyData, TenantApiKey } from '../../../platform/policy-data.js';
import { API_KEYS_MAX_AGE_MS, API_KEYS_ROOT, apiKeyData } from '../../../platform/policy-data.js';
import { deviceRoutePrefix } from '../../../platform/routes.js';
import type { IotAgentClient } from './fiware-client.js';

/** Options of {@link ApiKeyPublisher}. */
export interface ApiKeyPublisherOptions {
  /** The north API of the IoT Agent of each device protocol. */
  readonly agents: Readonly<Record<DeviceProtocol, IotAgentClient>>;
  /** The configured tenants (fiware-service names). */
  readonly tenants: readonly string[];
  /** How old the data may be when served or handed to the policy. @default API_KEYS_MAX_AGE_MS */
  readonly maxAgeMs?: number;
  /** Called with every new revision (the in-process policy takes it). */
  readonly onChange?: (data: ApiKeyData) => void;
  /** The clock. @default Date.now */
  readonly now?: () => number;
}

/** The bundle as served: its bytes and the ETag (the data's revision). */
export interface ApiKeyBundle {
  readonly etag: string;
  readonly data: ApiKeyData;
  readonly body: Buffer;
}

/** Reads, caches and publishes the tenants' API-key digests. */
export class ApiKeyPublisher {
  private readonly maxAgeMs: number;
  private readonly now: () => number;
  private cached?: { at: number; bundle: ApiKeyBundle };
  /** The last revision handed to onChange. */
  private published?: ApiKeyBundle;
  private inFlight?: { generation: number; promise: Promise<ApiKeyBundle> };
  /** Bumped by invalidate(): a read that started before it cannot be cached after it. */
  private generation = 0;

  constructor(private readonly opts: ApiKeyPublisherOptions) {
    this.maxAgeMs = opts.maxAgeMs ?? API_KEYS_MAX_AGE_MS;
    this.now = opts.now ?? Date.now;
  }

  /** The current bundle: cached when fresh, else read from the agents (one read at a time). */
  async bundle(): Promise<ApiKeyBundle> {
    const cached = this.cached;
    if (cached && this.now() - cached.at < this.maxAgeMs) return cached.bundle;
    // A read that started before the last invalidate() cannot answer for after it: join a
    // read only of the current generation.
    if (this.inFlight?.generation !== this.generation) {
      const generation = this.generation;
      const promise: Promise<ApiKeyBundle> = this.read(generation).finally(() => {
        if (this.inFlight?.promise === promise) this.inFlight = undefined;
      });
      this.inFlight = { generation, promise };
    }
    return this.inFlight.promise;
  }

  /** Forgets the cached data: a group was written, so the next read goes to the agents. */
  invalidate(): void {
    this.generation += 1;
    this.cached = undefined;
  }

  /** Reads now and publishes (after a group write, so the in-process policy has it at once). */
  async refresh(): Promise<ApiKeyBundle> {
    this.invalidate();
    return this.bundle();
  }

  private async read(generation: number): Promise<ApiKeyBundle> {
    const at = this.now();
    const keys: TenantApiKey[] = [];
    await Promise.all(
      DEVICE_PROTOCOLS.flatMap((protocol) =>
        this.opts.tenants.map(async (tenant) => {
          const groups = await this.opts.agents[protocol].listTenantGroups(tenant);
          const route = deviceRoutePrefix(protocol);
          for (const g of groups) {
            if (typeof g.apikey === 'string' && g.apikey !== '') {
              keys.push({ route, key: g.apikey, tenant });
            }
          }
        }),
      ),
    );
    const data = apiKeyData(keys);
    const previous = this.published;
    const bundle =
      previous?.etag === data.revision
        ? previous
        : { etag: data.revision, data, body: bundleOf(data) };
    // Read before a write that came since: its caller asked before the write, but the data
    // may miss it, so it is neither kept nor published (the current generation's read is).
    if (generation !== this.generation) return bundle;
    this.cached = { at, bundle };
    if (previous?.etag !== bundle.etag) {
      this.published = bundle;
      this.opts.onChange?.(data);
    }
    return bundle;
  }
}

/**
 * An OPA bundle (a gzipped tar) holding the data at `kitt4sme/apikeys` and a manifest that
 * claims only that root, so it sits beside the policy OPA loads from files.
 */
export function bundleOf(data: ApiKeyData): Buffer {
  const manifest = { revision: data.revision, roots: [API_KEYS_ROOT] };
  return gzipSync(
    Buffer.concat([
      tarEntry('.manifest', JSON.stringify(manifest)),
      tarEntry(`${API_KEYS_ROOT}/data.json`, JSON.stringify(data)),
      Buffer.alloc(1024), // two zero blocks end the archive
    ]),
  );
}

/** One regular file of a ustar archive, with a fixed time, owner and mode. */
function tarEntry(name: string, content: string): Buffer {
  const body = Buffer.from(content, 'utf8');
  const header = Buffer.alloc(512);
  const field = (offset: number, length: number, value: string) =>
    header.write(value, offset, length, 'ascii');
  const octal = (offset: number, length: number, value: number) =>
    field(offset, length, `${value.toString(8).padStart(length - 1, '0')}\0`);
  field(0, 100, name);
  octal(100, 8, 0o644);
  octal(108, 8, 0);
  octal(116, 8, 0);
  octal(124, 12, body.length);
  octal(136, 12, 0);
  field(148, 8, ' '.repeat(8));
  field(156, 1, '0');
  field(257, 6, 'ustar\0');
  field(263, 2, '00');
  let sum = 0;
  for (const byte of header) sum += byte;
  field(148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  const padding = Buffer.alloc((512 - (body.length % 512)) % 512);
  return Buffer.concat([header, body, padding]);
}

/** A strong ETag of a revision, as HTTP writes it. */
export function etagOf(revision: string): string {
  return `"${revision}"`;
}

/** Whether an If-None-Match header names the revision (a list, `*` or weak forms included). */
export function matchesEtag(ifNoneMatch: string | undefined, revision: string): boolean {
  if (!ifNoneMatch) return false;
  if (ifNoneMatch.trim() === '*') return true;
  return ifNoneMatch
    .split(',')
    .map((t) => t.trim().replace(/^W\//, ''))
    .includes(etagOf(revision));
}

// NOTE
// 1. Why poll and not push. Each OPA replica pulls the bundle itself (OPA's bundle plugin,
//    with If-None-Match: an unchanged bundle costs a 304), so the service needs to know no
//    OPA address, a restarted OPA catches up by itself, and replicas of this service serve
//    the same revision (it depends on the keys only). Until OPA has activated a bundle, and
//    in-process until the first read, device routes answer 503: fail closed, never open.
