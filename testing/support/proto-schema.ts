/**
 * Test support: the JSON field names of protobuf messages, read from `.proto` sources, as a
 * JSON schema of the subset the chart check reads ({@link SchemaNode}). Istio's charts pass
 * `meshConfig` through whole; its fields are those of the MeshConfig message of istio.io/api,
 * so that is what our meshConfig keys are checked against.
 *
 * Read: messages (nested too), their fields (also inside `oneof`), `repeated` fields and
 * `map<...>` fields. A field's JSON name is its `json_name` option, else its name in
 * lowerCamelCase, as protojson writes it; protojson also accepts the original name, and so
 * does the check. Fields of scalar, enum, well-known (google.protobuf.*) or other-package
 * types are leaves: the check does not descend into them.
 */
import { readFileSync } from 'node:fs';

/** A JSON schema node, as far as the chart check reads it. */
export interface SchemaNode {
  $ref?: string;
  $defs?: Record<string, SchemaNode>;
  properties?: Record<string, SchemaNode>;
  additionalProperties?: boolean | SchemaNode;
  items?: SchemaNode;
  type?: string | string[];
}

interface Field {
  name: string;
  jsonName: string;
  type: string;
  repeated: boolean;
  map: boolean;
}

const camel = (s: string) => s.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/** The messages of one `.proto` text, by full name (`pkg.Outer.Inner`). */
function messages(text: string): Map<string, Field[]> {
  const out = new Map<string, Field[]>();
  const pkg = /^\s*package\s+([\w.]+)\s*;/m.exec(text)?.[1] ?? '';
  // The open blocks: messages by name; enums, oneofs and option blocks by kind only.
  const scopes: { kind: string; name?: string }[] = [];
  const messageName = () =>
    [pkg, ...scopes.flatMap((s) => (s.kind === 'message' ? [s.name!] : []))].join('.');
  const body = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
  for (const raw of body.split('\n')) {
    const line = raw.trim();
    const open = /^(message|enum|oneof|service|extend)\s+(\w+)\s*\{/.exec(line);
    if (open) {
      scopes.push({ kind: open[1]!, name: open[2]! });
      if (open[1] === 'message') out.set(messageName(), []);
      if (line.endsWith('}')) scopes.pop();
      continue;
    }
    const inner = scopes.at(-1)?.kind;
    const field =
      /^(repeated\s+|optional\s+)?(map<\s*[\w.]+\s*,\s*([\w.]+)\s*>|[\w.]+)\s+(\w+)\s*=\s*\d+\s*(\[.*\])?\s*;/.exec(
        line,
      );
    // Fields of a oneof belong to the message around it.
    if (field && (inner === 'message' || inner === 'oneof')) {
      const isMap = field[2]!.startsWith('map<');
      out.get(messageName())!.push({
        name: field[4]!,
        jsonName: /json_name\s*=\s*"([^"]+)"/.exec(field[5] ?? '')?.[1] ?? camel(field[4]!),
        type: isMap ? field[3]! : field[2]!,
        repeated: field[1]?.trim() === 'repeated',
        map: isMap,
      });
      continue;
    }
    for (const ch of line) {
      if (ch === '{') scopes.push({ kind: 'block' });
      else if (ch === '}') scopes.pop();
    }
  }
  return out;
}

/**
 * A JSON schema (root `$ref` to `message`, every message under `$defs`) of the messages in
 * `protoFiles`.
 * @throws TypeError when `message` is not among them.
 */
export function protoSchema(protoFiles: readonly string[], message: string): SchemaNode {
  const all = new Map<string, Field[]>();
  for (const f of protoFiles) for (const [k, v] of messages(readFileSync(f, 'utf8'))) all.set(k, v);
  if (!all.has(message)) throw new TypeError(`no message ${message} in ${protoFiles.join(', ')}`);
  /** Resolves `type` as protoc does: from the innermost scope of `from` outwards. */
  const lookup = (type: string, from: string): string | undefined => {
    if (type.startsWith('.')) return all.has(type.slice(1)) ? type.slice(1) : undefined;
    const parts = from.split('.');
    for (let i = parts.length; i >= 0; i--) {
      const candidate = [...parts.slice(0, i), type].join('.');
      if (all.has(candidate)) return candidate;
    }
    return undefined;
  };
  const $defs: Record<string, SchemaNode> = {};
  for (const [name, fields] of all) {
    const properties: Record<string, SchemaNode> = {};
    for (const f of fields) {
      const target = lookup(f.type, name);
      const one: SchemaNode = target ? { $ref: `#/$defs/${target}` } : {};
      const node: SchemaNode = f.map
        ? { type: 'object', additionalProperties: one }
        : f.repeated
          ? { type: 'array', items: one }
          : one;
      properties[f.jsonName] = node;
      if (f.name !== f.jsonName) properties[f.name] = node;
    }
    $defs[name] = { type: 'object', additionalProperties: false, properties };
  }
  return { $ref: `#/$defs/${message}`, $defs };
}
