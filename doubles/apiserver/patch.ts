// The three patch formats kube-apiserver accepts as a client sends them: JSON merge patch (RFC 7386),
// the strategic merge patch (for the fields loadwise touches), and JSON patch (RFC 6902).

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export class PatchError extends Error {
  constructor(
    message: string,
    /** 422 for a patch that cannot apply (RFC 6902 test failed, bad path), 400 for a malformed one. */
    readonly code: 400 | 422 = 400,
  ) {
    super(message);
  }
}

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** RFC 7386: objects merge key by key, `null` deletes, anything else (arrays included) replaces. */
export function mergePatch(target: Json, patch: Json): Json {
  if (!isObject(patch)) return structuredClone(patch);
  const result: JsonObject = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key] ?? null, value);
  }
  return result;
}

// Lists that the API merges element by element under a strategic merge patch, keyed by this field
// (the `patchMergeKey` of the Go types). Every other list is replaced, as in a JSON merge patch.
const MERGE_KEYS: Readonly<Record<string, string>> = {
  conditions: 'type',
  containers: 'name',
  initContainers: 'name',
  ownerReferences: 'uid',
  tolerations: 'key',
  taints: 'key',
  env: 'name',
  volumes: 'name',
  volumeMounts: 'mountPath',
  ports: 'containerPort',
};

/**
 * Strategic merge patch, the subset loadwise needs: maps merge, `null` deletes, `$patch: replace`
 * and `$patch: delete` on a map, and lists with a known merge key merge by that key (an element
 * `{<key>: x, $patch: delete}` removes it). `$setElementOrder` and `$retainKeys` are accepted and
 * ignored.
 */
export function strategicMergePatch(target: Json, patch: Json, field = ''): Json {
  if (Array.isArray(patch)) {
    const key = MERGE_KEYS[field];
    if (!key || !Array.isArray(target)) return structuredClone(patch);
    const result: Json[] = target.map((e) => structuredClone(e));
    for (const element of patch) {
      if (!isObject(element) || !(key in element))
        throw new PatchError(`${field}: element without merge key "${key}"`);
      const index = result.findIndex(
        (e) => isObject(e) && JSON.stringify(e[key]) === JSON.stringify(element[key]),
      );
      if (element.$patch === 'delete') {
        if (index >= 0) result.splice(index, 1);
        continue;
      }
      if (index >= 0) result[index] = strategicMergePatch(result[index] ?? null, element, '');
      else result.push(stripDirectives(element));
    }
    return result;
  }
  if (!isObject(patch)) return structuredClone(patch);
  if (patch.$patch === 'replace') return stripDirectives(patch);
  if (patch.$patch === 'delete') return null;
  const result: JsonObject = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (key.startsWith('$setElementOrder/') || key === '$retainKeys' || key === '$patch') continue;
    if (value === null) delete result[key];
    else {
      const merged = strategicMergePatch(result[key] ?? null, value, key);
      if (merged === null) delete result[key];
      else result[key] = merged;
    }
  }
  return result;
}

function stripDirectives(value: Json): Json {
  if (Array.isArray(value)) return value.map(stripDirectives);
  if (!isObject(value)) return value;
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(value)) if (!k.startsWith('$')) out[k] = stripDirectives(v);
  return out;
}

/** RFC 6902 with the operations clients use: add, remove, replace, test, copy, move. */
export function jsonPatch(target: Json, operations: Json): Json {
  if (!Array.isArray(operations)) throw new PatchError('a JSON patch must be an array of operations');
  let doc = structuredClone(target);
  for (const op of operations) {
    if (!isObject(op) || typeof op.op !== 'string' || typeof op.path !== 'string') {
      throw new PatchError('each JSON patch operation needs "op" and "path"');
    }
    const path = parsePointer(op.path);
    switch (op.op) {
      case 'add':
        doc = put(doc, path, structuredClone(op.value ?? null), 'add');
        break;
      case 'replace':
        get(doc, path);
        doc = put(doc, path, structuredClone(op.value ?? null), 'replace');
        break;
      case 'remove':
        doc = remove(doc, path);
        break;
      case 'test':
        if (JSON.stringify(get(doc, path)) !== JSON.stringify(op.value ?? null)) {
          throw new PatchError(`test failed at ${op.path}`, 422);
        }
        break;
      case 'copy':
      case 'move': {
        if (typeof op.from !== 'string') throw new PatchError(`"${op.op}" needs "from"`);
        const from = parsePointer(op.from);
        const value = structuredClone(get(doc, from));
        if (op.op === 'move') doc = remove(doc, from);
        doc = put(doc, path, value, 'add');
        break;
      }
      default:
        throw new PatchError(`unknown JSON patch operation "${op.op}"`);
    }
  }
  return doc;
}

function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new PatchError(`"${pointer}" is not a JSON pointer`);
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'));
}

function get(doc: Json, path: string[]): Json {
  let node: Json = doc;
  for (const segment of path) {
    if (Array.isArray(node)) node = node[Number(segment)] ?? missing(path);
    else if (isObject(node) && segment in node) node = node[segment] ?? null;
    else missing(path);
  }
  return node;
}

function missing(path: string[]): never {
  throw new PatchError(`no value at /${path.join('/')}`, 422);
}

function put(doc: Json, path: string[], value: Json, mode: 'add' | 'replace'): Json {
  if (path.length === 0) return value;
  const parent = get(doc, path.slice(0, -1));
  const last = path[path.length - 1]!;
  if (Array.isArray(parent)) {
    const index = last === '-' ? parent.length : Number(last);
    if (!Number.isInteger(index) || index < 0 || index > parent.length) missing(path);
    parent.splice(index, mode === 'add' ? 0 : 1, value);
  } else if (isObject(parent)) parent[last] = value;
  else missing(path);
  return doc;
}

function remove(doc: Json, path: string[]): Json {
  get(doc, path);
  const parent = get(doc, path.slice(0, -1));
  const last = path[path.length - 1]!;
  if (Array.isArray(parent)) parent.splice(Number(last), 1);
  else if (isObject(parent)) delete parent[last];
  return doc;
}
