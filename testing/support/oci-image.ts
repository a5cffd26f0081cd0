/**
 * Test support: container images assembled on this machine, with no registry and no Docker,
 * reproducibly: a root filesystem made from installed Debian packages (their files, at the
 * versions `dpkg-query` reports) plus the files a test adds, packed by
 * Debian's umoci into an OCI image layout with a fixed creation time, no history and every
 * file's time set to the epoch, so the same inputs give the same image digest.
 */
import { spawnSync } from 'node:child_process';
import {
  cpSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

import { assembleImageContents } from '../../toolchain/image-contents.js';

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

/**
 * Copies the files of installed Debian packages into `rootfs` (created), then removes the
 * paths in `drop` (relative to the root): documentation, or a package's parts that do not
 * run. The installed files, not a download: the machine's Node.js 20 package is not in a
 * reachable Debian archive (Debian 12's own nodejs is 18, older than the engines the project
 * supports), and the packages the tests run are the ones the image should carry. NOTE (1)
 */
export function debianRootfs(
  rootfs: string,
  packages: readonly string[],
  drop: readonly string[] = [],
): void {
  // Debian 12 is merged-/usr: /lib, /bin, /sbin and /lib64 are links into /usr, which the
  // packages' file lists copy as links; their targets must exist first.
  for (const d of ['usr/lib', 'usr/lib64', 'usr/bin', 'usr/sbin'])
    mkdirSync(join(rootfs, d), { recursive: true });
  for (const pkg of packages) {
    debianVersion(pkg); // installed, or a clear error
    const paths = run('dpkg-query', ['-L', pkg])
      .split('\n')
      .filter((p) => p.startsWith('/') && p !== '/.')
      .filter((p) => {
        const st = lstatSync(p, { throwIfNoEntry: false });
        return st !== undefined && !st.isDirectory();
      });
    for (const p of paths) {
      mkdirSync(dirname(join(rootfs, p)), { recursive: true });
      cpSync(p, join(rootfs, p), { verbatimSymlinks: true, force: true });
    }
  }
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

// NOTE
// 1. `apt-get download nodejs=20.20.2-1nodesource1+repack1` fails here ("Can't find a source
//    to download version"): the machine's Node.js 20 package came from outside the reachable
//    archives, whose nodejs is 18.20.4. So the image is made of the installed packages' files
//    (`dpkg-query -L`). The Dockerfile's base, node:20.20.0-bookworm-slim, differs: Node
//    20.20.0 installed from the official tarball into /usr/local, on a Debian 12 slim root
//    with a shell, apt and a `node` user; here node is 20.20.2 in /usr/bin with only libc6,
//    libgcc-s1 and libstdc++6 beside it, no shell. The /app tree is the same
//    (`npm run image:contents`). Seen on Debian 12, 2026-12-02.

/** The Debian packages a Node.js service's runtime image is made of: node and its libraries. */
export const NODE_RUNTIME_PACKAGES = ['libc6', 'libgcc-s1', 'libstdc++6', 'nodejs'];

/**
 * The runtime image of one of the project's Node.js builds (a service or an example module),
 * as its Dockerfile makes it, on Debian's node: the /app tree of `npm run image:contents`,
 * user 65532, WORKDIR /app, NODE_ENV=production and the command the tree names.
 */
export function nodeServiceImage(service: string, out: string, tag: string): AssembledImage {
  const rootfs = join(out, 'rootfs');
  // npm, headers and docs do not run in the service: dropped, as the image carries only what runs.
  debianRootfs(rootfs, NODE_RUNTIME_PACKAGES, ['usr/lib/node_modules', 'usr/include', 'usr/share']);
  const app = join(out, 'app');
  const tree = assembleImageContents({ service, out: app, log: () => {} });
  cpSync(app, join(rootfs, 'app'), { recursive: true });
  mkdirSync(join(rootfs, 'tmp'), { recursive: true });
  const [command, ...args] = tree.command;
  return assembleImage(rootfs, join(out, 'layout'), tag, {
    user: '65532:65532',
    entrypoint: [command === 'node' ? '/usr/bin/node' : command!],
    cmd: args,
    workingDir: '/app',
    env: ['NODE_ENV=production', 'PATH=/usr/bin:/bin'],
  });
}
