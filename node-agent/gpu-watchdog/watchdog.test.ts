// The outside watchdog against a fake nvidia-smi (an executable that prints what the test says),
// a fake /proc (cgroup files in a temporary directory), the API-server double through the real
// client for Events, and an injected clock. The kill test kills a real process.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { CoreV1Api, type CoreV1Event, type V1ContainerStatus, type V1Pod } from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import { ManualClock } from '../../common/clock.ts';
import { createLogger } from '../../common/log.ts';
import { GPU_WATCHDOG_METRICS } from '../../contracts/metrics.ts';
import { type TestCluster, openTestCluster } from '../../test/apiserver/cluster.ts';
import type { ContainerAllocation } from '../device-plugin/matcher.ts';
import { defaultRunner } from '../gpu/nvidia-smi-provider.ts';
import { bareContainerID, parseCgroupFile, parseCgroupPath } from './cgroup.ts';
import { parseComputeApps } from './compute-apps.ts';
import { kubernetesEventSink } from './events.ts';
import { type EnforceMode, GpuWatchdog, OVER_SHARE_REASON } from './watchdog.ts';

const POD_UID = '4f1c2a9e-7b3d-4e11-9c0a-1d2e3f405162';
const OTHER_UID = '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';
const ID_A = 'a'.repeat(63) + '1';
const ID_B = 'b'.repeat(63) + '2';
const ID_X = 'c'.repeat(63) + '3';
const GPU0 = 'GPU-11111111-2222-3333-4444-555555555555';
const GPU1 = 'GPU-66666666-7777-8888-9999-000000000000';

describe('cgroup paths to pod and container', () => {
  const systemdUid = POD_UID.replace(/-/g, '_');
  const cases: Array<[string, string, { podUID: string; containerID: string } | undefined]> = [
    [
      'v2, systemd, containerd',
      `0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${systemdUid}.slice/cri-containerd-${ID_A}.scope`,
      { podUID: POD_UID, containerID: ID_A },
    ],
    [
      'v2, systemd, cri-o, Guaranteed',
      `0::/kubepods.slice/kubepods-pod${systemdUid}.slice/crio-${ID_A}.scope`,
      { podUID: POD_UID, containerID: ID_A },
    ],
    [
      'v2, systemd, docker, BestEffort',
      `0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${systemdUid}.slice/docker-${ID_A}.scope`,
      { podUID: POD_UID, containerID: ID_A },
    ],
    [
      'v1, cgroupfs',
      `12:pids:/kubepods/burstable/pod${POD_UID}/${ID_A}\n11:memory:/kubepods/burstable/pod${POD_UID}/${ID_A}\n1:name=systemd:/kubepods/burstable/pod${POD_UID}/${ID_A}`,
      { podUID: POD_UID, containerID: ID_A },
    ],
    [
      'v1, cgroupfs, Guaranteed',
      `4:cpu,cpuacct:/kubepods/pod${POD_UID}/${ID_A}`,
      { podUID: POD_UID, containerID: ID_A },
    ],
    [
      'v1, systemd, containerd',
      `9:memory:/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${systemdUid}.slice/cri-containerd-${ID_A}.scope`,
      { podUID: POD_UID, containerID: ID_A },
    ],
    [
      'kind: slices under kubelet.slice',
      `0::/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod${systemdUid}.slice/cri-containerd-${ID_A}.scope`,
      { podUID: POD_UID, containerID: ID_A },
    ],
    [
      'a cgroup namespace: leading /..',
      `0::/../../kubepods-burstable-pod${systemdUid}.slice/cri-containerd-${ID_A}.scope`,
      { podUID: POD_UID, containerID: ID_A },
    ],
    ['a host process', '0::/system.slice/sshd.service', undefined],
    [
      'cri-o conmon is not the container',
      `0::/kubepods.slice/kubepods-pod${systemdUid}.slice/crio-conmon-${ID_A}.scope`,
      undefined,
    ],
    ['a pod cgroup itself', `0::/kubepods.slice/kubepods-pod${systemdUid}.slice`, undefined],
    ['garbage', 'not a cgroup file\n::\n', undefined],
  ];
  for (const [name, text, expected] of cases) {
    it(name, () => assert.deepEqual(parseCgroupFile(text), expected));
  }

  it('takes only a pod slice followed by a container scope', () => {
    assert.equal(parseCgroupPath(`/kubepods.slice/kubepods-pod${systemdUid}.slice/init.scope`), undefined);
    assert.equal(parseCgroupPath(`/user.slice/user-pod${systemdUid}.slice/docker-${ID_A}.scope`), undefined);
  });

  it('strips the runtime scheme from a container status ID', () => {
    assert.equal(bareContainerID(`containerd://${ID_A}`), ID_A);
    assert.equal(bareContainerID(`cri-o://${ID_A}`), ID_A);
    assert.equal(bareContainerID(`docker://${ID_A}`), ID_A);
    assert.equal(bareContainerID('containerd://short'), undefined);
    assert.equal(bareContainerID(undefined), undefined);
  });
});

describe('nvidia-smi --query-compute-apps output', () => {
  it('reads pid, GPU and MiB per line, keeps [N/A] as unknown, and sets garbage aside', () => {
    const { apps, problems } = parseComputeApps(
      `1234, ${GPU0}, 1500\n1234, ${GPU1}, 300\n99, ${GPU0}, [N/A]\n\nNo running processes found\n-5, ${GPU0}, 10\n`,
    );
    assert.deepEqual(apps, [
      { pid: 1234, gpuUuid: GPU0, usedMiB: 1500 },
      { pid: 1234, gpuUuid: GPU1, usedMiB: 300 },
      { pid: 99, gpuUuid: GPU0, usedMiB: undefined },
    ]);
    assert.deepEqual(problems, ['No running processes found', `-5, ${GPU0}, 10`]);
  });
});

describe('GPU watchdog', () => {
  let cluster: TestCluster;
  let dir: string;
  let proc: string;
  let clock: ManualClock;
  const ALLOWANCE = 256;

  const allocation = (container: string, memoryMiB: number, uuid = GPU0): ContainerAllocation => ({
    podUID: POD_UID,
    namespace: cluster.namespace,
    podName: 'trainer',
    container,
    shares: [{ index: 0, core: 50, memoryMiB, uuid }],
    request: { core: 50, memory: memoryMiB / 256 },
    deviceIds: {},
    allocatedAtMs: 0,
  });
  let allocations: ContainerAllocation[] = [];

  /** Runs on each pod lookup: lets a test change /proc between the watchdog's measure and its kill. */
  let onPodLookup: (() => void) | undefined;
  const pod = (uid: string): V1Pod | undefined => {
    onPodLookup?.();
    return lookup(uid);
  };
  const running = (name: string, id: string): V1ContainerStatus => ({
    name,
    containerID: `containerd://${id}`,
    image: 'cuda',
    imageID: 'cuda',
    ready: true,
    restartCount: 0,
  });
  const lookup = (uid: string): V1Pod | undefined =>
    uid === POD_UID
      ? {
          metadata: { uid: POD_UID, name: 'trainer', namespace: cluster.namespace },
          status: {
            containerStatuses: [running('main', ID_A), running('sidecar', ID_B)],
          },
        }
      : uid === OTHER_UID
        ? {
            metadata: { uid: OTHER_UID, name: 'other', namespace: cluster.namespace },
            status: {
              containerStatuses: [running('x', ID_X)],
            },
          }
        : undefined;

  /** Puts a process into the fake /proc: its cgroup file says which container it is in. */
  async function processIn(pid: number, podUID: string, containerID: string): Promise<void> {
    await mkdir(join(proc, String(pid)), { recursive: true });
    const slice = podUID.replace(/-/g, '_');
    await writeFile(
      join(proc, String(pid), 'cgroup'),
      `0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${slice}.slice/cri-containerd-${containerID}.scope\n`,
    );
  }

  /** What the fake nvidia-smi prints next: [pid, uuid, MiB] rows. */
  async function gpuProcesses(rows: Array<[number, string, number | string]>): Promise<void> {
    await writeFile(join(dir, 'compute-apps.csv'), rows.map((r) => r.join(', ')).join('\n') + '\n');
  }

  function watchdog(enforce: Exclude<EnforceMode, 'off'>, kill?: (pid: number) => void) {
    const registry = new Registry();
    const logger = createLogger({ level: 'silent', name: 'test' });
    const dog = new GpuWatchdog({
      nodeName: 'gpu-node-1',
      procPath: proc,
      exec: defaultRunner(join(dir, 'nvidia-smi')),
      allocations: () => allocations,
      pod,
      event: kubernetesEventSink(cluster.kubeConfig('agent'), 'gpu-node-1', clock, logger),
      enforce,
      contextAllowanceMiB: ALLOWANCE,
      ...(kill ? { kill } : {}),
      clock,
      logger,
      registry,
    });
    return { dog, registry };
  }

  async function events(): Promise<CoreV1Event[]> {
    const core = cluster.kubeConfig('setup').makeApiClient(CoreV1Api);
    const list = await core.listNamespacedEvent({ namespace: cluster.namespace });
    return list.items.filter((e) => e.reason === OVER_SHARE_REASON);
  }

  async function clearEvents(): Promise<void> {
    const core = cluster.kubeConfig('setup').makeApiClient(CoreV1Api);
    for (const e of await events())
      await core.deleteNamespacedEvent({ name: e.metadata!.name!, namespace: cluster.namespace });
  }

  before(async () => {
    cluster = await openTestCluster();
    dir = await mkdtemp(join(tmpdir(), 'loadwise-watchdog-'));
    proc = join(dir, 'proc');
    // A fake nvidia-smi: answers the watchdog's query with the file the test writes; exits 9 like a
    // broken driver while a `fail` file exists; refuses any other arguments.
    const script = join(dir, 'nvidia-smi');
    await writeFile(
      script,
      `#!/bin/sh\n[ "$1" = "--query-compute-apps=pid,gpu_uuid,used_memory" ] && [ "$2" = "--format=csv,noheader,nounits" ] || exit 2\n` +
        `[ -e '${dir}/fail' ] && { echo 'Failed to initialize NVML: Driver/library version mismatch' >&2; exit 9; }\n` +
        `cat '${dir}/compute-apps.csv'\n`,
    );
    await chmod(script, 0o755);
  });
  after(async () => {
    await cluster.close();
    await rm(dir, { recursive: true, force: true });
  });
  beforeEach(async () => {
    await rm(proc, { recursive: true, force: true });
    await mkdir(proc, { recursive: true });
    await rm(join(dir, 'fail'), { force: true });
    await clearEvents();
    clock = new ManualClock(Date.UTC(2026, 11, 3, 12));
    onPodLookup = undefined;
    allocations = [allocation('main', 1024)];
  });

  it('leaves a container within its share plus one context allowance per process alone', async () => {
    await processIn(100, POD_UID, ID_A);
    await processIn(101, POD_UID, ID_A);
    // 1024 MiB share + 2 x 256 MiB allowance = 1536 MiB.
    await gpuProcesses([
      [100, GPU0, 1000],
      [101, GPU0, 536],
    ]);
    const { dog, registry } = watchdog('report');
    const result = await dog.check();
    assert.equal(result.uses.length, 1);
    assert.deepEqual(
      { used: result.uses[0]!.usedMiB, limit: result.uses[0]!.limitMiB },
      { used: 1536, limit: 1536 },
    );
    assert.equal(result.over.length, 0);
    assert.equal(await events().then((e) => e.length), 0);
    assert.doesNotMatch(await registry.metrics(), new RegExp(`^${GPU_WATCHDOG_METRICS.overShare}\\{`, 'm'));
  });

  it('reports a container over its share: a gauge, a Warning Event on the pod, nothing killed', async () => {
    await processIn(100, POD_UID, ID_A);
    await gpuProcesses([[100, GPU0, 4096]]);
    const killed: number[] = [];
    const { dog, registry } = watchdog('report', (pid) => killed.push(pid));
    const result = await dog.check();
    assert.equal(result.over.length, 1);
    assert.deepEqual(killed, []);
    const text = await registry.metrics();
    assert.match(
      text,
      new RegExp(
        `^${GPU_WATCHDOG_METRICS.overShare}\\{node="gpu-node-1",namespace="${cluster.namespace}",pod="trainer",container="main",uuid="${GPU0}"\\} ${(4096 - 1024 - ALLOWANCE) * 1024 * 1024}$`,
        'm',
      ),
    );
    assert.match(
      text,
      new RegExp(`^${GPU_WATCHDOG_METRICS.violations}\\{node="gpu-node-1",action="reported"\\} 1$`, 'm'),
    );
    const [event, ...more] = await events();
    assert.equal(more.length, 0);
    assert.equal(event!.type, 'Warning');
    assert.deepEqual(
      {
        kind: event!.involvedObject.kind,
        name: event!.involvedObject.name,
        uid: event!.involvedObject.uid,
        fieldPath: event!.involvedObject.fieldPath,
      },
      { kind: 'Pod', name: 'trainer', uid: POD_UID, fieldPath: 'spec.containers{main}' },
    );
    assert.equal(
      event!.message,
      `container main uses 4096 MiB of GPU memory on ${GPU0}, over its share of 1024 MiB plus 256 MiB context allowance for each of its 1 process(es) (pids 100); reported only (--enforce-gpu-memory=report)`,
    );
  });

  it('judges a container of the pod without a share, or a GPU not in its share, against 0', async () => {
    await processIn(200, POD_UID, ID_B); // the sidecar, which was given no GPU
    await processIn(100, POD_UID, ID_A);
    await gpuProcesses([
      [200, GPU0, 300],
      [100, GPU1, 300], // main's share is on GPU0
    ]);
    const { dog } = watchdog('report');
    const result = await dog.check();
    assert.deepEqual(result.over.map((u) => [u.container, u.gpuUuid, u.shareMiB]).sort(), [
      ['main', GPU1, 0],
      ['sidecar', GPU0, 0],
    ]);
  });

  it("ignores host processes and pods the device plugin did not allocate, and survives nvidia-smi's failures", async () => {
    await processIn(300, OTHER_UID, ID_X);
    await mkdir(join(proc, '301'), { recursive: true });
    await writeFile(join(proc, '301', 'cgroup'), '0::/system.slice/xorg.service\n');
    await gpuProcesses([
      [300, GPU0, 80_000],
      [301, GPU0, 80_000],
      [302, GPU0, 80_000], // gone from /proc
    ]);
    const { dog, registry } = watchdog('kill', () => assert.fail('nothing may be killed'));
    assert.deepEqual((await dog.check()).uses, []);
    await writeFile(join(dir, 'fail'), '');
    assert.deepEqual(await dog.check(), { uses: [], over: [], killed: [] });
    assert.match(
      await registry.metrics(),
      new RegExp(`^${GPU_WATCHDOG_METRICS.errors}\\{node="gpu-node-1",reason="nvidia-smi"\\} 1$`, 'm'),
    );
  });

  it('over 60 simulated minutes: one Event per 10 minutes while over, the gauge clears when back under, a new episode reports at once', async () => {
    await processIn(100, POD_UID, ID_A);
    const { dog, registry } = watchdog('report');
    const gauge = async () =>
      new RegExp(`^${GPU_WATCHDOG_METRICS.overShare}\\{`, 'm').test(await registry.metrics());
    await gpuProcesses([[100, GPU0, 2048]]);
    for (let minute = 0; minute < 60; minute++) {
      await dog.check();
      assert.ok(await gauge(), `minute ${minute}: the gauge is missing while over`);
      clock.advance(60_000);
    }
    assert.equal((await events()).length, 6, 'minutes 0, 10, 20, 30, 40, 50');
    await gpuProcesses([[100, GPU0, 1000]]);
    for (let minute = 0; minute < 20; minute++) {
      await dog.check();
      clock.advance(60_000);
    }
    assert.equal(await gauge(), false);
    assert.equal((await events()).length, 6);
    await gpuProcesses([[100, GPU0, 2048]]);
    await dog.check();
    assert.equal((await events()).length, 7);
    assert.match(
      await registry.metrics(),
      new RegExp(`^${GPU_WATCHDOG_METRICS.violations}\\{node="gpu-node-1",action="reported"\\} 2$`, 'm'),
    );
    // Flapping over and under every check for 30 minutes: still one Event per 10 minutes.
    await clearEvents();
    clock.advance(10 * 60_000);
    for (let check = 0; check < 180; check++) {
      await gpuProcesses([[100, GPU0, check % 2 === 0 ? 4096 : 100]]);
      await dog.check();
      clock.advance(10_000);
    }
    assert.equal((await events()).length, 3, 'minutes 0, 10, 20 of the flapping');
  });

  describe('with --enforce-gpu-memory=kill', () => {
    const children: ChildProcess[] = [];
    after(() => {
      for (const child of children) child.kill('SIGKILL');
    });

    function realProcess(): ChildProcess {
      const child = spawn('sleep', ['600'], { stdio: 'ignore' });
      children.push(child);
      return child;
    }

    it('kills the largest process of the over-share container with SIGKILL until the rest fits', async () => {
      const big = realProcess();
      const small = realProcess();
      await processIn(big.pid!, POD_UID, ID_A);
      await processIn(small.pid!, POD_UID, ID_A);
      // Share 1024 + 2 x 256 = 1536 < 3000; without the 2500 MiB one, 500 <= 1024 + 256.
      await gpuProcesses([
        [small.pid!, GPU0, 500],
        [big.pid!, GPU0, 2500],
      ]);
      const { dog, registry } = watchdog('kill');
      const exited = once(big, 'exit');
      const result = await dog.check();
      assert.deepEqual(result.killed, [big.pid]);
      const [, signal] = (await exited) as [number | null, NodeJS.Signals | null];
      assert.equal(signal, 'SIGKILL');
      assert.equal(small.exitCode, null);
      assert.equal(small.signalCode, null);
      assert.match(
        await registry.metrics(),
        new RegExp(`^${GPU_WATCHDOG_METRICS.violations}\\{node="gpu-node-1",action="killed"\\} 1$`, 'm'),
      );
      const [event] = await events();
      assert.match(
        event!.message!,
        new RegExp(`; killed pid\\(s\\) ${big.pid} \\(--enforce-gpu-memory=kill\\)$`),
      );
    });

    it('does not kill a PID that now belongs to another container (reused since nvidia-smi printed it)', async () => {
      await processIn(400, POD_UID, ID_A);
      await gpuProcesses([[400, GPU0, 9000]]);
      const killed: number[] = [];
      const { dog } = watchdog('kill', (pid) => killed.push(pid));
      // The PID is main's when measured; by the time of the kill it is another pod's.
      onPodLookup = () => {
        onPodLookup = undefined;
        writeFileSync(join(proc, '400', 'cgroup'), `0::/kubepods/pod${OTHER_UID}/${ID_X}\n`);
      };
      const result = await dog.check();
      assert.equal(result.over.length, 1, 'measured as main');
      assert.deepEqual([killed, result.killed], [[], []]);
    });
  });
});
