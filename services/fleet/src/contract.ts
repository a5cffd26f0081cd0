/**
 * The fleet service's parts and how they meet (issue 20): the store (git: the records and the
 * commits that change them), the observer (Kubernetes and Argo CD: what runs), the status that
 * joins them per agent × host, and the rollout runner that moves group deploys and upgrades wave
 * by wave. Each part is built against these interfaces, so each is tested with the real thing
 * behind it (a real git server, a real kube-apiserver) and the app wires them.
 */
import type { Fleet, FleetFile } from '../../../platform/fleet/resolve.js';
import type { HostStatus, TargetStatus } from '../../../platform/fleet/status.js';
import type { AppliedRecord, RecordRef } from '../../../platform/fleet/write.js';

/** Who a write is for: the calling user, the author of its commit. */
export interface Author {
  readonly name: string;
  readonly email: string;
}

/** The records at one commit of the GitOps repository. */
export interface Snapshot {
  /** The commit (full hash) the records were read at. */
  readonly commit: string;
  readonly files: readonly FleetFile[];
  readonly fleet: Fleet;
  /**
   * A record's raw document (as in git, defaults not applied) and its ETag: a strong validator
   * that changes iff the record's content changes (`"<16 hex>"`, quotes included).
   */
  record(
    ref: RecordRef,
  ): { readonly raw: Record<string, unknown>; readonly etag: string } | undefined;
}

/** A precondition of a write: the record must still have this ETag (RFC 9110 If-Match). */
export interface IfMatch {
  readonly ref: RecordRef;
  readonly etag: string;
}

/** One change to the records, computed from the snapshot it is applied to. */
export interface Edit {
  /** Records to create or replace, as raw documents (the writer validates them). */
  readonly put?: readonly Record<string, unknown>[];
  readonly remove?: readonly RecordRef[];
}

/** A write the store commits and pushes. */
export interface ChangeRequest {
  readonly author: Author;
  /** The commit message's subject (the store adds the body: the caller and the records). */
  readonly message: string;
  readonly dryRun?: boolean;
  readonly ifMatch?: readonly IfMatch[];
  /**
   * The change, from the current snapshot. Pure: when the push is refused because the remote
   * moved, the store fetches and calls it again on the new snapshot (then re-checks ifMatch).
   * What it throws (a PlatformError with a code) stops the write.
   */
  edit(snapshot: Snapshot): Edit;
}

/** What a write did. */
export interface ChangeResult {
  /** The pushed commit; absent on a dry run or when nothing changed. */
  readonly commit?: string;
  /** The commit it was based on. */
  readonly base: string;
  readonly dryRun: boolean;
  /** A unified diff of the record files (`a/fleet/...`, `b/fleet/...`), empty when unchanged. */
  readonly diff: string;
  readonly records: readonly AppliedRecord[];
  readonly deleted: readonly string[];
  /** The records after the write (on a dry run: as they would be). */
  readonly after: Snapshot;
}

/**
 * The GitOps repository: one writer at a time; every write is a commit authored as the caller
 * and pushed; a concurrent change of the same record is a 409 (ERR_FLEET_CONFLICT with the
 * current ETag), never a lost update.
 */
export interface FleetStore {
  /** The records at the remote's head (fetched when older than the store's refresh interval). */
  snapshot(opts?: { readonly fresh?: boolean }): Promise<Snapshot>;
  change(req: ChangeRequest): Promise<ChangeResult>;
  /** The record's earlier versions, newest first (for roll back): commit and raw document. */
  history(
    ref: RecordRef,
    limit?: number,
  ): Promise<readonly { readonly commit: string; readonly raw: Record<string, unknown> }[]>;
}

/** What runs, per host and per agent × host, judged against a snapshot's records. */
export interface FleetStatus {
  /** The commit of the records judged. */
  readonly commit: string;
  readonly observedAt: string;
  readonly hosts: readonly HostStatus[];
  readonly targets: readonly TargetStatus[];
}

/** Reads Kubernetes (nodes, leases, Deployments, pods) and judges each target. */
export interface StatusSource {
  status(snapshot: Snapshot, opts?: { readonly tenants?: readonly string[] }): Promise<FleetStatus>;
}
