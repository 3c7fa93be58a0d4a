// A small YAML config file read strictly: parsed with a bounded alias count (a "billion laughs"
// file cannot blow up memory), checked against its schema, and any problem reported as one line
// that names the file and the place in it.
import type { ValidateFunction } from 'ajv';
import { parse } from 'yaml';

/** Throws `<origin>: <where> <what>` on bad YAML or a document the schema rejects. */
export function parseYamlDocument<T>(text: string, validate: ValidateFunction<T>, origin: string): T {
  let doc: unknown;
  try {
    doc = parse(text, { maxAliasCount: 10, uniqueKeys: true });
  } catch (err) {
    throw new Error(`${origin}: not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  if (!validate(doc)) {
    const e = validate.errors?.[0];
    throw new Error(`${origin}: ${e?.instancePath || '/'} ${e?.message ?? 'is invalid'}`);
  }
  return doc;
}
