// Product code never imports the test suite: what `npm start` and the components run must work from
// a checkout (or an image) without `test/`. Tests and benchmarks may use test helpers; nothing else.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const SKIP = new Set(['node_modules', '.git', 'dist', 'out', 'build', 'test']);
const SPECIFIER = /(?:from|import)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g;

function sources(dir: string, found: string[] = []): string[] {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (SKIP.has(entry.name) || entry.name.startsWith('.')) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) sources(path, found);
    else if (/\.(ts|mjs)$/.test(entry.name)) found.push(path);
  }
  return found;
}

/** Tests and benchmarks are development tools: they may import test helpers. */
function isProduct(path: string): boolean {
  const rel = relative(root, path);
  return !rel.endsWith('.test.ts') && !/(^|\/)bench[^/]*(\/|\.ts$)/.test(rel);
}

test('no product source imports anything under test/', () => {
  const offenders: string[] = [];
  const testDir = join(root, 'test') + '/';
  for (const file of sources(root).filter(isProduct)) {
    for (const [, spec] of readFileSync(file, 'utf8').matchAll(SPECIFIER)) {
      if (resolve(dirname(file), spec!).startsWith(testDir))
        offenders.push(`${relative(root, file)} → ${spec}`);
    }
  }
  assert.deepEqual(offenders, []);
});

test('the local mode embeds its cluster from doubles/', () => {
  const local = readFileSync(join(root, 'local/local-cluster.ts'), 'utf8');
  assert.match(local, /from '\.\.\/doubles\/apiserver\/server\.ts'/);
  assert.match(local, /from '\.\.\/doubles\/kubelet\/kubelet\.ts'/);
});

test('benchmarks live in bench/ only', () => {
  const stray = sources(root)
    .map((file) => relative(root, file))
    .filter((rel) => /(^|\/)bench[^/]*\.(ts|mjs)$/.test(rel) && !rel.startsWith('bench/'));
  assert.deepEqual(stray, []);
});

test('hack/ holds developer scripts only: no product source imports it', () => {
  const hackDir = join(root, 'hack') + '/';
  const offenders: string[] = [];
  for (const file of sources(root).filter(isProduct)) {
    if (file.startsWith(hackDir)) continue;
    for (const [, spec] of readFileSync(file, 'utf8').matchAll(SPECIFIER)) {
      if (resolve(dirname(file), spec!).startsWith(hackDir))
        offenders.push(`${relative(root, file)} → ${spec}`);
    }
  }
  assert.deepEqual(offenders, []);
});
