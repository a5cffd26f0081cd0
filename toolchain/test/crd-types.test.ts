/**
 * The custom resources' TypeScript types: generated from the upstream CRDs (and committed
 * fresh), shaped by the schema's rules, and strict enough that a misspelled field anywhere in
 * a construct's object is a compile error. Also: every locked package runs on the Node
 * versions package.json promises (no EBADENGINE on `npm ci`).
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import semver from 'semver';
import ts from 'typescript';

import { crdTypesModule, generateCrdTypes } from '../crd-types.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

const WIDGET_CRD = `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: { name: widgets.example.com }
spec:
  group: example.com
  names: { kind: Widget, plural: widgets }
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          description: A widget.
          type: object
          properties:
            apiVersion: { type: string }
            kind: { type: string }
            metadata: { type: object }
            spec:
              type: object
              required: [size]
              properties:
                size: { type: integer, description: "How big.\\nMore text." }
                mode: { type: string, enum: [ON, OFF] }
                port: { x-kubernetes-int-or-string: true }
                labels: { type: object, additionalProperties: { type: string } }
                values: { type: object, x-kubernetes-preserve-unknown-fields: true }
                "odd-name": { type: boolean }
                rules:
                  type: array
                  items:
                    type: object
                    properties:
                      hosts: { type: array, items: { type: string } }
            status: { type: object, properties: { phase: { type: string } } }
    - name: v0
      served: false
      schema: { openAPIV3Schema: { type: object } }
`;

describe('crdTypesModule', () => {
  const text = crdTypesModule(
    [{ group: 'example.com', version: 'v1', kind: 'Widget' }],
    [WIDGET_CRD],
    'test',
  );

  it('types each field as its schema says, required ones without ?', () => {
    expect(text).toContain("apiVersion: 'example.com/v1';");
    expect(text).toContain("kind: 'Widget';");
    expect(text).toContain('metadata: V1ObjectMeta;');
    expect(text).toContain('/** How big. */\n    size: number;');
    expect(text).toContain('mode?: "ON" | "OFF";');
    expect(text).toContain('port?: number | string;');
    expect(text).toContain('labels?: { [key: string]: string };');
    expect(text).toContain('values?: { [key: string]: unknown };');
    expect(text).toContain('"odd-name"?: boolean;');
    expect(text).toMatch(/rules\?: Array<\{\n\s+hosts\?: string\[\];\n\s+\}>;/);
  });

  it('leaves out status, which the server writes', () => {
    expect(text).not.toContain('phase');
  });

  it('refuses a kind or a version the CRDs do not serve, saying where to look', () => {
    expect(() =>
      crdTypesModule([{ group: 'example.com', version: 'v0', kind: 'Widget' }], [WIDGET_CRD], 'x'),
    ).toThrow(/no served example.com\/v0 Widget .*toolchain\/bin\/crd-types.ts/);
    expect(() =>
      crdTypesModule([{ group: 'example.com', version: 'v1', kind: 'Gadget' }], [WIDGET_CRD], 'x'),
    ).toThrow(/no served example.com\/v1 Gadget/);
  });
});

describe('cdk8s/imports', () => {
  it('equals a fresh generation from the pinned upstream CRDs (run `npm run crd-types` if this fails)', async () => {
    for (const { file, text } of await generateCrdTypes())
      expect({ file, text: readFileSync(join(ROOT, file), 'utf8') }).toEqual({ file, text });
  });

  /** TypeScript's errors for `body`, compiled next to cdk8s/imports. */
  function compileErrors(body: string): string[] {
    const fileName = join(ROOT, 'cdk8s', '__probe__.ts');
    const source = `import { AuthorizationPolicy } from './imports/istio.js';\nimport { Application } from './imports/argocd.js';\n${body}\n`;
    const options: ts.CompilerOptions = {
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      target: ts.ScriptTarget.ES2022,
      types: [],
    };
    const host = ts.createCompilerHost(options);
    const readFile = host.readFile.bind(host);
    const fileExists = host.fileExists.bind(host);
    const getSourceFile = host.getSourceFile.bind(host);
    host.readFile = (f) => (f === fileName ? source : readFile(f));
    host.fileExists = (f) => f === fileName || fileExists(f);
    host.getSourceFile = (f, lang, ...rest) =>
      f === fileName ? ts.createSourceFile(f, source, lang) : getSourceFile(f, lang, ...rest);
    const program = ts.createProgram([fileName], options, host);
    return ts
      .getPreEmitDiagnostics(program)
      .filter((d) => d.file?.fileName === fileName)
      .map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n').split('\n')[0]!);
  }

  const policy = (rule: string) =>
    `AuthorizationPolicy({ metadata: { name: 'p' }, spec: { action: 'ALLOW', rules: [{ to: [{ operation: { ${rule} } }] }] } });`;

  it('compiles a well-formed object', () => {
    expect(compileErrors(policy("paths: ['/v2']"))).toEqual([]);
  }, 60_000);

  it('makes a misspelled field deep in an object a compile error', () => {
    expect(compileErrors(policy("pths: ['/v2']"))).toEqual([
      expect.stringMatching(/'pths' does not exist/),
    ]);
  }, 60_000);

  it('makes a value of the wrong type, or outside a CRD enum, a compile error', () => {
    expect(
      compileErrors(
        "Application({ metadata: { name: 'a' }, spec: { project: 'p', destination: {}, syncPolicy: { automated: { prune: 'yes' } } } });",
      ),
    ).toEqual([expect.stringMatching(/'string' is not assignable to type 'boolean/)]);
    expect(
      compileErrors(
        "AuthorizationPolicy({ metadata: { name: 'p' }, spec: { action: 'PERMIT' } });",
      ),
    ).toEqual([expect.stringMatching(/'"PERMIT"' is not assignable/)]);
  }, 60_000);
});

describe('the locked packages', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    engines: { node: string };
  };
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { engines?: { node?: string } | string[]; dev?: boolean }>;
  };
  // The oldest Node of each range package.json accepts.
  const promised = pkg.engines.node.split('||').map((r) => semver.minVersion(r)!.version);

  it('promise Node 20.19 (what the machines and CI run) and later LTS lines', () => {
    expect(promised[0]).toBe('20.19.0');
    expect(semver.satisfies(process.version, pkg.engines.node)).toBe(true);
  });

  it('each run on every Node version package.json promises (npm ci warns EBADENGINE otherwise)', () => {
    const refusing = Object.entries(lock.packages)
      .filter(([path]) => path !== '')
      .flatMap(([path, p]) => {
        const range = !Array.isArray(p.engines) ? p.engines?.node : undefined;
        if (!range) return [];
        const bad = promised.filter((v) => !semver.satisfies(v, range));
        return bad.length ? [`${path.replace(/^.*node_modules\//, '')} needs ${range}`] : [];
      });
    expect(refusing).toEqual([]);
  });
});
