// The deploy manifests: every object valid against the Kubernetes schemas (kubernetes-models), and
// consistent with the code they run — flags the commands accept, ConfigMaps the kustomization
// generates, the Service the KubeSchedulerConfiguration calls, the ServiceAccounts they bind.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { DaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Pod } from 'kubernetes-models/v1/Pod';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { ClusterRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole';
import { ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding';
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';

const configs = fileURLToPath(new URL('.', import.meta.url));
const root = join(configs, '..');

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  [key: string]: unknown;
}

type Validator = new (data: never) => { validate(): void };
const MODELS: Record<string, Validator> = {
  'v1/Namespace': Namespace,
  'v1/ServiceAccount': ServiceAccount,
  'v1/Service': Service,
  'v1/Pod': Pod,
  'apps/v1/DaemonSet': DaemonSet,
  'apps/v1/Deployment': Deployment,
  'rbac.authorization.k8s.io/v1/ClusterRole': ClusterRole,
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': ClusterRoleBinding,
  'rbac.authorization.k8s.io/v1/Role': Role,
  'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding,
};

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? yamlFiles(join(dir, e.name)) : e.name.endsWith('.yaml') ? [join(dir, e.name)] : [],
  );
}

const manifests = yamlFiles(join(configs, 'deploy')).map((file) => ({
  file,
  objects: parseAllDocuments(readFileSync(file, 'utf8')).map((d) => d.toJS() as K8sObject),
}));
const objects = manifests.flatMap((m) => m.objects);
const find = (kind: string, name: string) => objects.find((o) => o.kind === kind && o.metadata.name === name);

interface PodTemplate {
  spec: {
    serviceAccountName?: string;
    containers: { name: string; command?: string[]; args?: string[] }[];
    volumes?: { configMap?: { name: string } }[];
  };
}
const workloads = objects.filter((o) => o.kind === 'Deployment' || o.kind === 'DaemonSet');
const templateOf = (o: K8sObject) => (o.spec as { template: PodTemplate }).template;

describe('deploy manifests', () => {
  it('are every one valid against the Kubernetes schemas', () => {
    assert.ok(objects.length >= 20, `${objects.length} objects`);
    for (const { file, objects: docs } of manifests) {
      for (const o of docs) {
        const Model = MODELS[`${o.apiVersion}/${o.kind}`];
        assert.ok(Model, `${file}: no schema for ${o.apiVersion} ${o.kind}`);
        assert.doesNotThrow(() => new Model(o as never).validate(), `${file}: ${o.kind} ${o.metadata.name}`);
      }
    }
  });

  it('would catch an invalid one (the validator is really on)', () => {
    const broken = structuredClone(find('DaemonSet', 'loadwise-agent')!) as K8sObject & {
      spec: { template: PodTemplate };
    };
    (broken.spec.template.spec.containers[0] as unknown as { ports: unknown }).ports = [
      { containerPort: 'http' },
    ];
    assert.throws(() => new DaemonSet(broken as never).validate(), /containerPort/);
  });

  it('are listed in the kustomization, whose generated ConfigMaps are the ones mounted', () => {
    const kustomization = parseAllDocuments(
      readFileSync(join(configs, 'kustomization.yaml'), 'utf8'),
    )[0]!.toJS() as {
      resources: string[];
      configMapGenerator: { name: string; files: string[] }[];
    };
    for (const r of kustomization.resources) assert.ok(existsSync(join(configs, r)), r);
    for (const g of kustomization.configMapGenerator)
      for (const f of g.files) assert.ok(existsSync(join(configs, f)), f);
    const generated = new Set(kustomization.configMapGenerator.map((g) => g.name));
    for (const w of workloads) {
      for (const v of templateOf(w).spec.volumes ?? []) {
        if (v.configMap)
          assert.ok(generated.has(v.configMap.name), `${w.metadata.name} mounts ${v.configMap.name}`);
      }
    }
  });

  it('run as ServiceAccounts that exist, and the extender Service the scheduler config calls', () => {
    for (const w of workloads) {
      const sa = templateOf(w).spec.serviceAccountName;
      assert.ok(sa && find('ServiceAccount', sa), `${w.metadata.name}: ${sa}`);
    }
    const config = parseAllDocuments(
      readFileSync(join(configs, 'scheduler-config.yaml'), 'utf8'),
    )[0]!.toJS() as {
      extenders: { urlPrefix: string }[];
    };
    for (const e of config.extenders) {
      const [service, namespace] = new URL(e.urlPrefix).hostname.split('.');
      const svc = find('Service', service!);
      assert.ok(svc, `${e.urlPrefix}: no Service ${service}`);
      assert.equal(svc.metadata.namespace, namespace);
    }
  });

  it('pass only flags the loadwise commands accept', () => {
    const entries: Record<string, string> = {
      '/app/dist/node-agent.mjs': 'node-agent/main.ts',
      '/app/dist/controller.mjs': 'controller/main.ts',
      '/app/dist/scheduler.mjs': 'scheduler/main.ts',
    };
    const help = new Map<string, string>();
    for (const w of workloads) {
      for (const c of templateOf(w).spec.containers) {
        const entry = entries[c.command?.[0] ?? ''];
        if (!entry) continue;
        if (!help.has(entry)) {
          const r = spawnSync(process.execPath, ['--import', 'tsx', join(root, entry), '--help'], {
            encoding: 'utf8',
          });
          help.set(entry, r.stdout);
        }
        for (const arg of c.args ?? []) {
          const flag = arg.split('=')[0]!;
          assert.match(help.get(entry)!, new RegExp(`${flag}[ ,]`), `${w.metadata.name}: ${flag}`);
        }
      }
    }
  });
});
