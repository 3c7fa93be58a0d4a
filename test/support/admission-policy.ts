// Evaluates the admission policies in configs/ the way kube-apiserver does, for tests: a
// ValidatingAdmissionPolicy's or MutatingAdmissionPolicy's matchConstraints (resource rules),
// matchConditions, variables and validations or JSONPatch mutations, in CEL, on an admission request.
// It covers what loadwise's policies use (no params, no namespace or object selectors, no
// authorizer, no ApplyConfiguration), and refuses a policy that uses more rather than misjudging it.
import { Environment } from '@marcbachmann/cel-js';

export interface UserInfo {
  username: string;
  groups?: string[];
  /** Token claims, e.g. `authentication.kubernetes.io/node-name`: always lists of strings. */
  extra?: Record<string, string[]>;
}

export interface AdmissionRequest {
  operation: 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';
  resource: { group: string; version: string; resource: string };
  userInfo: UserInfo;
  /** The object after the change (null on DELETE). */
  object: unknown;
  /** The object before the change (null on CREATE). */
  oldObject: unknown;
}

interface ResourceRule {
  apiGroups?: string[];
  apiVersions?: string[];
  operations?: string[];
  resources?: string[];
}

interface NamedExpression {
  name: string;
  expression: string;
}

interface Validation {
  expression: string;
  message?: string;
  messageExpression?: string;
  reason?: string;
}

interface PolicySpec {
  failurePolicy?: 'Fail' | 'Ignore';
  paramKind?: unknown;
  matchConstraints: { resourceRules: ResourceRule[]; [other: string]: unknown };
  matchConditions?: NamedExpression[];
  variables?: NamedExpression[];
  validations?: Validation[];
  mutations?: { patchType: string; jsonPatch?: { expression: string } }[];
}

export interface AdmissionPolicy {
  kind: string;
  metadata: { name: string };
  spec: PolicySpec;
}

export type Verdict =
  | { matched: false }
  | { matched: true; allowed: true }
  | { matched: true; allowed: false; message: string; reason: string };

export interface JsonPatchOperation {
  op: string;
  path: string;
  value?: unknown;
}

// The CEL environment of an admission policy: the request's variables are dynamically typed (the
// API server types them from the OpenAPI schema; tests cover the values, not the static types).
const env = new Environment({ unlistedVariablesAreDyn: true, enableOptionalTypes: true });

function ruleMatches(rules: ResourceRule[], request: AdmissionRequest): boolean {
  const has = (list: string[] | undefined, value: string) =>
    (list ?? []).some((v) => v === '*' || v === value);
  return rules.some(
    (r) =>
      has(r.apiGroups, request.resource.group) &&
      has(r.apiVersions, request.resource.version) &&
      has(r.operations, request.operation) &&
      has(r.resources, request.resource.resource),
  );
}

function supported(policy: AdmissionPolicy): void {
  const { matchConstraints, paramKind } = policy.spec;
  const extra = Object.keys(matchConstraints).filter((k) => k !== 'resourceRules');
  if (paramKind !== undefined || extra.length > 0)
    throw new Error(
      `${policy.metadata.name}: uses ${extra.join(', ') || 'paramKind'}, which this evaluator does not`,
    );
}

function requestContext(request: AdmissionRequest): Record<string, unknown> {
  return {
    request: { operation: request.operation, resource: request.resource, userInfo: request.userInfo },
    object: request.object,
    oldObject: request.oldObject,
  };
}

/** The CEL context: `request`, `object`, `oldObject` and the policy's `variables`, in order. */
function context(policy: AdmissionPolicy, request: AdmissionRequest): Record<string, unknown> {
  const ctx = requestContext(request);
  const variables: Record<string, unknown> = {};
  ctx.variables = variables;
  for (const v of policy.spec.variables ?? []) variables[v.name] = env.evaluate(v.expression, ctx);
  return ctx;
}

/** Whether the policy applies: its resource rules and every matchCondition (an error throws). */
function matches(policy: AdmissionPolicy, request: AdmissionRequest): boolean {
  if (!ruleMatches(policy.spec.matchConstraints.resourceRules, request)) return false;
  const ctx = requestContext(request);
  return (policy.spec.matchConditions ?? []).every((c) => env.evaluate(c.expression, ctx) === true);
}

/** A ValidatingAdmissionPolicy (bound with validationActions [Deny]) judging one request. */
export function validate(policy: AdmissionPolicy, request: AdmissionRequest): Verdict {
  supported(policy);
  let ctx: Record<string, unknown>;
  try {
    if (!matches(policy, request)) return { matched: false };
    ctx = context(policy, request);
  } catch (err) {
    return failure(policy, (err as Error).message);
  }
  for (const v of policy.spec.validations ?? []) {
    let result: unknown;
    try {
      result = env.evaluate(v.expression, ctx);
    } catch (err) {
      return failure(policy, (err as Error).message);
    }
    if (result === true) continue;
    let message = v.message ?? `failed expression: ${v.expression}`;
    if (v.messageExpression) {
      try {
        message = String(env.evaluate(v.messageExpression, ctx));
      } catch {
        // As the API server does: a messageExpression that fails falls back to message.
      }
    }
    return { matched: true, allowed: false, message, reason: v.reason ?? 'Invalid' };
  }
  return { matched: true, allowed: true };
}

// An expression that errors: failurePolicy Fail refuses the request, Ignore lets it through.
function failure(policy: AdmissionPolicy, error: string): Verdict {
  if (policy.spec.failurePolicy === 'Ignore') return { matched: true, allowed: true };
  return { matched: true, allowed: false, message: `expression error: ${error}`, reason: 'InternalError' };
}

/** A MutatingAdmissionPolicy's JSONPatch operations for one request; [] when it does not match. */
export function mutations(policy: AdmissionPolicy, request: AdmissionRequest): JsonPatchOperation[] {
  supported(policy);
  if (!matches(policy, request)) return [];
  const ctx = context(policy, request);
  return (policy.spec.mutations ?? []).flatMap((m) => {
    if (m.patchType !== 'JSONPatch' || !m.jsonPatch)
      throw new Error(`${policy.metadata.name}: only JSONPatch mutations are evaluated here`);
    return (env.evaluate(jsonPatchAsMaps(m.jsonPatch.expression), ctx) as Record<string, unknown>[]).map(
      (p) => ({
        op: String(p.op),
        path: String(p.path),
        value: p.value,
      }),
    );
  });
}

// The CEL library has no message literals (`JSONPatch{op: 'add', ...}`), so a JSONPatch literal is
// read as the map it builds (`{'op': 'add', ...}`); field names outside the four JSONPatch fields
// are left alone and fail to parse, which is the point.
function jsonPatchAsMaps(expression: string): string {
  return expression
    .replace(/\bJSONPatch\s*\{/g, '{')
    .replace(/([{,]\s*)(op|path|value|from)\s*:/g, "$1'$2':");
}

/** Applies `add` / `replace` operations on object members (what loadwise's mutations use). */
export function applyJsonPatch<T>(document: T, operations: JsonPatchOperation[]): T {
  const out = structuredClone(document) as Record<string, unknown>;
  for (const { op, path, value } of operations) {
    if (op !== 'add' && op !== 'replace') throw new Error(`unsupported JSON patch op ${op}`);
    const keys = path
      .split('/')
      .slice(1)
      .map((k) => k.replaceAll('~1', '/').replaceAll('~0', '~'));
    let target = out;
    for (const k of keys.slice(0, -1)) target = target[k] as Record<string, unknown>;
    const last = keys.at(-1)!;
    if (op === 'replace' && !(last in target)) throw new Error(`replace of missing ${path}`);
    target[last] = value;
  }
  return out as T;
}
