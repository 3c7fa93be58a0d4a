import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { PatchStrategy, setHeaderOptions, type V1Pod } from '@kubernetes/client-node';
import {
  DEVICE_PLUGIN_API_VERSION,
  LD_SO_PRELOAD_CONTAINER_PATH,
  VGPU_LIBRARY_CONTAINER_PATH,
  VGPU_PLUGIN_SOCKETS,
  parseVgpuDeviceId,
} from '../../contracts/device-plugin.ts';
import {
  DEFAULT_VGPU_CONFIG_DIR,
  VGPU_CONFIG_DIR_ENV,
  VGPU_CONFIG_FILE,
  VGPU_CORE_LIMIT_ENV,
  decodeVgpuConfig,
  vgpuMemoryLimitEnv,
} from '../../contracts/vgpu-config.ts';
import {
  AGENT_EVENT_COMPONENT,
  EVENT_REASON_ADMISSION_FAILED,
  EVENT_REASON_RECREATE,
  VGPU_ALLOCATED_ANNOTATION,
  VGPU_ASSIGNMENT_ANNOTATION,
} from '../../contracts/vgpu-pod.ts';
import { AllocateError, waitForEvent } from '../../doubles/kubelet/kubelet.ts';
import { CORE, MEMORY, Rig, fourGpus, gpuUuid } from '../../test/kubelet/rig.ts';
import { InventorySource } from '../gpu/inventory-source.ts';
import { CHECKPOINT_FILE, Checkpoint, JOURNAL_FILE } from './checkpoint.ts';
import type { ContainerAllocation } from './matcher.ts';
import type { DevicePlugin } from './plugin.ts';
import type { ContainerPreferredAllocationRequest } from './proto.ts';

const MIB = 1024 * 1024;

/** What a restart would read from the checkpoint (snapshot plus journal). */
async function checkpointed(rig: Rig): Promise<ContainerAllocation[]> {
  const loaded = await new Checkpoint(rig.checkpointDir, () => 0).load();
  assert.equal(loaded.kind, 'ok');
  return loaded.kind === 'ok' ? loaded.allocations : [];
}

/** Starts `plugin` and waits until the kubelet has both resources connected. */
async function startRegistered(rig: Rig, plugin: DevicePlugin): Promise<void> {
  const core = waitForEvent(rig.kubelet, 'registered', (r) => r === CORE);
  const memory = waitForEvent(rig.kubelet, 'registered', (r) => r === MEMORY);
  await plugin.start();
  await Promise.all([core, memory]);
}

async function assertRejected(promise: Promise<unknown>, code: number, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof AllocateError, String(err));
    assert.equal(err.code, code);
    assert.match(err.message, pattern);
    return true;
  });
}

describe('vGPU device plugin against a test kubelet', () => {
  let rig: Rig;
  let plugin: DevicePlugin;

  before(async () => {
    rig = await Rig.open();
    plugin = rig.plugin();
    await startRegistered(rig, plugin);
  });
  after(async () => rig.close());

  it('registers both resources with v1beta1 and its options', () => {
    const byResource = new Map(rig.kubelet.registrations.map((r) => [r.resource_name, r]));
    assert.equal(byResource.get(CORE)?.version, DEVICE_PLUGIN_API_VERSION);
    assert.equal(byResource.get(CORE)?.endpoint, VGPU_PLUGIN_SOCKETS.core);
    assert.equal(byResource.get(MEMORY)?.endpoint, VGPU_PLUGIN_SOCKETS.memory);
    for (const resource of [CORE, MEMORY]) {
      assert.deepEqual(rig.kubelet.plugin(resource)?.options, {
        pre_start_required: false,
        get_preferred_allocation_available: true,
      });
    }
  });

  it('advertises 100 core units and memory/256 MiB memory units per GPU, and re-sends on a health change', async () => {
    assert.equal(rig.kubelet.healthyCount(CORE), 400);
    assert.equal(rig.kubelet.healthyCount(MEMORY), 4 * 64);
    const core = waitForEvent(
      rig.kubelet,
      'devices',
      (r, d) => r === CORE && d.filter((x) => x.health === 'Healthy').length === 300,
    );
    const memory = waitForEvent(rig.kubelet, 'devices', (r) => r === MEMORY);
    rig.gpus.setHealth(3, false);
    const [, devices] = await core;
    await memory;
    assert.equal(devices.length, 400, 'unhealthy units stay listed, as Unhealthy');
    assert.equal(rig.kubelet.healthyCount(MEMORY), 3 * 64);
    const back = waitForEvent(rig.kubelet, 'devices', (r) => r === CORE);
    rig.gpus.setHealth(3, true);
    await back;
    assert.equal(rig.kubelet.healthyCount(CORE), 400);
  });

  it('answers Allocate with the right pod’s GPU, env, devices and mounts, writes its config and marks the pod', async () => {
    const t = rig.clock.now();
    // Same memory, different core: only `wanted` matches a 30-unit core request.
    await rig.createGpuPod('other', {
      core: 50,
      memory: 8,
      shares: [{ index: 1, core: 50, memoryMiB: 2048 }],
      assumeMs: t - 5000,
    });
    const wanted = await rig.createGpuPod('wanted', {
      core: 30,
      memory: 8,
      shares: [{ index: 2, core: 30, memoryMiB: 2048 }],
      assumeMs: t,
    });
    const marked = once(plugin, 'marked');
    const answers = await rig.kubelet.allocateContainer({ [CORE]: 30, [MEMORY]: 8 });
    for (const resource of [CORE, MEMORY]) {
      const a = answers[resource]!;
      assert.equal(a.envs.NVIDIA_VISIBLE_DEVICES, gpuUuid(2));
      assert.equal(a.envs[VGPU_CONFIG_DIR_ENV], DEFAULT_VGPU_CONFIG_DIR);
      assert.equal(a.envs[VGPU_CORE_LIMIT_ENV], '30');
      assert.equal(a.envs[vgpuMemoryLimitEnv(0)], String(2048 * MIB));
      assert.deepEqual(
        a.devices.map((d) => d.host_path).sort(),
        ['/dev/nvidia-uvm', '/dev/nvidia2', '/dev/nvidiactl'],
        'only device nodes that exist on the host',
      );
      const mounts = new Map(a.mounts.map((m) => [m.container_path, m]));
      assert.equal(mounts.get(VGPU_LIBRARY_CONTAINER_PATH)?.read_only, true);
      assert.equal(
        mounts.get(LD_SO_PRELOAD_CONTAINER_PATH)?.host_path,
        join(rig.dir, 'lib', 'ld.so.preload'),
      );
      const configDir = mounts.get(DEFAULT_VGPU_CONFIG_DIR);
      assert.ok(configDir);
      assert.equal(configDir.host_path, join(rig.configRoot, `${wanted.metadata!.uid!}_main`));
      const decoded = decodeVgpuConfig(await readFile(join(configDir.host_path, VGPU_CONFIG_FILE), 'utf8'));
      assert.ok(decoded.ok, decoded.ok ? '' : decoded.error);
      assert.equal(decoded.config.coreLimitPercent, 30);
      assert.deepEqual(decoded.config.devices, [
        { index: 0, uuid: gpuUuid(2), memoryLimitBytes: 2048 * MIB },
      ]);
      // The run directory: any user may create the shared region there, nobody may replace another's.
      assert.equal((await stat(`${configDir.host_path}.run`)).mode & 0o7777, 0o1777);
    }
    // kubelet took the plugin's advice: the core units it handed out are GPU 2's.
    const held = plugin.allocations().find((a) => a.podName === 'wanted');
    assert.ok(held?.deviceIds.core?.every((id) => parseVgpuDeviceId(id)?.uuid === gpuUuid(2)));
    await marked;
    const pod = await rig.readPod('wanted');
    assert.ok(pod.metadata?.annotations?.[VGPU_ALLOCATED_ANNOTATION]);
    assert.equal((await rig.readPod('other')).metadata?.annotations?.[VGPU_ALLOCATED_ANNOTATION], undefined);
  });

  it('refuses a request no pod waits for with a clear gRPC error, and keeps serving', async () => {
    await assertRejected(
      rig.kubelet.allocateContainer({ [CORE]: 7 }),
      status.FAILED_PRECONDITION,
      /no pod on this node waits for 7 loadwise.io\/vgpu-core/,
    );
    assert.equal(rig.kubelet.available(CORE).length, 400 - 30, 'kubelet got its units back');
    assert.deepEqual(await rig.kubelet.callOptions(CORE), {
      pre_start_required: false,
      get_preferred_allocation_available: true,
    });
  });

  it('refuses a 100 KB device ID, repeated and never-advertised IDs with INVALID_ARGUMENT, and keeps serving', async () => {
    const advertised = rig.kubelet.plugin(CORE)!.devices.map((d) => d.ID);
    const cases: Array<[string[], RegExp]> = [
      [['x'.repeat(100_000)], /^a device ID of 100000 characters \(at most 63\): "x{63}\.\.\."$/],
      [[advertised[0]!, advertised[0]!], /^device ".*-core-0" is listed twice$/],
      [[`${gpuUuid(0)}-core-100`], /is not a loadwise\.io\/vgpu-core unit this plugin advertises$/],
      [
        [rig.kubelet.plugin(MEMORY)!.devices[0]!.ID],
        /is not a loadwise\.io\/vgpu-core unit this plugin advertises$/,
      ],
      [
        [...advertised, `${gpuUuid(0)}-core-400`],
        /^401 loadwise\.io\/vgpu-core device IDs; this plugin advertises 400$/,
      ],
      [[], /^a container request without devices$/],
    ];
    for (const [ids, message] of cases) {
      await assertRejected(rig.kubelet.callAllocate(CORE, ids), status.INVALID_ARGUMENT, message);
    }
    // The same connection still answers, and nothing was allocated.
    assert.deepEqual(await rig.kubelet.callOptions(CORE), {
      pre_start_required: false,
      get_preferred_allocation_available: true,
    });
    assert.equal(plugin.allocations().filter((a) => a.deviceIds.core?.includes(advertised[0]!)).length, 0);
    const preferred = (request: ContainerPreferredAllocationRequest) =>
      new Promise<void>((resolve, reject) => {
        rig.kubelet
          .plugin(CORE)!
          .client.GetPreferredAllocation(
            { container_requests: [request] },
            { deadline: Date.now() + 5000 },
            (err) => (err ? reject(new AllocateError(err.code, err.details)) : resolve()),
          );
      });
    await assertRejected(
      preferred({
        available_deviceIDs: advertised.slice(0, 4),
        must_include_deviceIDs: [],
        allocation_size: 2 ** 31 - 1,
      }),
      status.INVALID_ARGUMENT,
      /^allocation size 2147483647 must be 1\.\.4/,
    );
    await assertRejected(
      preferred({
        available_deviceIDs: ['y'.repeat(100_000)],
        must_include_deviceIDs: [],
        allocation_size: 1,
      }),
      status.INVALID_ARGUMENT,
      /^a device ID of 100000 characters/,
    );
    await assertRejected(
      preferred({
        available_deviceIDs: advertised.slice(0, 2),
        must_include_deviceIDs: [advertised[5]!],
        allocation_size: 1,
      }),
      status.INVALID_ARGUMENT,
      /^must-include device .* is not among the available ones$/,
    );
    assert.equal((await rig.kubelet.callOptions(CORE)).get_preferred_allocation_available, true);
  });

  it('re-registers within a second when kubelet restarts (kubelet.sock recreated, sockets wiped)', async () => {
    const core = waitForEvent(rig.kubelet, 'registered', (r) => r === CORE, 1000);
    const memory = waitForEvent(rig.kubelet, 'registered', (r) => r === MEMORY, 1000);
    const started = performance.now();
    await rig.kubelet.restart();
    await Promise.all([core, memory]);
    const ms = performance.now() - started;
    assert.ok(ms < 1000, `re-registered after ${ms.toFixed(0)} ms`);
    assert.equal(rig.kubelet.healthyCount(CORE), 400);
  });

  it('frees the allocations of a deleted pod as soon as its watch sees it go', async () => {
    const uid = plugin.allocations().find((a) => a.podName === 'wanted')?.podUID;
    assert.ok(uid);
    const gone = new Promise<void>((resolve) => {
      const listener = (type: string, pod: V1Pod) => {
        if (type !== 'DELETED' || pod.metadata?.name !== 'wanted') return;
        plugin.off('pod', listener);
        resolve();
      };
      plugin.on('pod', listener);
    });
    await rig.core.deleteNamespacedPod({ namespace: rig.cluster.namespace, name: 'wanted' });
    // The DELETED event starts a sweep at once, which confirms with a GET before freeing: the
    // extender frees the share on the same event and may place the next pod on it right away.
    await gone;
    await plugin.settled();
    assert.equal(plugin.allocations().length, 0);
    assert.ok(rig.logs.some((l) => l.includes('freed vGPU allocations of pods that are gone')));
    assert.deepEqual(
      (await readdir(rig.configRoot)).filter((n) => n.startsWith(uid)),
      [],
    );
  });
});

describe('vGPU device plugin: crashes, restarts and bursts', () => {
  let rig: Rig;
  before(async () => {
    rig = await Rig.open();
  });
  after(async () => rig.close());

  class Crash extends Error {}

  it('registers once kubelet appears when the plugin started first', async () => {
    await rig.kubelet.stop();
    const plugin = rig.plugin();
    await plugin.start();
    assert.ok(rig.logs.some((l) => l.includes('kubelet.sock not there yet')));
    const core = waitForEvent(rig.kubelet, 'registered', (r) => r === CORE, 1000);
    const memory = waitForEvent(rig.kubelet, 'registered', (r) => r === MEMORY, 1000);
    await rig.kubelet.restart();
    await Promise.all([core, memory]);
    await plugin.stop();
  });

  for (const [point, torn] of [
    ['before-checkpoint', false],
    ['after-checkpoint', false],
    // Died mid-append: the journal's last line is cut short, and kubelet never got an answer.
    ['after-checkpoint', true],
  ] as const) {
    const what = `${point.replace('-', ' ')} write${torn ? ', its journal line torn' : ''}`;
    it(`loses and doubles nothing when the plugin dies ${what}`, async () => {
      const t = rig.clock.now();
      const a = `crash-a-${point}${torn ? '-torn' : ''}`;
      const b = `crash-b-${point}${torn ? '-torn' : ''}`;
      await rig.createGpuPod(a, {
        core: 40,
        memory: 4,
        shares: [{ index: 0, core: 40, memoryMiB: 1024 }],
        assumeMs: t,
      });
      await rig.createGpuPod(b, {
        core: 40,
        memory: 4,
        shares: [{ index: 1, core: 40, memoryMiB: 1024 }],
        assumeMs: t + 1,
      });
      let armed = true;
      const dying = rig.plugin({
        faultHook: (p) => {
          if (p === point && armed) {
            armed = false;
            throw new Crash(`simulated death ${p}`);
          }
        },
      });
      await startRegistered(rig, dying);
      await assert.rejects(rig.kubelet.allocateContainer({ [CORE]: 40, [MEMORY]: 4 }), AllocateError);
      await dying.stop();
      if (torn) {
        const journal = join(rig.checkpointDir, JOURNAL_FILE);
        const records = (await readFile(journal, 'utf8')).replace(/\0*$/, '');
        assert.ok(records.endsWith('\n') && records.includes(a), 'the allocation was journaled');
        await writeFile(journal, records.slice(0, -60));
        assert.ok(!(await checkpointed(rig)).some((x) => x.podName === a), 'the torn record is not read');
      }

      const revived = rig.plugin();
      await startRegistered(rig, revived);
      // kubelet tries the same container again, then admits the next pod.
      const first = await rig.kubelet.allocateContainer({ [CORE]: 40, [MEMORY]: 4 });
      assert.equal(first[CORE]!.envs.NVIDIA_VISIBLE_DEVICES, gpuUuid(0));
      assert.equal(first[MEMORY]!.envs.NVIDIA_VISIBLE_DEVICES, gpuUuid(0));
      const second = await rig.kubelet.allocateContainer({ [CORE]: 40, [MEMORY]: 4 });
      assert.equal(second[CORE]!.envs.NVIDIA_VISIBLE_DEVICES, gpuUuid(1));
      const mine = revived.allocations().filter((x) => x.podName === a || x.podName === b);
      assert.deepEqual(mine.map((x) => x.podName).sort(), [a, b], 'one allocation each');
      const onDisk = await checkpointed(rig);
      assert.equal(onDisk.filter((x) => x.podName === a).length, 1);
      await revived.stop();
      for (const name of [a, b])
        await rig.core.deleteNamespacedPod({ namespace: rig.cluster.namespace, name });
      await rig.kubelet.restart();
    });
  }

  it('20 identical pods created at once: every Allocate gets its own pod’s GPU, none over-committed', async () => {
    const plugin = rig.plugin();
    await startRegistered(rig, plugin);
    await plugin.sweep();
    const t = rig.clock.now() + 60_000;
    const names = Array.from({ length: 20 }, (_, i) => `burst-${String(i).padStart(2, '0')}`);
    // As the extender would: five 20 % shares per GPU, assume times in creation order.
    await Promise.all(
      names.map((name, i) =>
        rig.createGpuPod(name, {
          core: 20,
          memory: 4,
          shares: [{ index: i % 4, core: 20, memoryMiB: 1024 }],
          assumeMs: t + i,
        }),
      ),
    );
    const coreByGpu = new Map<string, number>();
    for (const [i, name] of names.entries()) {
      const answer = await rig.kubelet.allocateContainer({ [CORE]: 20, [MEMORY]: 4 });
      const uuid = answer[CORE]!.envs.NVIDIA_VISIBLE_DEVICES!;
      assert.equal(uuid, gpuUuid(i % 4), `${name} got its own GPU`);
      assert.equal(answer[MEMORY]!.envs.NVIDIA_VISIBLE_DEVICES, uuid);
      coreByGpu.set(uuid, (coreByGpu.get(uuid) ?? 0) + Number(answer[CORE]!.envs.LOADWISE_VGPU_CORE_LIMIT));
    }
    for (const [uuid, core] of coreByGpu) assert.ok(core <= 100, `${uuid}: ${core} % handed out`);
    const byPod = new Map(plugin.allocations().map((a) => [a.podName, a]));
    for (const [i, name] of names.entries()) assert.equal(byPod.get(name)?.shares[0]?.index, i % 4);
    await plugin.settled();
    await plugin.stop();
  });

  it('removes the temp files a crash left (checkpoint and config) when it starts again', async () => {
    // What kill -9 between writing a temp file and renaming it leaves: the old file intact and a
    // `.<name>.<8 hex>.tmp` beside it.
    const checkpointTemp = join(rig.checkpointDir, `.${CHECKPOINT_FILE}.0badc0de.tmp`);
    await writeFile(checkpointTemp, '{"version":1,"check');
    const allocations = await checkpointed(rig);
    const held = allocations[0];
    assert.ok(held);
    const configDir = join(rig.configRoot, `${held.podUID}_${held.container}`);
    const configTemp = join(configDir, `.${VGPU_CONFIG_FILE}.12345678.tmp`);
    await writeFile(configTemp, 'version=1\ncore_li');
    const unrelated = join(rig.checkpointDir, 'notes.tmp');
    await writeFile(unrelated, 'kept');
    const restarted = rig.plugin();
    await startRegistered(rig, restarted);
    await restarted.whenReady();
    const left = [...(await readdir(rig.checkpointDir)), ...(await readdir(configDir))];
    assert.ok(!left.some((n) => n.endsWith('.tmp') && n !== 'notes.tmp'), left.join(', '));
    assert.ok(left.includes('notes.tmp'), 'only our own temp names are removed');
    assert.equal(restarted.allocations().length, allocations.length, 'the checkpoint itself loaded');
  });

  it('sets a corrupt checkpoint aside and rebuilds it from pod annotations', async () => {
    const held = (await checkpointed(rig)).map((a) => a.podName).sort();
    assert.equal(held.length, 20);
    const snapshot = await readFile(join(rig.checkpointDir, CHECKPOINT_FILE), 'utf8');
    await writeFile(join(rig.checkpointDir, CHECKPOINT_FILE), snapshot.slice(0, 100));
    const plugin = rig.plugin();
    await startRegistered(rig, plugin);
    await plugin.whenReady();
    const files = await readdir(rig.checkpointDir);
    for (const name of [CHECKPOINT_FILE, JOURNAL_FILE])
      assert.ok(
        files.some((f) => f.startsWith(`${name}.corrupt-`)),
        files.join(', '),
      );
    assert.ok(rig.logs.some((l) => l.includes('corrupt') && l.includes('"level":"error"')));
    const rebuilt = plugin
      .allocations()
      .map((a) => a.podName)
      .sort();
    assert.deepEqual(rebuilt, held);
    // A pod that slipped past the extender onto a full GPU is refused, not over-committed.
    await rig.createGpuPod('too-much', {
      core: 10,
      memory: 1,
      shares: [{ index: 0, core: 10, memoryMiB: 256 }],
      assumeMs: 1,
    });
    await assertRejected(
      rig.kubelet.allocateContainer({ [MEMORY]: 1 }),
      status.RESOURCE_EXHAUSTED,
      /GPU 0 would be over-committed/,
    );
  });
});

describe('vGPU device plugin: nothing before the GPU inventory is known', () => {
  let rig: Rig;
  let earlier: DevicePlugin | undefined;
  before(async () => {
    rig = await Rig.open();
  });
  after(async () => rig.close());

  /** The agent's GPU readings: `indexes` of the rig's four GPUs. */
  const reading = (indexes = [0, 1, 2, 3]) =>
    fourGpus()
      .filter((g) => indexes.includes(g.index))
      .map((g) => ({ ...g, mig: false, links: [] }));

  it('registers only once the GPUs were read, then advertises them and re-advertises a change', async () => {
    const inventory = new InventorySource();
    const plugin = rig.plugin({ gpus: inventory });
    await plugin.start();
    assert.equal(rig.kubelet.registrations.length, 0, 'no registration before the first reading');
    assert.ok(rig.logs.some((l) => l.includes('GPU inventory is not known yet')));
    const core = waitForEvent(rig.kubelet, 'registered', (r) => r === CORE);
    const memory = waitForEvent(rig.kubelet, 'registered', (r) => r === MEMORY);
    inventory.update(reading());
    await Promise.all([core, memory]);
    assert.equal(rig.kubelet.healthyCount(CORE), 400);
    const fewer = waitForEvent(rig.kubelet, 'devices', (r, d) => r === CORE && d.length === 300);
    inventory.update(reading([0, 1, 2]));
    await fewer;
    earlier = plugin;
  });

  it('an Allocate that arrives before the first reading (a restarted plugin) waits for it', async () => {
    // kubelet still holds the connection to the plugin before; a new plugin on the same socket
    // gets its Allocate before it has read a GPU.
    await earlier!.stop();
    const inventory = new InventorySource();
    const plugin = rig.plugin({ gpus: inventory });
    await rig.createGpuPod('early', {
      core: 30,
      memory: 4,
      shares: [{ index: 1, core: 30, memoryMiB: 1024 }],
      assumeMs: rig.clock.now(),
    });
    await plugin.start();
    const waiting = once(plugin, 'waitingForGpus');
    const answer = rig.kubelet.allocateContainer({ [CORE]: 30 });
    const [reason] = (await waiting) as [string];
    assert.equal(reason, 'no GPU reading yet');
    // The reading answers the waiting Allocate, and the plugin registers afresh.
    const core = waitForEvent(rig.kubelet, 'registered', (r) => r === CORE);
    const memory = waitForEvent(rig.kubelet, 'registered', (r) => r === MEMORY);
    inventory.update(reading());
    await Promise.all([core, memory]);
    const got = await answer;
    assert.equal(got[CORE]!.envs.NVIDIA_VISIBLE_DEVICES, gpuUuid(1));
    await plugin.settled();
    await plugin.stop();
  });

  it('during a refresh that lacks an assigned GPU it waits for the next reading, and refuses after the bound', async () => {
    const inventory = new InventorySource();
    inventory.update(reading([0, 1, 3]));
    const plugin = rig.plugin({ gpus: inventory, inventoryWaitMs: 300 });
    await startRegistered(rig, plugin);
    await rig.createGpuPod('refresh', {
      core: 20,
      memory: 4,
      shares: [{ index: 2, core: 20, memoryMiB: 1024 }],
      assumeMs: rig.clock.now() + 1,
    });
    const waiting = once(plugin, 'waitingForGpus');
    const answer = rig.kubelet.allocateContainer({ [CORE]: 20 });
    await waiting;
    inventory.update(reading());
    assert.equal((await answer)[CORE]!.envs.NVIDIA_VISIBLE_DEVICES, gpuUuid(2));
    // GPU 0 gone for good: after 300 ms the Allocate is refused, and says why.
    await rig.createGpuPod('lost', {
      core: 20,
      memory: 4,
      shares: [{ index: 0, core: 20, memoryMiB: 1024 }],
      assumeMs: rig.clock.now() + 2,
    });
    inventory.update(reading([1, 2, 3]));
    await assertRejected(
      rig.kubelet.allocateContainer({ [CORE]: 20 }),
      status.FAILED_PRECONDITION,
      /is assigned GPU 0, which this node does not have/,
    );
    await plugin.settled();
    await plugin.stop();
  });
});

describe('vGPU device plugin: pods that failed admission', () => {
  let rig: Rig;
  let plugin: DevicePlugin;
  before(async () => {
    rig = await Rig.open();
    plugin = rig.plugin({ recoveryRetryMs: 60_000 });
    await startRegistered(rig, plugin);
  });
  after(async () => rig.close());

  const REPLICA_SET = {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    name: 'web-7d9',
    uid: 'rs-uid',
    controller: true,
  };

  /** A pod loadwise placed on this node (optionally owned), then refused by kubelet at admission. */
  async function failedPod(name: string, owned: boolean, placed = true): Promise<V1Pod> {
    const pod = await rig.createGpuPod(name, {
      core: 30,
      memory: 4,
      shares: [{ index: 3, core: 30, memoryMiB: 1024 }],
      assumeMs: rig.clock.now(),
    });
    const meta: Record<string, unknown> = {};
    if (owned) meta.ownerReferences = [REPLICA_SET];
    if (!placed) meta.annotations = { [VGPU_ASSIGNMENT_ANNOTATION]: null };
    if (Object.keys(meta).length > 0)
      await rig.core.patchNamespacedPod(
        { namespace: rig.cluster.namespace, name, body: { metadata: meta } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
    const seen = waitForPluginPod(plugin, name, (p) => p.status?.phase === 'Failed');
    await rig.core.patchNamespacedPodStatus(
      {
        namespace: rig.cluster.namespace,
        name,
        body: {
          status: {
            phase: 'Failed',
            reason: 'UnexpectedAdmissionError',
            message: 'Allocate failed due to rpc error: code = FailedPrecondition, which is unexpected',
          },
        },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    await seen;
    await plugin.settled();
    return pod;
  }

  const eventsFor = async (uid: string) =>
    (await rig.core.listNamespacedEvent({ namespace: rig.cluster.namespace })).items.filter(
      (e) => e.involvedObject.uid === uid,
    );
  const deletes = (name: string) =>
    rig.cluster.double!.count({ verb: 'delete', resource: 'pods', name, user: 'agent' });

  it('deletes a pod a ReplicaSet owns, once, with an Event that says why', async () => {
    const gone = waitForPluginPod(plugin, 'owned', () => true, 'DELETED');
    const pod = await failedPod('owned', true);
    await gone;
    assert.equal(deletes('owned'), 1);
    const [event, ...more] = await eventsFor(pod.metadata!.uid!);
    assert.equal(more.length, 0);
    assert.equal(event?.reason, EVENT_REASON_RECREATE);
    assert.equal(event?.type, 'Warning');
    assert.equal(event?.source?.component, AGENT_EVENT_COMPONENT);
    assert.match(event!.message!, /UnexpectedAdmissionError.*its ReplicaSet web-7d9 creates a new one/);
  });

  it('leaves a bare pod where it is, with an Event; a pod loadwise did not place gets nothing', async () => {
    const bare = await failedPod('bare', false);
    assert.ok(await rig.readPod('bare'));
    assert.equal(deletes('bare'), 0);
    const events = await eventsFor(bare.metadata!.uid!);
    assert.deepEqual(
      events.map((e) => e.reason),
      [EVENT_REASON_ADMISSION_FAILED],
    );
    const foreign = await failedPod('foreign', true, false);
    assert.ok(await rig.readPod('foreign'));
    assert.equal(deletes('foreign'), 0);
    assert.deepEqual(await eventsFor(foreign.metadata!.uid!), []);
    // A sweep later does not add a second Event to the bare pod.
    rig.clock.advance(10 * 60_000);
    await plugin.sweep();
    await plugin.settled();
    assert.equal((await eventsFor(bare.metadata!.uid!)).length, 1);
  });

  it('a delete that failed is tried again no sooner than a minute later, over 20 simulated minutes', async () => {
    rig.cluster.double!.faults.inject({
      verb: 'delete',
      resource: 'pods',
      name: 'stubborn',
      status: 500,
      times: 1,
    });
    await failedPod('stubborn', true);
    assert.equal(deletes('stubborn'), 1, 'the first try failed');
    const gone = waitForPluginPod(plugin, 'stubborn', () => true, 'DELETED');
    let tries = 1;
    for (let second = 0; second < 20 * 60 && tries < 2; second += 10) {
      rig.clock.advance(10_000);
      await plugin.sweep();
      await plugin.settled();
      tries = deletes('stubborn');
      if (second + 10 < 60) assert.equal(tries, 1, `no second delete ${second + 10} s after the first`);
    }
    await gone;
    assert.equal(deletes('stubborn'), 2);
  });
});

/** Resolves once the plugin's pod watch shows `name` (event `type`, default any) in a state `ok` accepts. */
function waitForPluginPod(
  plugin: DevicePlugin,
  name: string,
  ok: (pod: V1Pod) => boolean,
  type?: string,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`pod ${name} not seen in 5 s`)), 5000);
    const listener = (t: string, pod: V1Pod) => {
      if (pod.metadata?.name !== name || !ok(pod) || (type !== undefined && t !== type)) return;
      clearTimeout(timer);
      plugin.off('pod', listener);
      resolve();
    };
    plugin.on('pod', listener);
  });
}
