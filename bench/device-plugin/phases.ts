// Where one Allocate's time goes, for the benchmark only: the plugin's handler, the checkpoint's
// record inside it, and the journal's fdatasync inside that, timed by wrapping them in
// this process (no timers in the product path). gRPC in is the kubelet's send up to the handler's
// start (encode, socket, decode, queue), gRPC out the handler's end to the kubelet's receipt.
import { syncBuiltinESMExports } from 'node:module';
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import { Checkpoint } from '../../node-agent/device-plugin/checkpoint.ts';
import type { DevicePlugin } from '../../node-agent/device-plugin/plugin.ts';

/** One Allocate, in ms. `work` is the handler less the record: check, match, config file, answer. */
export interface AllocatePhases {
  grpcIn: number;
  work: number;
  journalWrite: number;
  fdatasync: number;
  grpcOut: number;
}

export const PHASES: ReadonlyArray<keyof AllocatePhases> = [
  'grpcIn',
  'work',
  'journalWrite',
  'fdatasync',
  'grpcOut',
];

type AsyncFn = (...args: unknown[]) => Promise<unknown>;

/**
 * Starts timing inside `plugin`. `phases(sentAt, receivedAt)` gives the split of the Allocate that
 * was just answered (call it once per Allocate); `restore()` undoes the wrapping.
 */
export function phaseSplit(plugin: DevicePlugin): {
  phases(sentAt: number, receivedAt: number): AllocatePhases;
  restore(): void;
} {
  let handlerStart = 0;
  let handlerEnd = 0;
  let record = 0;
  let flush = 0;
  let inRecord = false;

  // The handler is private, on the plugin's Allocate part (node-agent/device-plugin/allocate.ts);
  // reached the way the queue reaches it, by name on that instance.
  const target = (plugin as unknown as { allocator: { allocateNow: AsyncFn } }).allocator;
  const handler = target.allocateNow;
  target.allocateNow = async function (this: unknown, ...args: unknown[]) {
    handlerStart = performance.now();
    try {
      return await handler.apply(this, args);
    } finally {
      handlerEnd = performance.now();
    }
  };
  const recordFn = Checkpoint.prototype.record;
  Checkpoint.prototype.record = async function (this: Checkpoint, ...args) {
    const s = performance.now();
    inRecord = true;
    try {
      return await recordFn.apply(this, args);
    } finally {
      inRecord = false;
      record += performance.now() - s;
    }
  };
  // The journal imports it by name: syncBuiltinESMExports makes its binding see the wrapper.
  const { fdatasyncSync } = fs;
  const timed = <F extends (...a: never[]) => unknown>(f: F, add: (ms: number) => void): F =>
    function (this: unknown, ...a: Parameters<F>) {
      if (!inRecord) return f.apply(this, a);
      const s = performance.now();
      try {
        return f.apply(this, a);
      } finally {
        add(performance.now() - s);
      }
    } as F;
  fs.fdatasyncSync = timed(fdatasyncSync, (ms) => (flush += ms));
  syncBuiltinESMExports();

  return {
    phases(sentAt, receivedAt) {
      const p: AllocatePhases = {
        grpcIn: handlerStart - sentAt,
        work: handlerEnd - handlerStart - record,
        journalWrite: record - flush,
        fdatasync: flush,
        grpcOut: receivedAt - handlerEnd,
      };
      record = flush = 0;
      return p;
    },
    restore() {
      target.allocateNow = handler;
      Checkpoint.prototype.record = recordFn;
      fs.fdatasyncSync = fdatasyncSync;
      syncBuiltinESMExports();
    },
  };
}
