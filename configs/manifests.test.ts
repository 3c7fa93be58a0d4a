// The deploy manifests: every object valid against the Kubernetes schemas (kubernetes-models), in
// the files and as kustomize renders each topology; the secure topology really is closed (the
// extender on the kube-scheduler Pod's loopback, or behind mutual TLS and a NetworkPolicy); and
// consistent with the code they run — flags the commands accept, probe paths, ConfigMaps and
// Secrets mounted, ServiceAccounts bound, the usernames the admission policies name.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse, parseAllDocuments } from 'yaml';
import { DaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Pod } from 'kubernetes-models/v1/Pod';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ClusterRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole';
import { ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding';
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import { ValidatingAdmissionPolicy } from 'kubernetes-models/admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy';
import { ValidatingAdmissionPolicyBinding } from 'kubernetes-models/admissionregistration.k8s.io/v1/ValidatingAdmissionPolicyBinding';
import { EXTENDER_DEFAULT_PORT } from '../contracts/extender-api.ts';
import { validateMutatingAdmissionPolicy, validateServiceMonitor } from '../test/support/extra-schemas.ts';

const configs = fileURLToPath(new URL('.', import.meta.url));
const root = join(configs, '..');

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [key: string]: unknown;
}

interface Probe {
  httpGet?: { path: string; port: number | string; scheme?: string };
  exec?: { command: string[] };
}
interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  ports?: { name?: string; containerPort: number }[];
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  volumeMounts?: { name: string; mountPath: string }[];
}
interface PodSpec {
  serviceAccountName?: string;
  hostNetwork?: boolean;
  containers: Container[];
  volumes?: { name: string; configMap?: { name: string }; secret?: { secretName: string } }[];
}
interface Workload extends K8sObject {
  spec: {
    replicas?: number;
    selector: { matchLabels: Record<string, string> };
    template: { metadata: { labels: Record<string, string> }; spec: PodSpec };
  };
}

type Validator = (o: K8sObject) => void;
const model =
  (Model: new (data: never) => { validate(): void }): Validator =>
  (o) =>
    new Model(o as never).validate();
const SCHEMAS: Record<string, Validator> = {
  'v1/Namespace': model(Namespace),
  'v1/ServiceAccount': model(ServiceAccount),
  'v1/Service': model(Service),
  'v1/ConfigMap': model(ConfigMap),
  'v1/Pod': model(Pod),
  'apps/v1/DaemonSet': model(DaemonSet),
  'apps/v1/Deployment': model(Deployment),
  'policy/v1/PodDisruptionBudget': model(PodDisruptionBudget),
  'networking.k8s.io/v1/NetworkPolicy': model(NetworkPolicy),
  'rbac.authorization.k8s.io/v1/ClusterRole': model(ClusterRole),
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': model(ClusterRoleBinding),
  'rbac.authorization.k8s.io/v1/Role': model(Role),
  'rbac.authorization.k8s.io/v1/RoleBinding': model(RoleBinding),
  'admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy': model(ValidatingAdmissionPolicy),
  'admissionregistration.k8s.io/v1/ValidatingAdmissionPolicyBinding': model(ValidatingAdmissionPolicyBinding),
  // Not in kubernetes-models 4.5.1: checked against the v1 API fields (test/support/extra-schemas.ts).
  'admissionregistration.k8s.io/v1/MutatingAdmissionPolicy': (o) => validateMutatingAdmissionPolicy(o),
  'admissionregistration.k8s.io/v1/MutatingAdmissionPolicyBinding': (o) => validateMutatingAdmissionPolicy(o),
  'admissionregistration.k8s.io/v1beta1/MutatingAdmissionPolicy': (o) =>
    validateMutatingAdmissionPolicy(o, 'admissionregistration.k8s.io/v1beta1'),
  'admissionregistration.k8s.io/v1beta1/MutatingAdmissionPolicyBinding': (o) =>
    validateMutatingAdmissionPolicy(o, 'admissionregistration.k8s.io/v1beta1'),
  'monitoring.coreos.com/v1/ServiceMonitor': validateServiceMonitor,
};
const CLUSTER_SCOPED = new Set([
  'Namespace',
  'ClusterRole',
  'ClusterRoleBinding',
  'ValidatingAdmissionPolicy',
  'ValidatingAdmissionPolicyBinding',
  'MutatingAdmissionPolicy',
  'MutatingAdmissionPolicyBinding',
]);

function validateObject(o: K8sObject, where: string): void {
  const validate = SCHEMAS[`${o.apiVersion}/${o.kind}`];
  assert.ok(validate, `${where}: no schema for ${o.apiVersion} ${o.kind}`);
  assert.doesNotThrow(() => validate(o), `${where}: ${o.kind} ${o.metadata.name}`);
}

// ---- the files ------------------------------------------------------------------------------

interface Kustomization {
  resources?: string[];
  components?: string[];
  configMapGenerator?: { name: string; behavior?: string; files: string[] }[];
  patches?: { path?: string; patch?: string }[];
}
const readYaml = (file: string) => parse(readFileSync(file, 'utf8')) as unknown;
const kustomizationIn = (dir: string) => readYaml(join(dir, 'kustomization.yaml')) as Kustomization;
const componentsDir = join(configs, 'components');
const COMPONENTS = readdirSync(componentsDir).sort();
const kustomizations: { dir: string; k: Kustomization }[] = [
  { dir: configs, k: kustomizationIn(configs) },
  ...COMPONENTS.map((c) => ({ dir: join(componentsDir, c), k: kustomizationIn(join(componentsDir, c)) })),
];
const resourceFiles = [
  ...kustomizations.flatMap(({ dir, k }) => (k.resources ?? []).map((r) => join(dir, r))),
  ...readdirSync(join(configs, 'deploy', 'samples')).map((f) => join(configs, 'deploy', 'samples', f)),
];
const loadObjects = (file: string) =>
  parseAllDocuments(readFileSync(file, 'utf8')).map((d) => d.toJS() as K8sObject);

// ---- kustomize renderings --------------------------------------------------------------------

const kubectlAvailable = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' }).status === 0;
const noKubectl = kubectlAvailable ? false : 'kubectl (with its built-in kustomize) is not on PATH';

/** `kubectl kustomize` of an overlay, kept outside configs/ as kustomize requires, of configs/ plus components. */
function render(components: readonly string[]): K8sObject[] {
  const dir = mkdtempSync(join(tmpdir(), 'loadwise-overlay-'));
  try {
    writeFileSync(
      join(dir, 'kustomization.yaml'),
      JSON.stringify({
        apiVersion: 'kustomize.config.k8s.io/v1beta1',
        kind: 'Kustomization',
        resources: [relative(dir, configs)],
        components: components.map((c) => relative(dir, join(componentsDir, c))),
      }),
    );
    const r = spawnSync('kubectl', ['kustomize', dir], { encoding: 'utf8', maxBuffer: 16 << 20 });
    assert.equal(r.status, 0, r.stderr);
    return parseAllDocuments(r.stdout).map((d) => d.toJS() as K8sObject);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
const VARIANTS: Record<string, readonly string[]> = {
  default: [],
  ...Object.fromEntries(COMPONENTS.map((c) => [c, [c]])),
  'every component': COMPONENTS,
};
const rendered = new Map<string, K8sObject[]>();
const renderedVariant = (name: string) => {
  if (!rendered.has(name)) rendered.set(name, render(VARIANTS[name]!));
  return rendered.get(name)!;
};

// ---- helpers over a set of objects ------------------------------------------------------------

const find = <T extends K8sObject = K8sObject>(objects: K8sObject[], kind: string, name: string) =>
  objects.find((o) => o.kind === kind && o.metadata.name === name) as T | undefined;
const workloadsIn = (objects: K8sObject[]) =>
  objects.filter((o): o is Workload => o.kind === 'Deployment' || o.kind === 'DaemonSet');
const selects = (selector: Record<string, string>, labels: Record<string, string> | undefined) =>
  Object.entries(selector).every(([k, v]) => labels?.[k] === v);
const schedulerConfigIn = (objects: K8sObject[]) =>
  parse(
    find<ConfigMapObject>(objects, 'ConfigMap', 'loadwise-scheduler-config')!.data['scheduler-config.yaml']!,
  ) as SchedulerConfig;
type ConfigMapObject = K8sObject & { data: Record<string, string> };
type BindingObject = K8sObject & { subjects: { kind: string; name: string; namespace?: string }[] };
type WithSpec<S> = K8sObject & { spec: S };
interface SchedulerConfig {
  leaderElection: { leaderElect: boolean };
  extenders: {
    urlPrefix: string;
    enableHTTPS?: boolean;
    tlsConfig?: { certFile?: string; keyFile?: string; caFile?: string };
    [field: string]: unknown;
  }[];
}
const kubeScheduler = (objects: K8sObject[]) =>
  find<Workload>(objects, 'Deployment', 'loadwise-kube-scheduler')!;
/** The Secret a container's file is in, through the container's volume mounts. */
function secretOf(spec: PodSpec, container: Container, path: string): string | undefined {
  const mount = container.volumeMounts?.find((m) => path.startsWith(`${m.mountPath}/`));
  return spec.volumes?.find((v) => v.name === mount?.name)?.secret?.secretName;
}
const flagValue = (c: Container, flag: string) =>
  c.args?.find((a) => a.startsWith(`${flag}=`))?.slice(flag.length + 1);
const LOADWISE_ENTRIES: Record<string, string> = {
  '/app/dist/node-agent.mjs': 'node-agent/main.ts',
  '/app/dist/controller.mjs': 'controller/main.ts',
  '/app/dist/scheduler.mjs': 'scheduler/main.ts',
};
/** The HTTP path a probe asks for, whether kubelet asks (httpGet) or a command in the container does. */
const probePath = (p: Probe | undefined) =>
  p?.httpGet?.path ?? p?.exec?.command.find((a) => /^\/\w+$/.test(a) || /\/(healthz|readyz|livez)\b/.test(a));

describe('deploy manifests, as files', () => {
  it('are every one valid against the Kubernetes schemas', () => {
    const objects = resourceFiles.flatMap((f) => loadObjects(f).map((o) => ({ f, o })));
    assert.ok(objects.length >= 30, `${objects.length} objects`);
    for (const { f, o } of objects) validateObject(o, relative(root, f));
  });

  it('would catch an invalid one (the validators are really on)', () => {
    const agent = find<Workload>(
      loadObjects(join(configs, 'deploy', 'agent.yaml')),
      'DaemonSet',
      'loadwise-agent',
    )!;
    const broken = structuredClone(agent);
    (broken.spec.template.spec.containers[0] as unknown as { ports: unknown }).ports = [
      { containerPort: 'http' },
    ];
    assert.throws(() => new DaemonSet(broken as never).validate(), /containerPort/);
    const file = join(componentsDir, 'vgpu-routing', 'mutating-admission-policy.yaml');
    const map = loadObjects(file).find((o) => o.kind === 'MutatingAdmissionPolicy')!;
    const typo = structuredClone(map) as K8sObject & { spec: { mutations: { patchType: string }[] } };
    typo.spec.mutations[0]!.patchType = 'StrategicMerge';
    assert.throws(() => validateMutatingAdmissionPolicy(typo), /patchType/);
    const extra = structuredClone(map) as K8sObject & { spec: Record<string, unknown> };
    extra.spec.validations = [];
    assert.throws(() => validateMutatingAdmissionPolicy(extra), /validations/);
  });

  it('are listed by kustomizations whose files exist, and mount only generated ConfigMaps', () => {
    const generated = new Set<string>();
    for (const { dir, k } of kustomizations) {
      for (const r of k.resources ?? []) assert.ok(existsSync(join(dir, r)), r);
      for (const p of k.patches ?? []) if (p.path) assert.ok(existsSync(join(dir, p.path)), p.path);
      for (const g of k.configMapGenerator ?? []) {
        for (const f of g.files) assert.ok(existsSync(join(dir, f.split('=').at(-1)!)), f);
        generated.add(g.name);
      }
    }
    for (const f of resourceFiles) {
      for (const w of workloadsIn(loadObjects(f))) {
        for (const v of w.spec.template.spec.volumes ?? [])
          if (v.configMap)
            assert.ok(generated.has(v.configMap.name), `${w.metadata.name} mounts ${v.configMap.name}`);
      }
    }
  });

  it('keep the extender-mtls KubeSchedulerConfiguration equal to the default but for where and how it calls', () => {
    const strip = (c: SchedulerConfig) => ({
      ...c,
      extenders: c.extenders.map(({ urlPrefix: _u, enableHTTPS: _e, tlsConfig: _t, ...rest }) => rest),
    });
    const base = readYaml(join(configs, 'scheduler-config.yaml')) as SchedulerConfig;
    const mtls = readYaml(join(componentsDir, 'extender-mtls', 'scheduler-config.yaml')) as SchedulerConfig;
    assert.deepEqual(strip(mtls), strip(base));
  });
});

describe('deploy manifests, as kustomize renders each topology', { skip: noKubectl }, () => {
  for (const variant of Object.keys(VARIANTS)) {
    it(`${variant}: every object valid, namespaced where it must be, bound to what exists`, () => {
      const objects = renderedVariant(variant);
      for (const o of objects) {
        validateObject(o, variant);
        if (CLUSTER_SCOPED.has(o.kind))
          assert.equal(o.metadata.namespace, undefined, `${o.kind} ${o.metadata.name}`);
        else if (o.kind !== 'Namespace')
          assert.ok(o.metadata.namespace, `${o.kind} ${o.metadata.name} has a namespace`);
      }
      // kube-scheduler reads the authentication settings from kube-system: its RoleBinding must stay there.
      assert.equal(
        find(objects, 'RoleBinding', 'loadwise-kube-scheduler-auth-reader')?.metadata.namespace,
        'kube-system',
      );
      for (const w of workloadsIn(objects)) {
        const spec = w.spec.template.spec;
        assert.ok(
          find(objects, 'ServiceAccount', spec.serviceAccountName ?? ''),
          `${w.metadata.name}: ${spec.serviceAccountName}`,
        );
        for (const v of spec.volumes ?? []) {
          if (v.configMap)
            assert.ok(
              find(objects, 'ConfigMap', v.configMap.name),
              `${w.metadata.name}: ${v.configMap.name}`,
            );
          // The only Secrets are the ones the README tells the user to create.
          if (v.secret)
            assert.ok(
              ['loadwise-extender-tls', 'loadwise-kube-scheduler-tls'].includes(v.secret.secretName),
              v.secret.secretName,
            );
        }
        assert.ok(selects(w.spec.selector.matchLabels, w.spec.template.metadata.labels), w.metadata.name);
      }
      for (const b of objects.filter((o) => o.kind === 'ClusterRoleBinding' || o.kind === 'RoleBinding')) {
        for (const s of (b as BindingObject).subjects)
          if (s.kind === 'ServiceAccount')
            assert.ok(
              find(objects, 'ServiceAccount', s.name)?.metadata.namespace === s.namespace,
              `${b.metadata.name}: ${s.name}`,
            );
      }
      for (const pdb of objects.filter((o) => o.kind === 'PodDisruptionBudget')) {
        const { minAvailable, selector } = (
          pdb as WithSpec<{ minAvailable: number; selector: { matchLabels: Record<string, string> } }>
        ).spec;
        const target = workloadsIn(objects).find((w) =>
          selects(selector.matchLabels, w.spec.template.metadata.labels),
        );
        assert.ok(target, `${pdb.metadata.name} selects a workload`);
        assert.ok(
          minAvailable < (target.spec.replicas ?? 1),
          `${pdb.metadata.name} lets a drain evict one replica`,
        );
      }
    });

    it(`${variant}: every file a command is pointed at is in the ConfigMap mounted there`, () => {
      const objects = renderedVariant(variant);
      for (const w of workloadsIn(objects)) {
        const spec = w.spec.template.spec;
        for (const c of spec.containers) {
          for (const flag of ['--config', '--policy']) {
            const file = [...(c.command ?? []), ...(c.args ?? [])]
              .find((a) => a.startsWith(`${flag}=`))
              ?.slice(flag.length + 1);
            if (!file) continue;
            const mount = c.volumeMounts?.find((m) => file.startsWith(`${m.mountPath}/`));
            const configMap = spec.volumes?.find((v) => v.name === mount?.name)?.configMap?.name;
            const data = find<ConfigMapObject>(objects, 'ConfigMap', configMap ?? '')?.data ?? {};
            assert.ok(
              mount && file.slice(mount.mountPath.length + 1) in data,
              `${w.metadata.name}/${c.name}: ${file}`,
            );
          }
        }
      }
    });

    it(`${variant}: every loadwise server is probed live on /healthz and ready on /readyz`, () => {
      for (const w of workloadsIn(renderedVariant(variant))) {
        for (const c of w.spec.template.spec.containers) {
          const where = `${w.metadata.name}/${c.name}`;
          if (LOADWISE_ENTRIES[c.command?.[0] ?? '']) {
            assert.equal(probePath(c.livenessProbe), '/healthz', where);
            assert.equal(probePath(c.readinessProbe), '/readyz', where);
          } else if (c.name === 'kube-scheduler') {
            assert.equal(probePath(c.livenessProbe), '/livez', where);
            assert.equal(probePath(c.readinessProbe), '/readyz', where);
          }
        }
      }
    });
  }

  it('default: the extender listens on the kube-scheduler Pod loopback only, and kube-scheduler calls it there', () => {
    const objects = renderedVariant('default');
    const deployment = kubeScheduler(objects);
    const pod = deployment.spec.template.spec;
    const extender = pod.containers.find((c) => c.command?.[0] === '/app/dist/scheduler.mjs');
    assert.ok(extender, 'the extender is a container of the kube-scheduler Pod');
    assert.equal(flagValue(extender, '--listen'), `127.0.0.1:${EXTENDER_DEFAULT_PORT}`);
    assert.equal(extender.ports, undefined, 'no port on the Pod IP');
    assert.notEqual(pod.hostNetwork, true, "the Pod's loopback is its own");
    // Nothing else runs the extender, and no Service leads to it.
    const extenders = workloadsIn(objects).filter((w) =>
      w.spec.template.spec.containers.some((c) => c.command?.[0] === '/app/dist/scheduler.mjs'),
    );
    assert.deepEqual(
      extenders.map((w) => w.metadata.name),
      ['loadwise-kube-scheduler'],
    );
    for (const s of objects.filter((o) => o.kind === 'Service')) {
      const selector = (s as WithSpec<{ selector?: Record<string, string> }>).spec.selector ?? {};
      assert.ok(!selects(selector, deployment.spec.template.metadata.labels), `Service ${s.metadata.name}`);
    }
    const config = schedulerConfigIn(objects);
    for (const e of config.extenders) assert.equal(e.urlPrefix, `http://127.0.0.1:${EXTENDER_DEFAULT_PORT}`);
    assert.equal(config.leaderElection.leaderElect, true);
    assert.equal(deployment.spec.replicas, 2);
    assert.ok(find(objects, 'PodDisruptionBudget', 'loadwise-kube-scheduler'));
  });

  it('extender-mtls: kube-scheduler calls a separate extender over mutual TLS, and only it may connect', () => {
    const objects = renderedVariant('extender-mtls');
    const schedulerPod = kubeScheduler(objects).spec.template.spec;
    assert.deepEqual(
      schedulerPod.containers.map((c) => c.name),
      ['kube-scheduler'],
    );
    const kubeSchedulerContainer = schedulerPod.containers[0]!;
    const extenderDeployment = find<Workload>(objects, 'Deployment', 'loadwise-scheduler')!;
    const extenderPod = extenderDeployment.spec.template.spec;
    const extender = extenderPod.containers[0]!;
    // The extender serves TLS and demands a client certificate signed by the CA in its Secret.
    assert.equal(flagValue(extender, '--listen'), `0.0.0.0:${EXTENDER_DEFAULT_PORT}`);
    for (const flag of ['--tls-cert', '--tls-key', '--tls-client-ca'])
      assert.equal(
        secretOf(extenderPod, extender, flagValue(extender, flag) ?? ''),
        'loadwise-extender-tls',
        flag,
      );
    assert.ok(extender.args?.includes('--scheduler-name=loadwise-scheduler'));
    // kube-scheduler calls it through its Service over HTTPS, with its own client certificate.
    for (const e of schedulerConfigIn(objects).extenders) {
      const url = new URL(e.urlPrefix);
      assert.equal(url.protocol, 'https:');
      assert.equal(e.enableHTTPS, true);
      const [service, namespace] = url.hostname.split('.');
      const svc = find(objects, 'Service', service!) as K8sObject & {
        spec: { selector: Record<string, string>; ports: { port: number }[] };
      };
      assert.equal(svc.metadata.namespace, namespace);
      assert.ok(svc.spec.ports.some((p) => String(p.port) === url.port));
      assert.ok(selects(svc.spec.selector, extenderDeployment.spec.template.metadata.labels));
      for (const file of [e.tlsConfig?.certFile, e.tlsConfig?.keyFile, e.tlsConfig?.caFile])
        assert.equal(
          secretOf(schedulerPod, kubeSchedulerContainer, file ?? ''),
          'loadwise-kube-scheduler-tls',
          file,
        );
    }
    // Network: only the loadwise kube-scheduler Pods may open a connection.
    const policy = find(objects, 'NetworkPolicy', 'loadwise-scheduler') as K8sObject & {
      spec: {
        podSelector: { matchLabels: Record<string, string> };
        policyTypes: string[];
        ingress: { from: { podSelector: { matchLabels: Record<string, string> } }[] }[];
      };
    };
    assert.ok(selects(policy.spec.podSelector.matchLabels, extenderDeployment.spec.template.metadata.labels));
    assert.deepEqual(policy.spec.policyTypes, ['Ingress']);
    const peers = policy.spec.ingress.flatMap((r) => r.from);
    assert.ok(peers.length > 0);
    for (const peer of peers) {
      const admitted = workloadsIn(objects).filter((w) =>
        selects(peer.podSelector.matchLabels, w.spec.template.metadata.labels),
      );
      assert.deepEqual(
        admitted.map((w) => w.metadata.name),
        ['loadwise-kube-scheduler'],
      );
    }
    // The extender's API rights follow it to its own ServiceAccount.
    const binding = find<BindingObject>(objects, 'ClusterRoleBinding', 'loadwise-scheduler')!;
    assert.deepEqual(
      binding.subjects.map((s) => s.name),
      [extenderPod.serviceAccountName],
    );
    assert.equal(extenderDeployment.spec.replicas, 2);
  });

  it('pass only flags the loadwise commands accept', () => {
    const help = new Map<string, string>();
    for (const w of workloadsIn(renderedVariant('every component')).concat(
      workloadsIn(renderedVariant('default')),
    )) {
      for (const c of w.spec.template.spec.containers) {
        const entry = LOADWISE_ENTRIES[c.command?.[0] ?? ''];
        if (!entry) continue;
        if (!help.has(entry)) {
          const r = spawnSync(process.execPath, ['--import', 'tsx', join(root, entry), '--help'], {
            encoding: 'utf8',
          });
          help.set(entry, r.stdout);
        }
        for (const arg of c.args ?? []) {
          const flag = arg.split('=')[0]!;
          const known = new RegExp(`${flag}[ ,]`).test(help.get(entry)!);
          assert.ok(known, `${w.metadata.name}: ${flag}`);
        }
      }
    }
  });

  it('give the agent and controller the rights they use, and name them right in the admission policies', () => {
    const objects = renderedVariant('default');
    const rules = (role: string) =>
      (
        find(objects, 'ClusterRole', role) as {
          rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[];
        } & K8sObject
      ).rules;
    const may = (role: string, group: string, resource: string, verb: string) =>
      rules(role).some(
        (r) => r.apiGroups.includes(group) && r.resources.includes(resource) && r.verbs.includes(verb),
      );
    for (const role of ['loadwise-agent', 'loadwise-controller']) {
      assert.ok(
        may(role, '', 'events', 'create') && may(role, 'events.k8s.io', 'events', 'create'),
        `${role} records Events`,
      );
    }
    assert.ok(may('loadwise-controller', '', 'nodes', 'patch'));
    // The extender writes a pod only through its Binding (the vGPU assignment rides in it).
    assert.ok(may('loadwise-scheduler', '', 'pods/binding', 'create'));
    assert.ok(!may('loadwise-scheduler', '', 'pods', 'patch'), 'the extender cannot patch pods');
    assert.ok(
      !rules('loadwise-agent').some((r) => r.resources.includes('nodes')),
      'the agent has no Node rights',
    );
    // The usernames in the policies' match conditions are the ServiceAccounts the workloads run as.
    const policies = objects.filter((o) => o.kind === 'ValidatingAdmissionPolicy') as (K8sObject & {
      spec: { matchConditions: { expression: string }[] };
    })[];
    const named = policies.flatMap((p) =>
      p.spec.matchConditions.flatMap((c) => [
        ...c.expression.matchAll(/system:serviceaccount:([\w-]+):([\w-]+)/g),
      ]),
    );
    assert.equal(named.length, 3);
    // RBAC cannot say which pods: every pod verb the agent holds beyond reading is held by a policy.
    const agentPolicyOps = policies
      .filter((p) => p.spec.matchConditions.some((c) => c.expression.includes(':loadwise-agent')))
      .flatMap(
        (p) =>
          (p.spec as unknown as { matchConstraints: { resourceRules: { operations: string[] }[] } })
            .matchConstraints.resourceRules[0]!.operations,
      );
    if (may('loadwise-agent', '', 'pods', 'patch')) assert.ok(agentPolicyOps.includes('UPDATE'));
    if (may('loadwise-agent', '', 'pods', 'delete')) assert.ok(agentPolicyOps.includes('DELETE'));
    for (const [, namespace, name] of named) {
      const sa = find(objects, 'ServiceAccount', name!);
      assert.equal(sa?.metadata.namespace, namespace, `${namespace}:${name}`);
      assert.ok(workloadsIn(objects).some((w) => w.spec.template.spec.serviceAccountName === name));
    }
    for (const p of policies) {
      const binding = find(objects, 'ValidatingAdmissionPolicyBinding', p.metadata.name) as K8sObject & {
        spec: { policyName: string; validationActions: string[] };
      };
      assert.equal(binding?.spec.policyName, p.metadata.name);
      assert.deepEqual(binding.spec.validationActions, ['Deny']);
    }
  });

  it('monitoring: each ServiceMonitor scrapes a Service port that exists; the dashboard ships in a ConfigMap', () => {
    const objects = renderedVariant('monitoring');
    const monitors = objects.filter((o) => o.kind === 'ServiceMonitor') as (K8sObject & {
      spec: {
        selector: { matchLabels: Record<string, string> };
        namespaceSelector: { matchNames: string[] };
        endpoints: { port: string }[];
      };
    })[];
    assert.deepEqual(monitors.map((m) => m.metadata.name).sort(), ['loadwise-agent', 'loadwise-controller']);
    for (const m of monitors) {
      const services = objects.filter(
        (o) =>
          o.kind === 'Service' &&
          m.spec.namespaceSelector.matchNames.includes(o.metadata.namespace!) &&
          selects(m.spec.selector.matchLabels, o.metadata.labels),
      ) as (K8sObject & { spec: { selector: Record<string, string>; ports: { name: string }[] } })[];
      assert.equal(services.length, 1, m.metadata.name);
      for (const e of m.spec.endpoints)
        assert.ok(
          services[0]!.spec.ports.some((p) => p.name === e.port),
          `${m.metadata.name}: ${e.port}`,
        );
      assert.ok(
        workloadsIn(objects).some((w) =>
          selects(services[0]!.spec.selector, w.spec.template.metadata.labels),
        ),
      );
    }
    const dashboard = find<ConfigMapObject>(objects, 'ConfigMap', 'loadwise-grafana-dashboard')!;
    assert.equal(dashboard.metadata.labels?.grafana_dashboard, '1');
    assert.equal(JSON.parse(dashboard.data['loadwise.json']!).uid, 'loadwise');
  });
});
