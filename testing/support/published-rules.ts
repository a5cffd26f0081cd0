/**
 * Test support: the input rules a published JSON Schema states (an OpenAPI request body, the
 * devices schema, the fleet records' schema), held to samples whose verdicts a test states.
 *
 * Those schemas are generated from the zod schemas the code validates with, so a rule loosened
 * in the code loosens the document too, and `npm run synth` makes them agree again. A test
 * built with {@link describePublishedRules} catches that: every site of the schema that states
 * a rule (a pattern, a length, a size, a bound, an enum, a constant) must have samples, and both
 * the code's validation and the schema (ajv) must give each sample its verdict.
 */
import { describe, expect, it } from '@jest/globals';
import { Ajv2020 } from 'ajv/dist/2020.js';

type Json = Record<string, any>;
type Path = readonly (string | number)[];

/** A rule's samples: values that must be accepted, values that must be refused. */
export interface RuleSamples {
  readonly valid: readonly unknown[];
  readonly invalid: readonly unknown[];
  /** Refused by the code only: a refinement JSON Schema cannot state (the schema accepts them). */
  readonly invalidInCodeOnly?: readonly unknown[];
  /** Fields set on the base input first (e.g. the protocol a rule depends on). */
  readonly with?: Json;
  /** The sample replaces its parent object whole (a branch of a union: `{ group: … }`). */
  readonly alone?: boolean;
}

/** One validated input: its schema in a published document and the code's own check. */
export interface RuleRoot {
  /** The document, for test names (`devices.schema.json`). */
  readonly document: string;
  readonly schema: Json;
  /** A valid input that holds every field a rule is stated on. */
  readonly base: Json;
  /** Whether the code accepts `input`. */
  readonly accepts: (input: Json) => boolean;
}

/** A site of a schema that states a rule. */
export interface RuleSite {
  readonly path: Path;
  readonly key: string;
  readonly keywords: readonly string[];
}

const RULE_KEYWORDS = [
  'pattern',
  'format',
  'minLength',
  'maxLength',
  'minItems',
  'maxItems',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'multipleOf',
  'enum',
  'const',
] as const;

/**
 * The key of a site's samples: its property with its parent's name (`health.port`,
 * `attributes.name` for a field of an array's items), `[]` for each array level below it
 * (`capabilities[]`), the property alone at the top level.
 */
export function ruleKey(path: Path): string {
  let end = path.length;
  while (end > 0 && typeof path[end - 1] === 'number') end--;
  const names = path.slice(0, end).filter((p): p is string => typeof p === 'string');
  const [parent, last] = names.slice(-2);
  const name = last === undefined ? (parent ?? '') : `${parent}.${last}`;
  return name + '[]'.repeat(path.length - end);
}

/**
 * Every site of `schema` that states a rule: through properties, items and the branches of
 * anyOf/oneOf; a `$ref` is a root of its own and is not followed.
 */
export function ruleSites(schema: Json, path: Path = []): RuleSite[] {
  const here = RULE_KEYWORDS.filter((k) => k in schema);
  const out: RuleSite[] = here.length > 0 ? [{ path, key: ruleKey(path), keywords: here }] : [];
  for (const [name, sub] of Object.entries((schema.properties ?? {}) as Record<string, Json>)) {
    if (name === '$schema') continue;
    out.push(...ruleSites(sub, [...path, name]));
  }
  if (schema.items) out.push(...ruleSites(schema.items, [...path, 0]));
  for (const branch of [...(schema.anyOf ?? []), ...(schema.oneOf ?? [])] as Json[])
    out.push(...ruleSites(branch, path).filter((s) => s.path.length > path.length));
  return out;
}

/** A copy of `base` with `value` at the site (a number of items when `items` has the key). */
export function withSample(
  base: Json,
  site: RuleSite,
  value: unknown,
  samples: RuleSamples,
  items: Readonly<Record<string, (i: number) => unknown>>,
): Json {
  const copy = structuredClone({ ...base, ...samples.with }) as Json;
  const parents = site.path.slice(0, -1);
  const last = site.path.at(-1)!;
  const item = items[site.key];
  const v =
    item && typeof value === 'number'
      ? Array.from({ length: Math.min(value, 5000) }, (_, i) => item(i))
      : value;
  if (samples.alone) {
    let at: any = copy;
    for (const p of parents.slice(0, -1)) at = at[p];
    at[parents.at(-1)!] = { [last]: v };
    return copy;
  }
  let at: any = copy;
  for (const p of parents) {
    if (at[p] === undefined) throw new Error(`the base has nothing at ${site.path.join('.')}`);
    at = at[p];
  }
  at[last] = v;
  return copy;
}

/** Options of {@link describePublishedRules}. */
export interface PublishedRules {
  readonly roots: Readonly<Record<string, RuleRoot>>;
  /** Samples by site key; `<root>: <key>` applies to one root only (e.g. its `kind`). */
  readonly rules: Readonly<Record<string, RuleSamples>>;
  /** The n-th valid item of an array whose size is a rule, by the array's key. */
  readonly items?: Readonly<Record<string, (i: number) => unknown>>;
  /** Registered with ajv before the roots are compiled (e.g. the OpenAPI components). */
  readonly refs?: readonly Json[];
  /** Rewrites a root's schema for ajv (e.g. `#/components/` to a registered id). */
  readonly rebase?: (schema: Json) => Json;
}

/** The describe block: samples for every rule, then each rule's verdicts in code and schema. */
export function describePublishedRules(title: string, opts: PublishedRules): void {
  const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
  for (const ref of opts.refs ?? []) ajv.addSchema(ref);
  const items = opts.items ?? {};
  const compiled = new Map<RuleRoot, (input: Json) => boolean>();
  const schemaAccepts = (root: RuleRoot) => {
    if (!compiled.has(root)) {
      const validate = ajv.compile(opts.rebase ? opts.rebase(root.schema) : root.schema);
      compiled.set(root, (input) => validate(input) as boolean);
    }
    return compiled.get(root)!;
  };
  const cases = Object.entries(opts.roots).flatMap(([name, root]) =>
    ruleSites(root.schema).map((site) => {
      const own = `${name}: ${site.key}`;
      const rule = own in opts.rules ? own : site.key;
      return { name, root, site, rule, samples: opts.rules[rule] };
    }),
  );

  describe(title, () => {
    it('have samples here, every one of them (a new rule needs its samples)', () => {
      const missing = cases.filter((c) => c.samples === undefined);
      expect(
        missing.map((c) => `${c.name}: ${c.site.key} (${c.site.keywords.join(', ')})`),
      ).toEqual([]);
      const used = new Set(cases.map((c) => c.rule));
      expect(Object.keys(opts.rules).filter((k) => !used.has(k))).toEqual([]);
    });

    describe.each(cases.map((c) => [`${c.name}: ${c.site.key}`, c] as const))('%s', (_, c) => {
      const samples = c.samples;
      const input = (v: unknown) => withSample(c.root.base, c.site, v, samples!, items);
      const verdicts = (accepts: (i: Json) => boolean, values: readonly unknown[]) =>
        values.map((v) => ({ sample: v, accepted: accepts(input(v)) }));

      it('is enforced by the code: each valid sample accepted, each invalid one refused', () => {
        expect(samples).toBeDefined();
        const refused = [...samples!.invalid, ...(samples!.invalidInCodeOnly ?? [])];
        expect(verdicts(c.root.accepts, samples!.valid).filter((v) => !v.accepted)).toEqual([]);
        expect(verdicts(c.root.accepts, refused).filter((v) => v.accepted)).toEqual([]);
      });

      it(`is what ${c.root.document} says: the same verdicts from the schema`, () => {
        expect(samples).toBeDefined();
        const accepts = schemaAccepts(c.root);
        expect(verdicts(accepts, samples!.valid).filter((v) => !v.accepted)).toEqual([]);
        expect(verdicts(accepts, samples!.invalid).filter((v) => v.accepted)).toEqual([]);
      });
    });
  });
}
