/**
 * Checks real responses against the OpenAPI document the service serves: the status must be
 * documented for the operation, and the body must match its schema (ajv, JSON Schema 2020-12).
 */
import { Ajv2020 } from 'ajv/dist/2020.js';

type Doc = { paths: Record<string, Record<string, any>>; components: Record<string, unknown> };

/** A checker bound to one served document. */
export function openApiChecker(doc: Doc) {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  ajv.addFormat('uri', (s: string) => URL.canParse(s));
  // RFC 3339 date-time: a full date, `T`, a time and an offset (Z or ±hh:mm).
  ajv.addFormat(
    'date-time',
    (s: string) =>
      /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i.test(s) &&
      !Number.isNaN(Date.parse(s)),
  );
  ajv.addSchema({ $id: 'openapi', components: doc.components });
  const rebase = (schema: unknown): unknown =>
    JSON.parse(JSON.stringify(schema).replaceAll('"#/components/', '"openapi#/components/'));
  return {
    /**
     * Throws when `status`/`body` of `method template` is not what the document says.
     * `template` is the documented path, e.g. `/v1/devices/{id}`.
     */
    check(
      method: string,
      template: string,
      status: number,
      body: unknown,
      contentType: string | null,
    ): void {
      const op = doc.paths[template]?.[method.toLowerCase()];
      if (!op) throw new Error(`${method} ${template} is not in the OpenAPI document`);
      const response = op.responses[String(status)];
      if (!response) {
        throw new Error(
          `${method} ${template} answered ${status}, which the document does not list`,
        );
      }
      if (!response.content) {
        if (body !== undefined && body !== '') throw new Error(`${status} should have no body`);
        return;
      }
      const mediaType = Object.keys(response.content)[0]!;
      if (!contentType?.startsWith(mediaType)) {
        throw new Error(
          `${method} ${template} ${status}: content type ${contentType}, documented ${mediaType}`,
        );
      }
      const validate = ajv.compile(rebase(response.content[mediaType].schema) as object);
      if (!validate(body)) {
        throw new Error(
          `${method} ${template} ${status} does not match the document: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(body).slice(0, 500)}`,
        );
      }
    },

    /**
     * Throws when a request body the service accepted is not one the document allows: a
     * client written from the document must be able to send what the service takes.
     */
    checkRequest(method: string, template: string, body: unknown): void {
      const op = doc.paths[template]?.[method.toLowerCase()];
      const schema = op?.requestBody?.content?.['application/json']?.schema;
      if (!schema) {
        if (body !== undefined) throw new Error(`${method} ${template} documents no body`);
        return;
      }
      const validate = ajv.compile(rebase(schema) as object);
      if (!validate(body)) {
        throw new Error(
          `${method} ${template}: the service accepted a body the document refuses: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(body).slice(0, 500)}`,
        );
      }
    },
  };
}

/** What a document says one query parameter takes: values to accept and values to refuse. */
export interface QueryParameterProbe {
  readonly method: string;
  readonly template: string;
  readonly operationId: string;
  readonly param: string;
  /** Each enum value, and each bound itself. */
  readonly valid: readonly string[];
  /** A value outside the enum, one past each bound, a non-integer for an integer. */
  readonly refused: readonly string[];
}

/**
 * The query parameters of `doc` that state an enum, a bound or an integer type, with the
 * values each must accept and refuse: a conformance test calls every operation with them, so a
 * service that validates on its own cannot drift from what its document promises.
 */
export function queryParameterProbes(doc: Doc): QueryParameterProbe[] {
  const probes: QueryParameterProbe[] = [];
  for (const [template, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      if (method === 'parameters') continue;
      const params = [...(item.parameters ?? []), ...(op.parameters ?? [])].filter(
        (p: any) => p.in === 'query' && p.schema,
      );
      for (const p of params) {
        const s = p.schema;
        const valid: string[] = (s.enum ?? []).map(String);
        const refused: string[] = s.enum ? [`not-${s.enum[0]}`] : [];
        if (s.type === 'integer') refused.push('1.5', 'x');
        if (s.minimum !== undefined) valid.push(String(s.minimum));
        if (s.minimum !== undefined) refused.push(String(s.minimum - 1));
        if (s.maximum !== undefined) valid.push(String(s.maximum));
        if (s.maximum !== undefined) refused.push(String(s.maximum + 1));
        if (refused.length === 0) continue;
        probes.push({
          method: method.toUpperCase(),
          template,
          operationId: op.operationId,
          param: p.name,
          valid,
          refused,
        });
      }
    }
  }
  return probes;
}
