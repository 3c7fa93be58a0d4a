import assert from 'node:assert/strict';
import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { VGPU_CONFIG_FILE, decodeVgpuConfig } from '../../contracts/vgpu-config.ts';
import { containerDirs, writeContainerFiles } from './container-files.ts';

const UID = '6c1f3f0e-7d2a-4b8e-9a51-0f1e2d3c4b5a';
const config = {
  coreLimitPercent: 30,
  coreMode: 'hard' as const,
  devices: [{ index: 0, uuid: 'GPU-1', memoryLimitBytes: 1024 * 1024 * 1024 }],
};

describe('container files', () => {
  const root = mkdtempSync(join(tmpdir(), 'lw-cfiles-'));
  after(() => rmSync(root, { recursive: true, force: true }));

  const readConfig = (dir: string) => decodeVgpuConfig(readFileSync(join(dir, VGPU_CONFIG_FILE), 'utf8'));

  it('a first Allocate writes the whole config in place, world-readable, and leaves no temp file', async () => {
    const dirs = containerDirs(root, UID, 'first');
    await writeContainerFiles(dirs, config, true);
    const read = readConfig(dirs.configDir);
    assert.equal(read.ok, true);
    assert.equal(read.ok && read.config.coreLimitPercent, 30);
    assert.equal(statSync(join(dirs.configDir, VGPU_CONFIG_FILE)).mode & 0o777, 0o644);
    assert.deepEqual(readdirSync(dirs.configDir), [VGPU_CONFIG_FILE]);
  });

  it('a config a crash left half-written is replaced whole by the retry', async () => {
    const dirs = containerDirs(root, UID, 'torn');
    mkdirSync(dirs.configDir, { recursive: true });
    writeFileSync(join(dirs.configDir, VGPU_CONFIG_FILE), 'version=1\ncore_li');
    await writeContainerFiles(dirs, config, true);
    const read = readConfig(dirs.configDir);
    assert.equal(read.ok, true);
    assert.deepEqual(readdirSync(dirs.configDir), [VGPU_CONFIG_FILE]);
  });

  it('a link planted at the config path is replaced, not written through', async () => {
    const dirs = containerDirs(root, UID, 'planted');
    const victim = join(root, 'victim');
    writeFileSync(victim, 'keep');
    mkdirSync(dirs.configDir, { recursive: true });
    symlinkSync(victim, join(dirs.configDir, VGPU_CONFIG_FILE));
    await writeContainerFiles(dirs, config, true);
    assert.equal(readFileSync(victim, 'utf8'), 'keep');
    assert.equal(lstatSync(join(dirs.configDir, VGPU_CONFIG_FILE)).isSymbolicLink(), false);
    assert.equal(readConfig(dirs.configDir).ok, true);
  });
});
