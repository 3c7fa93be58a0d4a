// The per-container vGPU config file: the node agent writes it, native/libvcuda-control.so reads it.
// The format is versioned `key=value` lines so the C side parses it with no library and no guesswork;
// native/src/config.c implements exactly the rules below, and native/native.test.ts checks that both
// sides accept and reject the same texts.
//
//   # comment
//   version=1
//   core_limit=30                      percent of one GPU's compute, 1..100 (100: not throttled)
//   core_mode=hard                     hard | soft (soft may borrow capacity the GPU leaves idle)
//   shared_region=/abs/path/vgpu.shm   optional; default <config dir>/vgpu.shm
//   device.0.uuid=GPU-...              optional; matched against the device's UUID when present
//   device.0.memory_limit=1073741824   bytes, >= 1
//
// Rules: LF line ends only; a line is at most 255 bytes; empty lines and lines starting with `#` are
// ignored; no spaces anywhere; every key at most once; `version`, `core_limit`, `core_mode` and at
// least one device are required; device indexes are 0..15 (the container's CUDA device ordinals, in
// the order NVIDIA_VISIBLE_DEVICES lists them) and each listed device needs `memory_limit`.

export const VGPU_CONFIG_VERSION = 1;
/** The file's name inside the config directory. */
export const VGPU_CONFIG_FILE = 'vgpu.config';
/** The shared accounting region's default name inside the config directory. */
export const VGPU_SHARED_REGION_FILE = 'vgpu.shm';
/** Where the agent mounts the config directory inside the container. */
export const DEFAULT_VGPU_CONFIG_DIR = '/etc/loadwise/vgpu';
/** Overrides the config directory (the library looks for `VGPU_CONFIG_FILE` in it). */
export const VGPU_CONFIG_DIR_ENV = 'LOADWISE_VGPU_CONFIG_DIR';
/** Overrides `core_limit`, in percent (1..100). */
export const VGPU_CORE_LIMIT_ENV = 'LOADWISE_VGPU_CORE_LIMIT';
/** `LOADWISE_VGPU_MEMORY_LIMIT_<i>` overrides device i's `memory_limit`, in bytes. */
export const VGPU_MEMORY_LIMIT_ENV_PREFIX = 'LOADWISE_VGPU_MEMORY_LIMIT_';
/** The throttle's utilisation sampling period in ms (10..5000, default 100): a tuning knob. */
export const VGPU_SAMPLE_MS_ENV = 'LOADWISE_VGPU_SAMPLE_MS';
export const VGPU_MAX_DEVICES = 16;
/** The longest line either side accepts, newline excluded. */
export const VGPU_CONFIG_MAX_LINE = 255;

export function vgpuMemoryLimitEnv(index: number): string {
  return `${VGPU_MEMORY_LIMIT_ENV_PREFIX}${index}`;
}

export type VgpuCoreMode = 'hard' | 'soft';

export interface VgpuDeviceConfig {
  /** The container's CUDA device ordinal, 0..15. */
  index: number;
  /** `GPU-…` as NVML and nvidia-smi print it. */
  uuid?: string;
  memoryLimitBytes: number;
}

export interface VgpuConfig {
  coreLimitPercent: number;
  coreMode: VgpuCoreMode;
  /** Absolute path; absent means `<config dir>/vgpu.shm`. */
  sharedRegionPath?: string;
  devices: VgpuDeviceConfig[];
}

export type VgpuConfigResult = { ok: true; config: VgpuConfig } | { ok: false; error: string };

const UUID = /^[A-Za-z0-9-]{1,96}$/;
const PATH = /^\/[A-Za-z0-9._/-]{0,254}$/;
const DECIMAL = /^(0|[1-9][0-9]*)$/;
const DEVICE_KEY = /^device\.(0|[1-9][0-9]?)\.(uuid|memory_limit)$/;

/** Checks a config the way the decoder would; undefined when it is fine. */
export function validateVgpuConfig(config: VgpuConfig): string | undefined {
  const { coreLimitPercent, coreMode, sharedRegionPath, devices } = config;
  if (!Number.isInteger(coreLimitPercent) || coreLimitPercent < 1 || coreLimitPercent > 100) {
    return `core limit must be a whole percent 1..100, got ${coreLimitPercent}`;
  }
  if (coreMode !== 'hard' && coreMode !== 'soft')
    return `core mode must be hard or soft, got ${String(coreMode)}`;
  if (sharedRegionPath !== undefined && (!PATH.test(sharedRegionPath) || hasDotDot(sharedRegionPath))) {
    return `shared region must be an absolute path of [A-Za-z0-9._/-] without "..", got "${clip(sharedRegionPath)}"`;
  }
  if (devices.length === 0) return 'at least one device is required';
  const seen = new Set<number>();
  for (const device of devices) {
    if (!Number.isInteger(device.index) || device.index < 0 || device.index >= VGPU_MAX_DEVICES) {
      return `device index must be 0..${VGPU_MAX_DEVICES - 1}, got ${device.index}`;
    }
    if (seen.has(device.index)) return `device ${device.index} is listed twice`;
    seen.add(device.index);
    if (device.uuid !== undefined && !UUID.test(device.uuid)) {
      return `device ${device.index}: uuid must be 1..96 of [A-Za-z0-9-], got "${clip(device.uuid)}"`;
    }
    if (!Number.isSafeInteger(device.memoryLimitBytes) || device.memoryLimitBytes < 1) {
      return `device ${device.index}: memory limit must be a whole number of bytes >= 1, got ${device.memoryLimitBytes}`;
    }
  }
  return undefined;
}

/** Writes the file's text; throws RangeError on a config the library would reject. */
export function encodeVgpuConfig(config: VgpuConfig): string {
  const problem = validateVgpuConfig(config);
  if (problem !== undefined) throw new RangeError(problem);
  const lines = [
    '# loadwise vGPU config: written by the node agent, read by libvcuda-control.so',
    `version=${VGPU_CONFIG_VERSION}`,
    `core_limit=${config.coreLimitPercent}`,
    `core_mode=${config.coreMode}`,
  ];
  if (config.sharedRegionPath !== undefined) lines.push(`shared_region=${config.sharedRegionPath}`);
  for (const device of [...config.devices].sort((a, b) => a.index - b.index)) {
    if (device.uuid !== undefined) lines.push(`device.${device.index}.uuid=${device.uuid}`);
    lines.push(`device.${device.index}.memory_limit=${device.memoryLimitBytes}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Strict decode; never throws. Errors name the line they were found on. */
export function decodeVgpuConfig(text: string): VgpuConfigResult {
  const values = new Map<string, { value: string; line: number }>();
  const lines = text.split('\n');
  // A final newline leaves one empty string behind; it is not a line.
  if (lines.at(-1) === '') lines.pop();
  for (const [i, line] of lines.entries()) {
    const at = `line ${i + 1}`;
    if (Buffer.byteLength(line, 'utf8') > VGPU_CONFIG_MAX_LINE) {
      return fail(`${at}: longer than ${VGPU_CONFIG_MAX_LINE} bytes`);
    }
    if (line === '' || line.startsWith('#')) continue;
    if (!/^[\x21-\x7e]+$/.test(line)) return fail(`${at}: only printable ASCII without spaces is allowed`);
    const eq = line.indexOf('=');
    if (eq <= 0) return fail(`${at}: expected key=value`);
    const key = line.slice(0, eq);
    const value = line.slice(eq + 1);
    if (values.has(key)) return fail(`${at}: ${key} given twice`);
    values.set(key, { value, line: i + 1 });
  }

  const version = values.get('version');
  if (version === undefined) return fail('version is missing');
  if (version.value !== String(VGPU_CONFIG_VERSION)) {
    return fail(
      `line ${version.line}: unsupported version "${clip(version.value)}" (this side reads ${VGPU_CONFIG_VERSION})`,
    );
  }

  let coreLimitPercent: number | undefined;
  let coreMode: VgpuCoreMode | undefined;
  let sharedRegionPath: string | undefined;
  const devices = new Map<number, { uuid?: string; memoryLimitBytes?: number }>();
  for (const [key, { value, line }] of values) {
    const at = `line ${line}`;
    if (key === 'version') continue;
    if (key === 'core_limit') {
      const n = decimal(value);
      if (n === undefined || n < 1 || n > 100)
        return fail(`${at}: core_limit must be 1..100, got "${clip(value)}"`);
      coreLimitPercent = n;
    } else if (key === 'core_mode') {
      if (value !== 'hard' && value !== 'soft')
        return fail(`${at}: core_mode must be hard or soft, got "${clip(value)}"`);
      coreMode = value;
    } else if (key === 'shared_region') {
      if (!PATH.test(value) || hasDotDot(value)) {
        return fail(`${at}: shared_region must be an absolute path of [A-Za-z0-9._/-] without ".."`);
      }
      sharedRegionPath = value;
    } else {
      const m = DEVICE_KEY.exec(key);
      if (!m) return fail(`${at}: unknown key "${clip(key)}"`);
      const index = Number(m[1]);
      if (index >= VGPU_MAX_DEVICES) return fail(`${at}: device index must be 0..${VGPU_MAX_DEVICES - 1}`);
      const device = devices.get(index) ?? {};
      devices.set(index, device);
      if (m[2] === 'uuid') {
        if (!UUID.test(value)) return fail(`${at}: uuid must be 1..96 of [A-Za-z0-9-]`);
        device.uuid = value;
      } else {
        const n = decimal(value);
        if (n === undefined || n < 1) return fail(`${at}: memory_limit must be a whole number of bytes >= 1`);
        device.memoryLimitBytes = n;
      }
    }
  }
  if (coreLimitPercent === undefined) return fail('core_limit is missing');
  if (coreMode === undefined) return fail('core_mode is missing');
  if (devices.size === 0) return fail('no device is listed');
  const list: VgpuDeviceConfig[] = [];
  for (const [index, device] of [...devices].sort((a, b) => a[0] - b[0])) {
    if (device.memoryLimitBytes === undefined) return fail(`device.${index}.memory_limit is missing`);
    list.push({
      index,
      ...(device.uuid === undefined ? {} : { uuid: device.uuid }),
      memoryLimitBytes: device.memoryLimitBytes,
    });
  }
  const config: VgpuConfig = {
    coreLimitPercent,
    coreMode,
    ...(sharedRegionPath === undefined ? {} : { sharedRegionPath }),
    devices: list,
  };
  return { ok: true, config };
}

// Plain decimals only; above 2^53 the TS side cannot hold the value exactly, so it is refused on both sides.
function decimal(text: string): number | undefined {
  if (!DECIMAL.test(text) || text.length > 16) return undefined;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : undefined;
}

function hasDotDot(path: string): boolean {
  return path.split('/').includes('..');
}

function fail(error: string): VgpuConfigResult {
  return { ok: false, error };
}

function clip(text: string): string {
  return text.length > 64 ? `${text.slice(0, 61)}...` : text;
}
