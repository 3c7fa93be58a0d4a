// A node agent as the tests run it: in-process, reading a fake /proc, sampling every 10 s on the
// test's clock, logging nothing.
import { type Clock, ManualClock } from '../../common/clock.ts';
import { createLogger } from '../../common/log.ts';
import { type AgentOptions, NodeAgent } from '../../node-agent/agent.ts';
import { FakeProc } from '../../doubles/fake-proc.ts';

export type TestAgentOptions = Partial<AgentOptions> & { nodeName?: string };

/** An agent on a fake /proc and clock the caller made. */
export function agentOn(proc: FakeProc, clock: Clock, extra: TestAgentOptions = {}): NodeAgent {
  return new NodeAgent({
    nodeName: 'node-a',
    procPath: proc.dir,
    sampleIntervalMs: 10_000,
    clock,
    logger: createLogger({ level: 'silent', name: 'test' }),
    ...extra,
  });
}

/** An agent with a fresh fake /proc and a manual clock at `nowMs`. */
export function testAgent(
  nowMs: number,
  extra: TestAgentOptions = {},
): { agent: NodeAgent; proc: FakeProc; clock: ManualClock } {
  const proc = new FakeProc();
  const clock = new ManualClock(nowMs);
  return { agent: agentOn(proc, clock, extra), proc, clock };
}
