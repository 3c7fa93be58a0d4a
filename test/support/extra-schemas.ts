// Schema checks for the objects configs/ ships that kubernetes-models 4.5.1 has no model for:
// MutatingAdmissionPolicy and its binding (admissionregistration.k8s.io/v1, Kubernetes 1.36) and
// the Prometheus Operator's ServiceMonitor (monitoring.coreos.com/v1). They follow the published
// API fields, strictly (an unknown field is an error, as with a strict server-side apply), and reuse
// kubernetes-models for the parts shared with ValidatingAdmissionPolicy.
import { MatchCondition } from 'kubernetes-models/admissionregistration.k8s.io/v1/MatchCondition';
import { MatchResources } from 'kubernetes-models/admissionregistration.k8s.io/v1/MatchResources';
import { ParamKind } from 'kubernetes-models/admissionregistration.k8s.io/v1/ParamKind';
import { ParamRef } from 'kubernetes-models/admissionregistration.k8s.io/v1/ParamRef';
import { Variable } from 'kubernetes-models/admissionregistration.k8s.io/v1/Variable';

type Json = Record<string, unknown>;

class SchemaError extends Error {}

function fail(path: string, message: string): never {
  throw new SchemaError(`${path}: ${message}`);
}

function object(
  value: unknown,
  path: string,
  allowed: readonly string[],
  required: readonly string[] = [],
): Json {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(path, 'must be an object');
  const o = value as Json;
  for (const key of Object.keys(o)) if (!allowed.includes(key)) fail(`${path}.${key}`, 'unknown field');
  for (const key of required) if (o[key] === undefined) fail(`${path}.${key}`, 'required');
  return o;
}

function list(value: unknown, path: string): unknown[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) fail(path, 'must be a list');
  return value;
}

function oneOf(value: unknown, path: string, values: readonly string[]): void {
  if (value !== undefined && !values.includes(value as string))
    fail(path, `must be one of ${values.join(', ')}`);
}

function nonEmptyString(value: unknown, path: string): void {
  if (typeof value !== 'string' || value.length === 0) fail(path, 'must be a non-empty string');
}

function stringMap(value: unknown, path: string): void {
  const map = object(value, path, Object.keys((value ?? {}) as Json));
  for (const [k, v] of Object.entries(map))
    if (typeof v !== 'string') fail(`${path}.${k}`, 'must be a string');
}

// metadata of a cluster-scoped or namespaced object: a DNS-1123 subdomain name, string maps.
const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
function metadata(value: unknown, path: string): Json {
  const m = object(value, path, ['name', 'namespace', 'labels', 'annotations'], ['name']);
  if (typeof m.name !== 'string' || m.name.length > 253 || !SUBDOMAIN.test(m.name))
    fail(`${path}.name`, 'not a DNS-1123 subdomain');
  for (const map of ['labels', 'annotations'] as const)
    if (m[map] !== undefined) stringMap(m[map], `${path}.${map}`);
  return m;
}

/** An API object of one of `kinds` in `apiVersion`: exactly apiVersion, kind, metadata and spec. */
function apiObject(value: unknown, apiVersion: string, kinds: readonly string[]): Json {
  const fields = ['apiVersion', 'kind', 'metadata', 'spec'];
  const o = object(value, '', fields, fields);
  if (o.apiVersion !== apiVersion) fail('.apiVersion', `must be ${apiVersion}`);
  oneOf(o.kind, '.kind', kinds);
  metadata(o.metadata, '.metadata');
  return o;
}

function model(Model: new (data: never) => { validate(): void }, value: unknown, path: string): void {
  try {
    new Model(value as never).validate();
  } catch (err) {
    fail(path, (err as Error).message);
  }
}

function mutatingAdmissionPolicySpec(value: unknown, path: string): void {
  const spec = object(
    value,
    path,
    [
      'paramKind',
      'matchConstraints',
      'variables',
      'mutations',
      'failurePolicy',
      'matchConditions',
      'reinvocationPolicy',
    ],
    ['matchConstraints', 'mutations', 'reinvocationPolicy'],
  );
  if (spec.paramKind !== undefined) model(ParamKind, spec.paramKind, `${path}.paramKind`);
  model(MatchResources, spec.matchConstraints, `${path}.matchConstraints`);
  list(spec.variables, `${path}.variables`).forEach((v, i) => model(Variable, v, `${path}.variables[${i}]`));
  list(spec.matchConditions, `${path}.matchConditions`).forEach((c, i) =>
    model(MatchCondition, c, `${path}.matchConditions[${i}]`),
  );
  oneOf(spec.failurePolicy, `${path}.failurePolicy`, ['Ignore', 'Fail']);
  oneOf(spec.reinvocationPolicy, `${path}.reinvocationPolicy`, ['Never', 'IfNeeded']);
  const mutations = list(spec.mutations, `${path}.mutations`);
  if (mutations.length === 0) fail(`${path}.mutations`, 'at least one mutation');
  mutations.forEach((value, i) => {
    const at = `${path}.mutations[${i}]`;
    const m = object(value, at, ['patchType', 'applyConfiguration', 'jsonPatch'], ['patchType']);
    oneOf(m.patchType, `${at}.patchType`, ['ApplyConfiguration', 'JSONPatch']);
    const member = m.patchType === 'JSONPatch' ? 'jsonPatch' : 'applyConfiguration';
    const other = member === 'jsonPatch' ? 'applyConfiguration' : 'jsonPatch';
    if (m[other] !== undefined) fail(`${at}.${other}`, `not allowed with patchType ${String(m.patchType)}`);
    const body = object(m[member], `${at}.${member}`, ['expression'], ['expression']);
    nonEmptyString(body.expression, `${at}.${member}.expression`);
  });
}

function mutatingAdmissionPolicyBindingSpec(value: unknown, path: string): void {
  const spec = object(value, path, ['policyName', 'paramRef', 'matchResources'], ['policyName']);
  nonEmptyString(spec.policyName, `${path}.policyName`);
  if (spec.paramRef !== undefined) model(ParamRef, spec.paramRef, `${path}.paramRef`);
  if (spec.matchResources !== undefined) model(MatchResources, spec.matchResources, `${path}.matchResources`);
}

/**
 * A MutatingAdmissionPolicy or MutatingAdmissionPolicyBinding, admissionregistration.k8s.io/v1 (or
 * v1beta1, Kubernetes 1.34-1.35, whose fields are the same).
 */
export function validateMutatingAdmissionPolicy(
  value: unknown,
  apiVersion = 'admissionregistration.k8s.io/v1',
): void {
  const o = apiObject(value, apiVersion, ['MutatingAdmissionPolicy', 'MutatingAdmissionPolicyBinding']);
  if ((o.metadata as Json).namespace !== undefined) fail('.metadata.namespace', 'cluster-scoped');
  if (o.kind === 'MutatingAdmissionPolicy') mutatingAdmissionPolicySpec(o.spec, '.spec');
  else mutatingAdmissionPolicyBindingSpec(o.spec, '.spec');
}

function labelSelector(value: unknown, path: string): void {
  const s = object(value, path, ['matchLabels', 'matchExpressions']);
  if (s.matchLabels !== undefined) stringMap(s.matchLabels, `${path}.matchLabels`);
  list(s.matchExpressions, `${path}.matchExpressions`).forEach((e, i) => {
    const at = `${path}.matchExpressions[${i}]`;
    const x = object(e, at, ['key', 'operator', 'values'], ['key', 'operator']);
    oneOf(x.operator, `${at}.operator`, ['In', 'NotIn', 'Exists', 'DoesNotExist']);
  });
}

const DURATION = /^(0|(\d+(ms|s|m|h))+)$/;

/** A Prometheus Operator ServiceMonitor (the fields loadwise uses, and no unknown ones). */
export function validateServiceMonitor(value: unknown): void {
  const o = apiObject(value, 'monitoring.coreos.com/v1', ['ServiceMonitor']);
  const spec = object(
    o.spec,
    '.spec',
    ['selector', 'namespaceSelector', 'endpoints', 'jobLabel'],
    ['selector', 'endpoints'],
  );
  labelSelector(spec.selector, '.spec.selector');
  if (spec.namespaceSelector !== undefined) {
    const n = object(spec.namespaceSelector, '.spec.namespaceSelector', ['any', 'matchNames']);
    list(n.matchNames, '.spec.namespaceSelector.matchNames').forEach((name, i) =>
      nonEmptyString(name, `.spec.namespaceSelector.matchNames[${i}]`),
    );
  }
  const endpoints = list(spec.endpoints, '.spec.endpoints');
  if (endpoints.length === 0) fail('.spec.endpoints', 'at least one endpoint');
  endpoints.forEach((e, i) => {
    const at = `.spec.endpoints[${i}]`;
    const ep = object(e, at, ['port', 'path', 'interval', 'scrapeTimeout', 'scheme']);
    nonEmptyString(ep.port, `${at}.port`);
    if (ep.path !== undefined && !String(ep.path).startsWith('/')) fail(`${at}.path`, 'must start with /');
    for (const d of ['interval', 'scrapeTimeout'] as const)
      if (ep[d] !== undefined && !DURATION.test(String(ep[d])))
        fail(`${at}.${d}`, 'not a Prometheus duration');
    oneOf(ep.scheme, `${at}.scheme`, ['http', 'https']);
  });
}
