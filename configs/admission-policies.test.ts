// The admission policies in configs/, evaluated in CEL on the admission requests an attacker (or a
// bug) would send: an agent patching a pod on another node or outside loadwise.io/, the controller
// tainting a Node or rewriting someone else's label; and the vGPU routing policy on the pods it
// must and must not touch.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parse, parseAllDocuments } from 'yaml';
import { craneAnnotationKey, figureAnnotationKey } from '../contracts/annotations.ts';
import { VGPU_ASSIGNMENT_ANNOTATION } from '../contracts/vgpu-pod.ts';
import { HOT_VALUE, NODE_FIGURES } from '../contracts/figures.ts';
import {
  GPU_MANAGER_VCUDA_CORE_RESOURCE,
  VGPU_RESOURCE_NAME_SETS,
  VGPU_CORE_RESOURCE,
  VGPU_MEMORY_RESOURCE,
} from '../contracts/resources.ts';
import {
  type AdmissionPolicy,
  type AdmissionRequest,
  applyJsonPatch,
  mutations,
  validate,
  type Verdict,
} from '../test/support/admission-policy.ts';

const read = (path: string) => readFileSync(new URL(path, import.meta.url), 'utf8');
const policies = parseAllDocuments(read('./deploy/admission-policies.yaml')).map(
  (d) => d.toJS() as AdmissionPolicy,
);
const policy = (name: string) => policies.find((p) => p.metadata.name === name)!;
const agentPolicy = policy('loadwise-agent-pods');
const agentDeletePolicy = policy('loadwise-agent-pod-deletes');
const controllerPolicy = policy('loadwise-controller-nodes');

const AGENT = 'system:serviceaccount:loadwise-system:loadwise-agent';
const CONTROLLER = 'system:serviceaccount:loadwise-system:loadwise-controller';
const NODE_CLAIM = 'authentication.kubernetes.io/node-name';

interface Meta {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
}
interface Obj {
  metadata: Meta;
  spec: Record<string, unknown>;
}

function pod(nodeName: string | undefined, annotations?: Record<string, string>): Obj {
  return {
    metadata: {
      name: 'trainer-0',
      namespace: 'ml',
      labels: { app: 'trainer' },
      ...(annotations ? { annotations } : {}),
    },
    spec: {
      ...(nodeName ? { nodeName } : {}),
      schedulerName: 'loadwise-scheduler',
      containers: [
        {
          name: 'cuda',
          image: 'nvidia/cuda:12.4.1-base',
          resources: { limits: { 'loadwise.io/vgpu-core': '30' } },
        },
      ],
    },
  };
}

function node(annotations?: Record<string, string>, labels?: Record<string, string>): Obj {
  return {
    metadata: {
      name: 'gpu-node-1',
      labels: { 'kubernetes.io/hostname': 'gpu-node-1', ...labels },
      ...(annotations ? { annotations } : {}),
    },
    spec: { podCIDR: '10.244.1.0/24' },
  };
}

/** An UPDATE (what a PATCH becomes) of `before` into `after`, by `username`. */
function update(
  resource: 'pods' | 'nodes',
  username: string,
  before: Obj,
  after: (o: Obj) => void,
  extra?: Record<string, string[]>,
): AdmissionRequest {
  const object = structuredClone(before);
  after(object);
  return {
    operation: 'UPDATE',
    resource: { group: '', version: 'v1', resource },
    userInfo: { username, groups: ['system:serviceaccounts'], ...(extra ? { extra } : {}) },
    object,
    oldObject: before,
  };
}

const onNode = (name: string) => ({
  [NODE_CLAIM]: [name],
  'authentication.kubernetes.io/pod-name': ['agent-x'],
});
const ALLOCATED = 'loadwise.io/vgpu-allocated';

/** A change by the agent on node-a (a token bound to a Pod there). */
const agentOnNodeA = (before: Obj, change: (o: Obj) => void) =>
  update('pods', AGENT, before, change, onNode('node-a'));
/** The agent's one legitimate write: marking a pod (on `podNode`) allocated, with the token's claims. */
const agentMarksAllocated = (podNode: string | undefined, extra: Record<string, string[]> | undefined) =>
  update('pods', AGENT, pod(podNode), (p) => (p.metadata.annotations = { [ALLOCATED]: 'true' }), extra);

function assertRefused(verdict: Verdict, message: RegExp): void {
  assert.ok(verdict.matched, 'the policy applies');
  assert.equal(verdict.allowed, false, 'refused');
  if (!verdict.allowed) {
    assert.match(verdict.message, message);
    assert.equal(verdict.reason, 'Forbidden');
  }
}
const assertAllowed = (verdict: Verdict) => assert.deepEqual(verdict, { matched: true, allowed: true });

describe('admission policy: the agent changes only loadwise.io/ annotations of pods on its own node', () => {
  it('lets the agent on node-a mark a pod on node-a allocated', () => {
    const request = agentMarksAllocated('node-a', onNode('node-a'));
    assertAllowed(validate(agentPolicy, request));
  });

  it('refuses the agent on node-a patching a pod on node-b, naming its node', () => {
    const request = agentMarksAllocated('node-b', onNode('node-a'));
    assertRefused(
      validate(agentPolicy, request),
      /^loadwise-agent on node node-a may change only pods bound to that node$/,
    );
  });

  it('refuses the agent patching a pending pod (no node yet)', () => {
    const request = agentMarksAllocated(undefined, onNode('node-a'));
    assertRefused(validate(agentPolicy, request), /may change only pods bound to that node/);
  });

  it('refuses the agent credentials without the node claim (a Secret token, a copied credential)', () => {
    const tokens: (Record<string, string[]> | undefined)[] = [
      undefined,
      {},
      { [NODE_CLAIM]: [] },
      { [NODE_CLAIM]: ['node-a', 'node-b'] },
    ];
    for (const extra of tokens) {
      const request = agentMarksAllocated('node-a', extra);
      assertRefused(validate(agentPolicy, request), /must carry the node claim/);
    }
  });

  it('refuses an annotation outside loadwise.io/, added, changed or removed', () => {
    const before = pod('node-a', { 'prometheus.io/scrape': 'true' });
    const attempts: ((p: Obj) => void)[] = [
      (p) => (p.metadata.annotations!['cluster-autoscaler.kubernetes.io/safe-to-evict'] = 'true'),
      (p) => (p.metadata.annotations!['prometheus.io/scrape'] = 'false'),
      (p) => delete p.metadata.annotations!['prometheus.io/scrape'],
      (p) => delete p.metadata.annotations,
    ];
    for (const attempt of attempts) {
      const verdict = validate(agentPolicy, agentOnNodeA(before, attempt));
      assertRefused(verdict, /^loadwise-agent may change only loadwise.io\/ annotations of a pod$/);
    }
  });

  it('refuses labels, finalizers and spec (an image swapped in place)', () => {
    const label = agentOnNodeA(pod('node-a'), (p) => (p.metadata.labels!.app = 'evil'));
    assertRefused(validate(agentPolicy, label), /labels, finalizers or owners/);
    const finalizer = agentOnNodeA(pod('node-a'), (p) => (p.metadata.finalizers = ['x/y']));
    assertRefused(validate(agentPolicy, finalizer), /labels, finalizers or owners/);
    const image = agentOnNodeA(pod('node-a'), (p) => {
      (p.spec.containers as { image: string }[])[0]!.image = 'attacker/miner';
    });
    assertRefused(validate(agentPolicy, image), /may not change a pod's spec/);
  });

  it('lets the agent remove or rewrite its own annotations', () => {
    const before = pod('node-a', { [ALLOCATED]: 'true', team: 'ml' });
    const removed = agentOnNodeA(before, (p) => delete p.metadata.annotations![ALLOCATED]);
    assertAllowed(validate(agentPolicy, removed));
  });

  it('does not apply to anyone else (kubelet, the extender, a user)', () => {
    for (const username of [
      'system:node:node-a',
      'system:serviceaccount:loadwise-system:loadwise-kube-scheduler',
      'alice',
    ]) {
      const request = update('pods', username, pod('node-b'), (p) => (p.metadata.labels!.app = 'x'));
      assert.deepEqual(validate(agentPolicy, request), { matched: false });
    }
  });

  it('does not apply to Nodes (RBAC gives the agent none)', () => {
    const request = update(
      'nodes',
      AGENT,
      node(),
      (n) => (n.spec.unschedulable = true),
      onNode('gpu-node-1'),
    );
    assert.deepEqual(validate(agentPolicy, request), { matched: false });
  });
});

/** A pod on `nodeName` that kubelet refused at admission, placed by loadwise and owned by a ReplicaSet. */
function refusedPod(nodeName: string | undefined, reason = 'UnexpectedAdmissionError') {
  const p = pod(nodeName, { [VGPU_ASSIGNMENT_ANNOTATION]: '[[0,30,0]]' }) as Obj & {
    metadata: Meta & { ownerReferences?: unknown[] };
    status?: Record<string, string>;
  };
  p.metadata.ownerReferences = [
    { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'trainer-5d8f', uid: 'rs-1', controller: true },
  ];
  p.status = { phase: 'Failed', reason, message: 'Allocate failed' };
  return p;
}

/** A DELETE by `username` of `victim`: `object` is null, `oldObject` the pod being deleted. */
const remove = (victim: unknown, extra?: Record<string, string[]>, username = AGENT): AdmissionRequest => ({
  operation: 'DELETE',
  resource: { group: '', version: 'v1', resource: 'pods' },
  userInfo: { username, groups: ['system:serviceaccounts'], ...(extra ? { extra } : {}) },
  object: null,
  oldObject: victim,
});

describe('admission policy: the agent deletes only failed-admission pods of its own node that a controller recreates', () => {
  it('lets the agent on node-a delete a ReplicaSet pod on node-a that kubelet refused for a loadwise resource', () => {
    const reasons = [
      'UnexpectedAdmissionError',
      ...Object.values(VGPU_RESOURCE_NAME_SETS).flatMap((set) => Object.values(set).map((r) => `OutOf${r}`)),
    ];
    for (const reason of reasons) {
      assertAllowed(validate(agentDeletePolicy, remove(refusedPod('node-a', reason), onNode('node-a'))));
    }
  });

  it('refuses a stolen agent token deleting a pod on another node, or a running pod of its own', () => {
    assertRefused(
      validate(agentDeletePolicy, remove(refusedPod('node-b'), onNode('node-a'))),
      /^loadwise-agent on node node-a may delete only pods bound to that node$/,
    );
    assertRefused(
      validate(agentDeletePolicy, remove(refusedPod(undefined), onNode('node-a'))),
      /may delete only pods bound to that node/,
    );
    const running = refusedPod('node-a');
    running.status = { phase: 'Running' };
    assertRefused(
      validate(agentDeletePolicy, remove(running, onNode('node-a'))),
      /may delete only pods that kubelet refused at admission for a loadwise resource/,
    );
    const otherReason = refusedPod('node-a', 'OutOfcpu');
    assertRefused(
      validate(agentDeletePolicy, remove(otherReason, onNode('node-a'))),
      /refused at admission for a loadwise resource/,
    );
  });

  it('refuses deleting a bare pod, or one loadwise did not place', () => {
    const bare = refusedPod('node-a');
    delete bare.metadata.ownerReferences;
    assertRefused(
      validate(agentDeletePolicy, remove(bare, onNode('node-a'))),
      /may delete only pods that loadwise placed and a controller owns/,
    );
    const notOurs = refusedPod('node-a');
    delete notOurs.metadata.annotations;
    assertRefused(validate(agentDeletePolicy, remove(notOurs, onNode('node-a'))), /loadwise placed/);
  });

  it('refuses the agent credentials without the node claim', () => {
    const tokens: (Record<string, string[]> | undefined)[] = [
      undefined,
      {},
      { [NODE_CLAIM]: ['node-a', 'node-b'] },
    ];
    for (const extra of tokens) {
      assertRefused(
        validate(agentDeletePolicy, remove(refusedPod('node-a'), extra)),
        /must carry the node claim/,
      );
    }
  });

  it("does not apply to anyone else, nor to the agent's updates", () => {
    const request = remove(
      pod('node-b'),
      undefined,
      'system:serviceaccount:kube-system:replicaset-controller',
    );
    assert.deepEqual(validate(agentDeletePolicy, request), { matched: false });
    assert.deepEqual(validate(agentDeletePolicy, agentMarksAllocated('node-a', onNode('node-a'))), {
      matched: false,
    });
  });
});

describe('admission policy: the controller changes only loadwise.io/ annotations and labels of Nodes', () => {
  const figures = Object.fromEntries(
    NODE_FIGURES.map((f) => [figureAnnotationKey(f), '0.35000,2026-12-03T22:00:00Z']),
  );

  it('lets it write every figure, the GPU inventory, and a loadwise.io/ label', () => {
    const request = update('nodes', CONTROLLER, node({ 'node.alpha.kubernetes.io/ttl': '0' }), (n) => {
      Object.assign(n.metadata.annotations!, figures, { 'loadwise.io/gpu-inventory': '{"v":1,"gpus":[]}' });
      n.metadata.labels!['loadwise.io/hot'] = 'true';
    });
    assertAllowed(validate(controllerPolicy, request));
  });

  it('refuses a taint, cordoning, or any other spec change', () => {
    const taint = update('nodes', CONTROLLER, node(), (n) => {
      n.spec.taints = [{ key: 'evil', effect: 'NoSchedule' }];
    });
    assertRefused(validate(controllerPolicy, taint), /may not change a Node's spec/);
    const cordon = update('nodes', CONTROLLER, node(), (n) => (n.spec.unschedulable = true));
    assertRefused(validate(controllerPolicy, cordon), /may not change a Node's spec/);
  });

  it("refuses someone else's labels and annotations", () => {
    const label = update(
      'nodes',
      CONTROLLER,
      node(),
      (n) => (n.metadata.labels!['node-role.kubernetes.io/control-plane'] = ''),
    );
    assertRefused(validate(controllerPolicy, label), /only loadwise.io\/ labels/);
    const removeLabel = update(
      'nodes',
      CONTROLLER,
      node(),
      (n) => delete n.metadata.labels!['kubernetes.io/hostname'],
    );
    assertRefused(validate(controllerPolicy, removeLabel), /only loadwise.io\/ labels/);
    const annotation = update(
      'nodes',
      CONTROLLER,
      node({ 'volumes.kubernetes.io/controller-managed-attach-detach': 'true' }),
      (n) => {
        delete n.metadata.annotations!['volumes.kubernetes.io/controller-managed-attach-detach'];
      },
    );
    assertRefused(
      validate(controllerPolicy, annotation),
      /^loadwise-controller may change only loadwise.io\/ annotations of a Node$/,
    );
    const finalizer = update('nodes', CONTROLLER, node(), (n) => (n.metadata.finalizers = ['x/y']));
    assertRefused(validate(controllerPolicy, finalizer), /finalizers or owners/);
  });

  it("refuses crane-scheduler's bare keys unless the crane-compat component is on", () => {
    const crane = update('nodes', CONTROLLER, node(), (n) => {
      n.metadata.annotations = { [craneAnnotationKey('cpu_usage_avg_5m')]: '0.35000,2026-12-03T22:00:00Z' };
    });
    assertRefused(validate(controllerPolicy, crane), /only loadwise.io\/ annotations/);
    assertAllowed(validate(withCraneCompat(controllerPolicy), crane));
  });

  it('with crane-compat, allows exactly the crane keys the controller writes (every figure and the hot value)', () => {
    const compat = withCraneCompat(controllerPolicy);
    const keys = [...NODE_FIGURES.map((f) => craneAnnotationKey(f)), craneAnnotationKey(HOT_VALUE)];
    const all = update('nodes', CONTROLLER, node(), (n) => {
      n.metadata.annotations = Object.fromEntries(keys.map((k) => [k, '1,2026-12-03T22:00:00Z']));
    });
    assertAllowed(validate(compat, all));
    const listed = compat.spec.variables!.find((v) => v.name === 'craneKeys')!.expression;
    assert.deepEqual(
      [...listed.matchAll(/'([^']+)'/g)].map((m) => m[1]),
      keys,
      'the list is the contract',
    );
    const other = update(
      'nodes',
      CONTROLLER,
      node(),
      (n) => (n.metadata.annotations = { cpu_usage_avg_7m: '0' }),
    );
    assertRefused(validate(compat, other), /loadwise.io\/ and crane-scheduler annotations/);
  });

  it('does not apply to anyone else', () => {
    const request = update('nodes', 'system:node:gpu-node-1', node(), (n) => (n.spec.unschedulable = true));
    assert.deepEqual(validate(controllerPolicy, request), { matched: false });
  });
});

/** The controller policy as the crane-compat component's JSON patch leaves it. */
function withCraneCompat(base: AdmissionPolicy): AdmissionPolicy {
  const ops = parse(read('./components/crane-compat/crane-keys-patch.yaml')) as {
    op: string;
    path: string;
    value: string;
  }[];
  const out = structuredClone(base) as AdmissionPolicy & {
    spec: { variables: { name: string; expression: string }[] };
  };
  for (const op of ops) {
    const index = Number(/^\/spec\/variables\/(\d+)\/(name|expression)$/.exec(op.path)?.[1]);
    const variable = out.spec.variables[index]!;
    if (op.op === 'test') assert.equal(variable.name, op.value, 'the patch targets craneKeys');
    else if (op.op === 'replace' && op.path.endsWith('/expression')) variable.expression = op.value;
    else assert.fail(`unexpected op ${op.op} ${op.path}`);
  }
  return out;
}

describe('admission policy: vGPU pods go to loadwise-scheduler', () => {
  const routing = parseAllDocuments(read('./components/vgpu-routing/mutating-admission-policy.yaml'))
    .map((d) => d.toJS() as AdmissionPolicy)
    .find((p) => p.kind === 'MutatingAdmissionPolicy')!;
  const schedulerName = (parse(read('./scheduler-config.yaml')) as { profiles: { schedulerName: string }[] })
    .profiles[0]!.schedulerName;

  function create(
    resources: Record<string, string>,
    schedulerName = 'default-scheduler',
    init = false,
  ): AdmissionRequest {
    const container = { name: 'c', image: 'x', resources: { limits: resources } };
    return {
      operation: 'CREATE',
      resource: { group: '', version: 'v1', resource: 'pods' },
      userInfo: { username: 'system:serviceaccount:ml:job-controller' },
      object: {
        metadata: { name: 'p', namespace: 'ml' },
        spec: {
          schedulerName,
          containers: init ? [{ name: 'main', image: 'x' }] : [container],
          ...(init ? { initContainers: [container] } : {}),
        },
      },
      oldObject: null,
    };
  }
  const scheduledBy = (request: AdmissionRequest) =>
    (applyJsonPatch(request.object, mutations(routing, request)) as { spec: { schedulerName: string } }).spec
      .schedulerName;

  it('sets the loadwise profile on pods that request a vGPU resource, in any container', () => {
    for (const resource of [VGPU_CORE_RESOURCE, VGPU_MEMORY_RESOURCE, GPU_MANAGER_VCUDA_CORE_RESOURCE]) {
      assert.equal(scheduledBy(create({ [resource]: '30' })), schedulerName, resource);
      assert.equal(
        scheduledBy(create({ [resource]: '30' }, 'default-scheduler', true)),
        schedulerName,
        `${resource} init`,
      );
    }
  });

  it('leaves other pods, and pods that chose a scheduler, as they are', () => {
    assert.equal(scheduledBy(create({ cpu: '1' })), 'default-scheduler');
    assert.equal(scheduledBy(create({ 'nvidia.com/gpu': '1' })), 'default-scheduler');
    assert.equal(scheduledBy(create({ [VGPU_CORE_RESOURCE]: '30' }, 'volcano')), 'volcano');
  });

  it('names only resources loadwise serves, and the scheduler the KubeSchedulerConfiguration runs', () => {
    const conditions = routing.spec.matchConditions!.map((c) => c.expression).join('\n');
    const named = new Set([...conditions.matchAll(/'([a-z0-9.-]+\/[a-z0-9-]+)'/g)].map((m) => m[1]));
    assert.deepEqual(
      [...named].sort(),
      [VGPU_CORE_RESOURCE, VGPU_MEMORY_RESOURCE, GPU_MANAGER_VCUDA_CORE_RESOURCE].sort(),
    );
    assert.equal(schedulerName, 'loadwise-scheduler');
  });
});
