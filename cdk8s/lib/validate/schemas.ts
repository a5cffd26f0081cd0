/**
 * Schema checks of synthesized objects against the typed models of kubernetes-models
 * (Kubernetes), @kubernetes-models/istio and @kubernetes-models/argo-cd.
 *
 * Two checks per object:
 * - the model's JSON-schema validator (types, required fields, formats, enums);
 * - unknown fields: the models' validators accept fields they do not know, which the API
 *   server would drop or reject, so the object is also type-checked as an object literal
 *   against the model's TypeScript interface, where every unknown field is an error
 *   (TypeScript's excess-property check), at any depth.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import ts from 'typescript';

/** Where the model of an object lives: module specifier and class name. */
export interface ModelRef {
  readonly module: string;
  readonly name: string;
}

/**
 * The model of an apiVersion/kind.
 * @throws TypeError for a kind no model package covers (add its package, never skip it).
 */
export function modelFor(apiVersion: string, kind: string): ModelRef {
  const slash = apiVersion.indexOf('/');
  const group = slash < 0 ? '' : apiVersion.slice(0, slash);
  const version = apiVersion.slice(slash + 1);
  if (group === '') return { module: `kubernetes-models/${version}/${kind}`, name: kind };
  if (group.endsWith('.istio.io'))
    return { module: `@kubernetes-models/istio/${group}/${version}/${kind}`, name: kind };
  if (group === 'argoproj.io')
    return { module: `@kubernetes-models/argo-cd/${group}/${version}/${kind}`, name: kind };
  if (!group.includes('.') || group.endsWith('.k8s.io')) {
    return { module: `kubernetes-models/${group}/${version}/${kind}`, name: kind };
  }
  throw new TypeError(`no schema package covers ${apiVersion} ${kind}`);
}

/** A schema problem of one object. */
export interface SchemaIssue {
  /** `Kind/namespace/name`. */
  readonly object: string;
  readonly message: string;
}

interface Obj {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace?: string };
}

const label = (o: Obj) => `${o.kind}/${o.metadata.namespace ?? '-'}/${o.metadata.name}`;

/** Runs each object through its model's validator. */
export async function validateWithModels(objects: readonly Obj[]): Promise<SchemaIssue[]> {
  const issues: SchemaIssue[] = [];
  for (const o of objects) {
    const ref = modelFor(o.apiVersion, o.kind);
    const mod = (await import(ref.module)) as Record<
      string,
      new (data: unknown) => { validate(): void }
    >;
    const Model = mod[ref.name];
    if (!Model) throw new TypeError(`${ref.module} exports no ${ref.name}`);
    try {
      new Model(structuredClone(o)).validate();
    } catch (err) {
      issues.push({ object: label(o), message: (err as Error).message });
    }
  }
  return issues;
}

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/**
 * Type-checks every object against its model's interface; returns one issue per unknown or
 * mistyped field. All objects are checked in one TypeScript program (a few seconds).
 */
export function findUnknownFields(objects: readonly Obj[]): SchemaIssue[] {
  const lines: string[] = [];
  const spans: { start: number; end: number; object: string }[] = [];
  objects.forEach((o, i) => {
    const ref = modelFor(o.apiVersion, o.kind);
    lines.push(`import type { I${ref.name} as T${i} } from '${ref.module}';`);
  });
  objects.forEach((o, i) => {
    const body = JSON.stringify(o, null, 1).split('\n');
    const start = lines.length + 1;
    lines.push(`export const o${i}: T${i} = ${body[0]}`, ...body.slice(1));
    lines[lines.length - 1] += ';';
    spans.push({ start, end: lines.length, object: label(o) });
  });
  const fileName = join(root, '.cache', '__strict_fields__.ts');
  const source = lines.join('\n');
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
  host.readFile = (f) => (f === fileName ? source : readFile(f));
  host.fileExists = (f) => f === fileName || fileExists(f);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (f, lang, ...rest) =>
    f === fileName ? ts.createSourceFile(f, source, lang) : getSourceFile(f, lang, ...rest);
  const program = ts.createProgram([fileName], options, host);
  const diagnostics = ts
    .getPreEmitDiagnostics(program)
    .filter((d) => d.file?.fileName === fileName);
  return diagnostics.map((d) => {
    const line =
      d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line + 1 : 0;
    const span = spans.find((s) => line >= s.start && line <= s.end);
    // The first line names the field; the rest spells out the whole expected type.
    const text = (
      ts.flattenDiagnosticMessageText(d.messageText, '\n').split('\n')[0] ?? ''
    ).replace(/in type '.*$/, 'in its schema');
    return { object: span?.object ?? `(line ${line})`, message: text };
  });
}
