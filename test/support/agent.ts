// A node agent as the HTTP tests run it: in-process, reading a fake /proc, on a manual clock.
import { ManualClock } from '../../common/clock.ts';
import { createLogger } from '../../common/log.ts';
import { NodeAgent } from '../../node-agent/agent.ts';
import { FakeProc } from '../../hack/local/cluster/fake-proc.ts';

export function testAgent(nowMs: number): { agent: NodeAgent; proc: FakeProc; clock: ManualClock } {
  const proc = new FakeProc();
  const clock = new ManualClock(nowMs);
  const agent = new NodeAgent({
    nodeName: 'node-a',
    procPath: proc.dir,
    sampleIntervalMs: 10_000,
    clock,
    logger: createLogger({ level: 'silent', name: 'test' }),
  });
  return { agent, proc, clock };
}
