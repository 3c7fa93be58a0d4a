// configs/scheduler-config.yaml must agree with what the extender serves and the resources the
// device plugin advertises; kube-scheduler rejects a config with two binding extenders.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { EXTENDER_DEFAULT_PORT, EXTENDER_PATHS, VGPU_RESOURCE_NAME_SETS } from '../contracts/index.ts';

interface ExtenderEntry {
  urlPrefix: string;
  filterVerb?: string;
  prioritizeVerb?: string;
  bindVerb?: string;
  weight?: number;
  nodeCacheCapable?: boolean;
  managedResources?: { name: string; ignoredByScheduler?: boolean }[];
}

const config = parse(readFileSync(new URL('../configs/scheduler-config.yaml', import.meta.url), 'utf8')) as {
  apiVersion: string;
  kind: string;
  profiles: { schedulerName: string }[];
  extenders: ExtenderEntry[];
};

describe('configs/scheduler-config.yaml', () => {
  it('is a v1 KubeSchedulerConfiguration with a loadwise profile', () => {
    assert.equal(config.apiVersion, 'kubescheduler.config.k8s.io/v1');
    assert.equal(config.kind, 'KubeSchedulerConfiguration');
    assert.deepEqual(
      config.profiles.map((p) => p.schedulerName),
      ['loadwise-scheduler'],
    );
  });

  it('calls the verbs the extender serves, node names only, on its port', () => {
    const verbs = config.extenders.filter((e) => e.filterVerb || e.prioritizeVerb || e.bindVerb);
    assert.equal(verbs.length, 1);
    const e = verbs[0]!;
    assert.equal(`/${e.filterVerb}`, EXTENDER_PATHS.filter);
    assert.equal(`/${e.prioritizeVerb}`, EXTENDER_PATHS.prioritize);
    assert.equal(`/${e.bindVerb}`, EXTENDER_PATHS.bind);
    assert.equal(e.nodeCacheCapable, true);
    assert.ok((e.weight ?? 0) > 0);
    assert.equal(new URL(e.urlPrefix).port, String(EXTENDER_DEFAULT_PORT));
    // An extender with managedResources is only called for pods that request them.
    assert.equal(e.managedResources, undefined);
  });

  it('declares both vGPU resources, under loadwise’s and gpu-manager’s names', () => {
    const managed = config.extenders.flatMap((e) => e.managedResources ?? []).map((r) => r.name);
    const names = Object.values(VGPU_RESOURCE_NAME_SETS).flatMap((set) => [set.core, set.memory]);
    assert.deepEqual(managed.sort(), names.sort());
  });
});
