// The agent with GPUs: the gpus section of /statistics, the node-level GPU windows, per-GPU metrics.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { AGENT_METRICS, GPU_METRICS, type Statistics } from '../contracts/index.ts';
import { parseStatistics } from '../contracts/statistics-parser.ts';
import { ManualClock } from '../common/clock.ts';
import { createLogger } from '../common/log.ts';
import { FakeProc } from '../doubles/fake-proc.ts';
import { NodeAgent } from './agent.ts';
import type { GpuProvider } from './gpu/provider.ts';
import { parseInventoryFile, SimulatedProvider } from './gpu/simulated-provider.ts';

const T0 = Date.UTC(2026, 10, 22, 6, 0, 0);
const sample = readFileSync(new URL('../configs/gpus.sample.yaml', import.meta.url), 'utf8');

describe('node agent with GPUs', () => {
  const proc = new FakeProc();
  const clock = new ManualClock(T0);
  const allocated = new Map([[2, { core: 100, memoryMiB: 81920 }]]);
  const { devices, idle } = parseInventoryFile(sample, 'gpu-node');
  const simulated = new SimulatedProvider(devices, idle, () => allocated);
  let failNext = false;
  const provider: GpuProvider = {
    name: 'simulated',
    read: () => (failNext ? Promise.reject(new Error('nvidia-smi timed out')) : simulated.read()),
  };
  const agent = new NodeAgent({
    nodeName: 'gpu-node',
    procPath: proc.dir,
    sampleIntervalMs: 10_000,
    clock,
    logger: createLogger({ level: 'silent', name: 'test' }),
    gpu: provider,
    gpuAllocations: () => allocated,
  });
  let base = '';
  before(async () => {
    base = await agent.listen('127.0.0.1', 0);
    for (let i = 0; i < 3; i++) {
      proc.runFor(1000, 300);
      agent.sample();
      await agent.sampleGpu();
      clock.advance(10_000);
    }
  });
  after(async () => {
    await agent.stop();
    proc.cleanup();
  });

  it('serves every GPU with its usage and what loadwise allocated on it', async () => {
    const body = (await (await fetch(`${base}/statistics`)).json()) as Statistics;
    const parsed = parseStatistics(body);
    assert.ok(parsed.ok, parsed.ok ? '' : parsed.error);
    const gpus = parsed.stats.gpus!;
    assert.equal(gpus.length, 6);
    assert.deepEqual(gpus[2]!.allocated, { core: 100, memoryMiB: 81920 });
    assert.ok(Math.abs(gpus[2]!.utilization! - 0.82) < 1e-9);
    assert.equal(gpus[0]!.links[1], 'NV12');
    // Node level: mean of six GPUs, one of them busy.
    const mean = (5 * 0.02 + 0.82) / 6;
    assert.ok(Math.abs(parsed.stats.windows.gpu_usage_avg_5m! - mean) < 1e-6);
    assert.ok(parsed.stats.windows.gpu_usage_max_avg_1h !== undefined);
  });

  it('exports per-GPU gauges labelled by gpu, uuid and model', async () => {
    const text = await (await fetch(`${base}/metrics`)).text();
    assert.match(text, new RegExp(`^${GPU_METRICS.count}\\{node="gpu-node"\\} 6$`, 'm'));
    assert.match(
      text,
      new RegExp(
        `^${GPU_METRICS.allocatedCore}\\{node="gpu-node",gpu="2",uuid="GPU-[0-9a-f-]+",model="NVIDIA A100-SXM4-80GB"\\} 100$`,
        'm',
      ),
    );
    assert.match(
      text,
      new RegExp(
        `^${GPU_METRICS.memoryTotal}\\{[^}]*gpu="5"[^}]*model="Tesla T4"\\} ${15360 * 1024 * 1024}$`,
        'm',
      ),
    );
    assert.match(text, /^loadwise_node_gpu_usage_avg_5m\{node="gpu-node"\} 0\.15/m);
  });

  it('counts a failed GPU reading and keeps serving the last one; a vanished GPU shows unhealthy', async () => {
    failNext = true;
    await agent.sampleGpu();
    failNext = false;
    simulated.setHealthy(4, false);
    await agent.sampleGpu();
    const text = await (await fetch(`${base}/metrics`)).text();
    assert.match(
      text,
      new RegExp(`^${AGENT_METRICS.sampleFailures}\\{source="gpu",reason="unreadable"\\} 1$`, 'm'),
    );
    assert.match(text, new RegExp(`^${GPU_METRICS.healthy}\\{[^}]*gpu="4"[^}]*\\} 0$`, 'm'));
    const body = (await (await fetch(`${base}/statistics`)).json()) as Statistics;
    assert.equal(body.gpus![4]!.healthy, false);
    assert.equal(body.gpus![4]!.utilization, undefined);
  });
});

describe('node agent without GPUs', () => {
  it('has no gpus section and no GPU figures', async () => {
    const proc = new FakeProc();
    const agent = new NodeAgent({
      nodeName: 'cpu-node',
      procPath: proc.dir,
      sampleIntervalMs: 10_000,
      clock: new ManualClock(T0),
      logger: createLogger({ level: 'silent', name: 'test' }),
    });
    const base = await agent.listen('127.0.0.1', 0);
    try {
      agent.sample();
      await agent.sampleGpu();
      const body = (await (await fetch(`${base}/statistics`)).json()) as Statistics;
      assert.equal(body.gpus, undefined);
      assert.equal(body.windows.gpu_usage_active, undefined);
      const text = await (await fetch(`${base}/metrics`)).text();
      assert.doesNotMatch(text, new RegExp(`^${GPU_METRICS.count}\\{`, 'm'));
    } finally {
      await agent.stop();
      proc.cleanup();
    }
  });
});
