import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseCsv } from './csv.ts';
import { loadNodes, loadPods, parseNodes, parsePods, traceName } from './openb.ts';

const DIR = new URL('../../../shared/traces/openb/', import.meta.url).pathname;
const files = (() => {
  try {
    return readdirSync(DIR).filter((f) => f.endsWith('.csv'));
  } catch {
    return [];
  }
})();

describe('openb CSV parsing', () => {
  it('reads an optional gpu_memory_mib column on nodes and pods; openb lists without it ask none', () => {
    const nodes = parseNodes(
      'sn,cpu_milli,memory_mib,gpu,model,gpu_memory_mib\nn0,32000,262144,4,T4,15360\nn1,32000,262144,0,,\n',
      'nodes',
    );
    assert.equal(nodes[0]!.gpuMemoryMib, 15360);
    assert.equal(nodes[1]!.gpuMemoryMib, undefined);
    const pods = parsePods(
      'name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_memory_mib\np0,1000,1024,1,1000,40960\n',
      'pods',
    );
    assert.equal(pods[0]!.gpuMemoryMib, 40960);
    assert.throws(
      () =>
        parsePods(
          'name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_memory_mib\np0,1000,1024,1,1000,-1\n',
          'pods',
        ),
      /gpu_memory_mib/,
    );
  });

  it('reads nodes and pods, the multigpu layout without gpu_spec included', () => {
    const nodes = parseNodes(
      'sn,cpu_milli,memory_mib,gpu,model\nn0,32000,262144,2,T4\nn1,32000,262144,0,\n',
      'nodes',
    );
    assert.deepEqual(nodes[0], {
      name: 'n0',
      cpuMilli: 32000,
      memoryMib: 262144,
      gpuCount: 2,
      gpuModel: 'T4',
    });
    assert.equal(nodes[1]!.gpuModel, '');
    const full = parsePods(
      'name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos\np0,6000,12288,1,460,V100M16|V100M32,LS\n',
      'full',
    );
    assert.deepEqual(full[0]!.gpuModels, ['V100M16', 'V100M32']);
    const short = parsePods('name,cpu_milli,memory_mib,num_gpu,gpu_milli\np0,12000,16384,8,1000\n', 'short');
    assert.deepEqual(short[0], {
      name: 'p0',
      cpuMilli: 12000,
      memoryMib: 16384,
      gpuCount: 8,
      gpuMilli: 1000,
      gpuModels: [],
    });
  });

  it('rejects what it cannot read, saying where', () => {
    assert.throws(
      () => parsePods('name,cpu_milli,memory_mib,num_gpu\np,1,1,1\n', 'x.csv'),
      /x.csv: missing column "gpu_milli"/,
    );
    assert.throws(
      () => parsePods('name,cpu_milli,memory_mib,num_gpu,gpu_milli\np,1,1,2,500\n', 'x.csv'),
      /x.csv:2: a share/,
    );
    assert.throws(
      () => parsePods('name,cpu_milli,memory_mib,num_gpu,gpu_milli\np,-1,1,0,0\n', 'x.csv'),
      /x.csv:2 cpu_milli/,
    );
    assert.throws(() => parseCsv('a,b\n1\n', 'y.csv'), /y.csv:2: 1 fields, header has 2/);
    assert.throws(
      () => parseNodes('sn,cpu_milli,memory_mib,gpu,model\nn,1,1,2,\n', 'n.csv'),
      /GPUs without a model/,
    );
  });

  it('handles quoted fields', () => {
    assert.deepEqual(parseCsv('a,b\n"x,1","say ""hi"""\n', 'q').rows[0], ['x,1', 'say "hi"']);
  });

  it(
    'parses every trace file of the openb set',
    { skip: files.length === 0 ? 'traces not present' : false },
    () => {
      for (const f of files) {
        const path = join(DIR, f);
        if (f.includes('node_list')) {
          const nodes = loadNodes(path);
          assert.ok(nodes.length > 1000, f);
        } else {
          const pods = loadPods(path);
          assert.ok(pods.length > 7000, f);
          assert.ok(
            pods.some((p) => p.gpuCount > 0),
            f,
          );
          assert.match(traceName(path), /^[a-z]+\d*$/);
        }
      }
      const gpuNodes = loadNodes(join(DIR, 'openb_node_list_gpu_node.csv'));
      assert.equal(gpuNodes.length, 1213);
      assert.equal(
        gpuNodes.reduce((s, n) => s + n.gpuCount, 0),
        6212,
      );
    },
  );
});
