// A node agent for tests: reads a fixture /proc, samples every 10 s on the test's clock, logs nothing.
import type { Clock } from '../../common/clock.ts';
import { createLogger } from '../../common/log.ts';
import { type AgentOptions, NodeAgent } from '../../node-agent/agent.ts';
import type { FakeProc } from './fake-proc.ts';

export function testAgent(
  proc: FakeProc,
  clock: Clock,
  extra: Partial<AgentOptions> & { nodeName?: string } = {},
): NodeAgent {
  return new NodeAgent({
    nodeName: 'node-a',
    procPath: proc.dir,
    sampleIntervalMs: 10_000,
    clock,
    logger: createLogger({ level: 'silent', name: 'test' }),
    ...extra,
  });
}
