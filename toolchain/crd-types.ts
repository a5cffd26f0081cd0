/**
 * TypeScript types for custom resources, generated from the upstream CRDs' structural
 * schemas (`spec.versions[].schema.openAPIV3Schema`), so that the constructs are type-checked
 * against exactly the schema the API server enforces, without a model package per project
 * (those require Node 22) and without `cdk8s import` (which needs the internet).
 *
 * For each kind: an interface (`apiVersion` and `kind` as literals, `metadata`, every
 * top-level field but `status`, which the server writes) and a function of the same name that
 * adds `apiVersion` and `kind` to a body, so an object literal passed to it gets TypeScript's
 * excess-property check at every depth.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { format, resolveConfig } from 'prettier';
import { parseAllDocuments } from 'yaml';

import { upstreamCrdFiles } from './tools.js';

/** One kind to generate: the CRD's group, the served version and the kind. */
export interface CrdKind {
  readonly group: string;
  readonly version: string;
  readonly kind: string;
}

/** The subset of a structural schema the generator reads. */
interface Schema {
  readonly type?: string;
  readonly description?: string;
  readonly properties?: Readonly<Record<string, Schema>>;
  readonly required?: readonly string[];
  readonly items?: Schema;
  readonly additionalProperties?: Schema | boolean;
  readonly enum?: readonly unknown[];
  readonly format?: string;
  readonly nullable?: boolean;
  readonly 'x-kubernetes-int-or-string'?: boolean;
  readonly 'x-kubernetes-preserve-unknown-fields'?: boolean;
}

interface Crd {
  readonly kind?: string;
  readonly spec?: {
    readonly group?: string;
    readonly names?: { readonly kind?: string };
    readonly versions?: readonly {
      readonly name?: string;
      readonly served?: boolean;
      readonly schema?: { readonly openAPIV3Schema?: Schema };
    }[];
  };
}

/** The openAPIV3Schema of each `group/version/kind` in CRD documents. */
export function crdSchemas(yamlTexts: readonly string[]): Map<string, Schema> {
  const out = new Map<string, Schema>();
  for (const text of yamlTexts) {
    for (const doc of parseAllDocuments(text)) {
      const crd = doc.toJS() as Crd | null;
      if (crd?.kind !== 'CustomResourceDefinition') continue;
      const group = crd.spec?.group;
      const kind = crd.spec?.names?.kind;
      for (const v of crd.spec?.versions ?? []) {
        const schema = v.schema?.openAPIV3Schema;
        if (group && kind && v.name && v.served !== false && schema)
          out.set(`${group}/${v.name}/${kind}`, schema);
      }
    }
  }
  return out;
}

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
const key = (name: string) => (IDENTIFIER.test(name) ? name : JSON.stringify(name));

/** The first sentence of a description, safe inside a JSDoc comment. */
function summary(description: string | undefined): string | undefined {
  if (!description) return undefined;
  const first = description.trim().split('\n')[0]!.trim();
  return first.replace(/\*\//g, '*\\/') || undefined;
}

/** The TypeScript type of a schema, indented for `depth`. */
function typeOf(schema: Schema, depth: number): string {
  if (schema['x-kubernetes-int-or-string']) return 'number | string';
  if (schema.enum && schema.enum.length > 0)
    return schema.enum.map((v) => JSON.stringify(v)).join(' | ');
  switch (schema.type) {
    case 'string':
      return 'string';
    case 'integer':
    case 'number':
      return 'number';
    case 'boolean':
      return 'boolean';
    case 'array': {
      const item = schema.items ? typeOf(schema.items, depth) : 'unknown';
      return /^[A-Za-z]+$/.test(item) ? `${item}[]` : `Array<${item}>`;
    }
    default:
      return objectType(schema, depth);
  }
}

/** An object schema as a type literal (or a record, for a map or free-form object). */
function objectType(schema: Schema, depth: number): string {
  const props = Object.entries(schema.properties ?? {});
  if (props.length === 0) {
    if (typeof schema.additionalProperties === 'object')
      return `{ [key: string]: ${typeOf(schema.additionalProperties, depth)} }`;
    return '{ [key: string]: unknown }';
  }
  const pad = '  '.repeat(depth + 1);
  const required = new Set(schema.required ?? []);
  const lines = props.map(([name, prop]) => {
    const doc = summary(prop.description);
    const field = `${pad}${key(name)}${required.has(name) ? '' : '?'}: ${typeOf(prop, depth + 1)};`;
    return doc ? `${pad}/** ${doc} */\n${field}` : field;
  });
  return `{\n${lines.join('\n')}\n${'  '.repeat(depth)}}`;
}

/**
 * The TypeScript module for `kinds`, from the CRD documents `yamlTexts`.
 * @throws TypeError when a kind has no served version with a schema in the documents.
 */
export function crdTypesModule(
  kinds: readonly CrdKind[],
  yamlTexts: readonly string[],
  source: string,
): string {
  const schemas = crdSchemas(yamlTexts);
  const parts = [
    `// Generated by \`npm run crd-types\` from ${source}: do not edit.`,
    "import type { V1ObjectMeta } from '@kubernetes/client-node';",
  ];
  for (const { group, version, kind } of kinds) {
    const schema = schemas.get(`${group}/${version}/${kind}`);
    if (!schema)
      throw new TypeError(
        `no served ${group}/${version} ${kind} with a schema in ${source}: check the kinds in toolchain/bin/crd-types.ts against the upstream CRDs`,
      );
    const apiVersion = `${group}/${version}`;
    const fields = Object.fromEntries(
      Object.entries(schema.properties ?? {}).filter(
        ([name]) => !['apiVersion', 'kind', 'metadata', 'status'].includes(name),
      ),
    );
    const body = objectType({ ...schema, properties: fields }, 0)
      .slice(1, -1)
      .trimEnd();
    const doc = summary(schema.description) ?? `${kind} (${apiVersion}).`;
    parts.push(
      [
        `/** ${doc} */`,
        `export interface ${kind} {`,
        `  apiVersion: '${apiVersion}';`,
        `  kind: '${kind}';`,
        '  metadata: V1ObjectMeta;',
        body.replace(/^\n/, ''),
        '}',
        '',
        `/** A ${kind}: \`body\` with its \`apiVersion\` and \`kind\`. */`,
        `export function ${kind}(body: Omit<${kind}, 'apiVersion' | 'kind'>): ${kind} {`,
        `  return { apiVersion: '${apiVersion}', kind: '${kind}', ...body };`,
        '}',
      ].join('\n'),
    );
  }
  return `${parts.join('\n\n')}\n`;
}

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** The generated modules: where, which kinds, from which upstream CRD files. */
const MODULES: readonly { file: string; from: RegExp; kinds: readonly CrdKind[] }[] = [
  {
    file: 'cdk8s/imports/istio.ts',
    from: /customresourcedefinitions\.gen\.yaml$/,
    kinds: [
      { group: 'networking.istio.io', version: 'v1', kind: 'Gateway' },
      { group: 'networking.istio.io', version: 'v1', kind: 'VirtualService' },
      { group: 'networking.istio.io', version: 'v1', kind: 'ServiceEntry' },
      { group: 'networking.istio.io', version: 'v1', kind: 'Sidecar' },
      { group: 'security.istio.io', version: 'v1', kind: 'AuthorizationPolicy' },
      { group: 'security.istio.io', version: 'v1', kind: 'PeerAuthentication' },
      { group: 'security.istio.io', version: 'v1', kind: 'RequestAuthentication' },
      { group: 'telemetry.istio.io', version: 'v1', kind: 'Telemetry' },
    ],
  },
  {
    file: 'cdk8s/imports/argocd.ts',
    from: /argo-cd.*\/manifests\/crds\//,
    kinds: [
      { group: 'argoproj.io', version: 'v1alpha1', kind: 'Application' },
      { group: 'argoproj.io', version: 'v1alpha1', kind: 'AppProject' },
    ],
  },
];

/** `module@version/path` of a file in Go's module cache. */
const moduleRelative = (path: string) => path.replace(/^.*\/pkg\/mod\//, '');

/** Each generated module's path and fresh text. */
export async function generateCrdTypes(): Promise<{ file: string; text: string }[]> {
  const files = upstreamCrdFiles();
  const out: { file: string; text: string }[] = [];
  for (const m of MODULES) {
    const sources = files.filter((f) => m.from.test(f));
    const raw = crdTypesModule(
      m.kinds,
      sources.map((f) => readFileSync(f, 'utf8')),
      sources.map(moduleRelative).join(', '),
    );
    const path = join(root, m.file);
    const text = await format(raw, { ...(await resolveConfig(path)), filepath: path });
    out.push({ file: m.file, text });
  }
  return out;
}
