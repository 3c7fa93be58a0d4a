// Label and field selectors as kube-apiserver parses them from list and watch query strings.
import { type Json, isObject } from './patch.ts';

type Requirement =
  | { key: string; op: '=' | '!='; value: string }
  | { key: string; op: 'in' | 'notin'; values: string[] }
  | { key: string; op: 'exists' | '!exists' };

export type Matcher = (object: Json) => boolean;

/** Splits on commas that are not inside parentheses (`a in (x,y),b=c`). */
function splitTerms(text: string): string[] {
  const terms: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === ',' && depth === 0) {
      terms.push(text.slice(start, i));
      start = i + 1;
    }
  }
  terms.push(text.slice(start));
  return terms.map((t) => t.trim()).filter((t) => t.length > 0);
}

function parseRequirement(term: string, setsAllowed: boolean): Requirement {
  const set = /^(\S+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(term);
  if (set && setsAllowed) {
    const values = set[3]!.split(',').map((v) => v.trim());
    return { key: set[1]!, op: set[2] as 'in' | 'notin', values };
  }
  const cmp = /^([^=!\s]+)\s*(==|=|!=)\s*(.*)$/.exec(term);
  if (cmp) return { key: cmp[1]!, op: cmp[2] === '!=' ? '!=' : '=', value: cmp[3]!.trim() };
  if (setsAllowed && /^![^=!\s]+$/.test(term)) return { key: term.slice(1), op: '!exists' };
  if (setsAllowed && /^[^=!\s()]+$/.test(term)) return { key: term, op: 'exists' };
  throw new SyntaxError(`unable to parse requirement "${term}"`);
}

function matches(req: Requirement, actual: string | undefined): boolean {
  switch (req.op) {
    case '=':
      return (actual ?? '') === req.value && (actual !== undefined || req.value === '');
    case '!=':
      return (actual ?? '') !== req.value;
    case 'in':
      return actual !== undefined && req.values.includes(actual);
    case 'notin':
      return actual === undefined || !req.values.includes(actual);
    case 'exists':
      return actual !== undefined;
    case '!exists':
      return actual === undefined;
  }
}

/** `app=web,tier!=db,env in (a,b),!legacy` against metadata.labels. Throws SyntaxError when malformed. */
export function labelSelector(text: string | null): Matcher {
  if (!text) return () => true;
  const reqs = splitTerms(text).map((t) => parseRequirement(t, true));
  return (object) => {
    const labels = isObject(object) && isObject(object.metadata) ? object.metadata.labels : undefined;
    return reqs.every((r) => {
      const v = isObject(labels) ? labels[r.key] : undefined;
      return matches(r, typeof v === 'string' ? v : undefined);
    });
  };
}

function fieldValue(object: Json, path: string): string {
  let node: Json | undefined = object;
  for (const segment of path.split('.')) node = isObject(node) ? node[segment] : undefined;
  if (node === undefined || node === null) return '';
  return typeof node === 'string' ? node : String(node);
}

/** `spec.nodeName=n1`, `spec.nodeName!=` (assigned pods), `metadata.name=x`: any dotted path, = and != only. */
export function fieldSelector(text: string | null): Matcher {
  if (!text) return () => true;
  const reqs = splitTerms(text).map((t) => parseRequirement(t, false));
  return (object) => reqs.every((r) => matches(r, fieldValue(object, r.key)));
}
