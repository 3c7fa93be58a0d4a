import { runDevicePluginBench } from '../node-agent/device-plugin/bench.ts';
await runDevicePluginBench();
const q = (x: number[]) => { const s = [...x].sort((p, r) => p - r); return `p50 ${s[s.length >> 1]!.toFixed(3)} p90 ${s[Math.floor(s.length * 0.9)]!.toFixed(3)} p99 ${s[Math.floor(s.length * 0.99)]!.toFixed(3)}`; };
for (const k of ['server', 'files', 'write', 'sync']) { const a: number[] = (globalThis as any).T[k]; console.log(k, a.length);
for (let r = 0; r < 2; r++) console.log(`  root ${r} paced`, q(a.slice(r * 200, r * 200 + 100)), '| burst', q(a.slice(r * 200 + 100, r * 200 + 200))); }
