/**
 * Test support: container images assembled on this machine, with no registry and no Docker,
 * reproducibly: a root filesystem made from pinned Debian packages (`apt-get download` of
 * the installed versions, unpacked with `dpkg-deb -x`) plus the files a test adds, packed by
 * Debian's umoci into an OCI image layout with a fixed creation time, no history and every
 * file's time set to the epoch, so the same inputs give the same image digest.
 */
import { spawnSync } from 'node:child_process';
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { TOOLS_DIR } from '../../toolchain/tools.js';

/** Runs a command to its end; throws with its stderr when it fails. */
export function run(cmd: string, args: readonly string[], cwd?: string): string {
  const r = spawnSync(cmd, args, {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.error) throw new Error(`${cmd} ${args.join(' ')}: ${r.error.message}`);
  if (r.status !== 0)
    throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** The installed version of a Debian package. */
export function debianVersion(pkg: string): string {
  const v = run('dpkg-query', ['-W', '-f', '${Version}', pkg]).trim();
  if (!v) throw new Error(`Debian package ${pkg} is not installed`);
  return v;
}

/** Where downloaded .deb files are kept, by name and version. */
const DEBS_DIR = join(TOOLS_DIR, 'debs');

/**
 * The .deb of `pkg` at its installed version, downloaded once into the tools cache (apt-get
 * download fetches exactly that version, so the image matches what the machine runs).
 */
export function debianPackageFile(pkg: string): string {
  const version = debianVersion(pkg);
  mkdirSync(DEBS_DIR, { recursive: true });
  const safe = (s: string) => s.replaceAll(':', '%3a');
  const want = readdirSync(DEBS_DIR).find(
    (f) => f.startsWith(`${pkg}_${safe(version)}_`) && f.endsWith('.deb'),
  );
  if (want) return join(DEBS_DIR, want);
  const staging = mkdtempSync(join(DEBS_DIR, '.download-'));
  try {
    run('apt-get', ['download', '-qq', `${pkg}=${version}`], staging);
    const [file] = readdirSync(staging).filter((f) => f.endsWith('.deb'));
    if (!file) throw new Error(`apt-get download ${pkg}=${version} wrote no .deb`);
    renameSync(join(staging, file), join(DEBS_DIR, file));
    return join(DEBS_DIR, file);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

/**
 * Unpacks Debian packages into `rootfs` (created), in the order given, then removes the
 * paths in `drop` (relative to the root): documentation, or a package's parts that do not run.
 */
export function debianRootfs(
  rootfs: string,
  packages: readonly string[],
  drop: readonly string[] = [],
): void {
  mkdirSync(rootfs, { recursive: true });
  for (const pkg of packages) run('dpkg-deb', ['-x', debianPackageFile(pkg), rootfs]);
  for (const p of ['usr/share/doc', 'usr/share/man', 'usr/share/lintian', ...drop])
    rmSync(join(rootfs, p), { recursive: true, force: true });
}

/** The image's runtime configuration. */
export interface ImageConfig {
  /** `uid:gid`. */
  readonly user: string;
  readonly entrypoint: readonly string[];
  readonly cmd?: readonly string[];
  readonly workingDir?: string;
  readonly env?: readonly string[];
}

/** An assembled image: an OCI image layout directory and what it is called. */
export interface AssembledImage {
  /** The OCI image layout (index.json, blobs/). */
  readonly layout: string;
  /** The tag inside the layout. */
  readonly tag: string;
  /** `sha256:...` of the image manifest: equal inputs give an equal digest. */
  readonly digest: string;
  /** The total size of the layout's blobs, in bytes. */
  readonly bytes: number;
}

const EPOCH = '1970-01-01T00:00:00Z';

/**
 * Packs `rootfs` as the single layer of an image in a new OCI layout at `layout`, with
 * `config`. Every file's modification time is set to the epoch first (in place).
 */
export function assembleImage(
  rootfs: string,
  layout: string,
  tag: string,
  config: ImageConfig,
): AssembledImage {
  const umoci = (...args: string[]) => run('umoci', args);
  const ref = `${layout}:${tag}`;
  rmSync(layout, { recursive: true, force: true });
  const bundle = mkdtempSync(join(tmpdir(), 'oci-bundle-'));
  try {
    umoci('init', '--layout', layout);
    umoci('new', '--image', ref);
    rmSync(bundle, { recursive: true, force: true });
    umoci('unpack', '--image', ref, bundle);
    cpSync(rootfs, join(bundle, 'rootfs'), { recursive: true, verbatimSymlinks: true });
    run('find', [join(bundle, 'rootfs'), '-exec', 'touch', '-h', '-d', '@0', '{}', '+']);
    umoci('repack', '--no-history', '--image', ref, bundle);
    umoci(
      'config',
      '--no-history',
      '--image',
      ref,
      '--created',
      EPOCH,
      '--author',
      'kitt4sme tests',
      '--config.user',
      config.user,
      ...config.entrypoint.flatMap((e) => ['--config.entrypoint', e]),
      ...(config.cmd ?? []).flatMap((c) => ['--config.cmd', c]),
      ...(config.workingDir ? ['--config.workingdir', config.workingDir] : []),
      ...(config.env ?? []).flatMap((e) => ['--config.env', e]),
      '--os',
      'linux',
      '--architecture',
      'amd64',
    );
    umoci('gc', '--layout', layout);
  } finally {
    rmSync(bundle, { recursive: true, force: true });
  }
  const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as {
    manifests: { digest: string; annotations?: Record<string, string> }[];
  };
  const manifest = index.manifests.find(
    (m) => m.annotations?.['org.opencontainers.image.ref.name'] === tag,
  );
  if (!manifest) throw new Error(`umoci left no manifest tagged ${tag} in ${layout}`);
  const blobs = join(layout, 'blobs', 'sha256');
  const bytes = readdirSync(blobs).reduce((n, f) => n + readFileSync(join(blobs, f)).byteLength, 0);
  return { layout, tag, digest: manifest.digest, bytes };
}
