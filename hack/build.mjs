#!/usr/bin/env node
// Bundles a component's entry point, with its dependencies, into one ESM file under dist/. This
// is what the images run: plain `node` on a bundle starts lighter than the tsx loader (which keeps
// a second V8 isolate alive for its hooks) or than thousands of files in node_modules.
// Usage: node hack/build.mjs [component ...]   (no argument: every component)
import { chmodSync, copyFileSync, mkdirSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));

/** Component name → entry point. Later components add a line here. */
export const ENTRIES = {
  'node-agent': 'node-agent/main.ts',
  controller: 'controller/main.ts',
  scheduler: 'scheduler/main.ts',
};

/**
 * Node flags the component's image runs with. The agent does one sample every few seconds and a
 * few requests a minute on every node of the cluster: the optimizing compiler and a large
 * young generation buy it nothing and cost every node several megabytes (see `npm run bench`).
 * `--optimize-for-size` lets the old generation grow less between collections; `--expose-gc` lets
 * the agent collect a burst of requests' garbage at its next sampling tick (node-agent/heap-trim.ts);
 * `--compact-on-every-full-gc` gives the emptied pages back instead of keeping a fragmented heap
 * (full collections of a ~10 MB heap are rare and take a few milliseconds).
 * `--no-sparkplug` drops the baseline compiler, the one tier `--no-opt` left: its machine code cost
 * ~1 MB and a request of the agent spends most of its time in node's C++ and syscalls anyway.
 * `--single-threaded` runs V8's collector and compiler tasks on the main thread instead of a pool
 * of helper threads (their stacks and per-thread buffers): ~3 MB less after a burst of requests.
 */
export const NODE_FLAGS = {
  'node-agent': [
    '--max-semi-space-size=1',
    '--no-opt',
    '--optimize-for-size',
    '--expose-gc',
    '--compact-on-every-full-gc',
    '--no-sparkplug',
    '--single-threaded',
  ],
  controller: [],
  scheduler: [],
};

/**
 * Built-in modules that bundled dependencies require when they load but use only in some modes:
 * fastify's server.js requires https and http2 for servers that never use them, and tls comes
 * with https. Loading them costs the node agent ~1.4 MB of RSS (measured with
 * `npm run bench -- agent`: 52.2 MB after a day with them loaded, 50.9 MB without), so a
 * require() of one returns a stand-in that loads the module at its first use. Built-ins that a
 * dependency destructures as it loads (zlib in prom-client, crypto in light-my-request) load at
 * once anyway; listing them would change nothing.
 */
const LAZY_BUILTINS = ['https', 'http2', 'tls'].flatMap((m) => [m, `node:${m}`]);

/**
 * The bundle's require(): createRequire's, but for LAZY_BUILTINS a Proxy over the module that
 * loads it on first access. Every trap forwards to the loaded module; descriptors are reported
 * configurable because the Proxy's own (empty) target never holds the property.
 */
const REQUIRE_BANNER = `import { createRequire as __loadwiseCreateRequire } from 'node:module';
const __loadwiseRequire = __loadwiseCreateRequire(import.meta.url);
const __loadwiseLazy = new Map(${JSON.stringify(LAZY_BUILTINS)}.map((id) => {
  let loaded;
  const load = () => (loaded ??= __loadwiseRequire(id));
  return [id, new Proxy({}, {
    get: (_, key) => load()[key],
    set: (_, key, value) => Reflect.set(load(), key, value),
    has: (_, key) => key in load(),
    ownKeys: () => Reflect.ownKeys(load()),
    getOwnPropertyDescriptor: (_, key) => {
      const d = Reflect.getOwnPropertyDescriptor(load(), key);
      return d && { ...d, configurable: true };
    },
  })];
}));
const require = Object.assign((id) => __loadwiseLazy.get(id) ?? __loadwiseRequire(id), __loadwiseRequire);`;

/** Files read at run time next to the code that reads them (`new URL(file, import.meta.url)`). */
const RUNTIME_FILES = ['node-agent/device-plugin/api.proto'];

/**
 * Bundles `entry` to `outfile` (relative to the repository). The bundle is executable: its
 * first line starts node with the component's flags, so the flags live here and nowhere else.
 * Dynamic imports become chunks under `chunks/`, loaded only when taken: a CPU node's agent never
 * loads the Kubernetes client the device plugin needs.
 */
export async function bundle(entry, outfile, flags = []) {
  const hashbang = `#!/usr/bin/env -S node ${flags.join(' ')}`.trimEnd();
  const outdir = dirname(outfile);
  await build({
    absWorkingDir: root,
    entryPoints: { [basename(outfile, extname(outfile))]: entry },
    outdir,
    outExtension: { '.js': '.mjs' },
    splitting: true,
    chunkNames: 'chunks/[name]-[hash]',
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    sourcemap: 'linked',
    // V8 keeps every loaded source text in the heap: whitespace and dead code cost ~1 MB of the
    // agent's RSS. Names stay (stack traces, plugin names); the source map has the rest.
    minifyWhitespace: true,
    minifySyntax: true,
    logLevel: 'warning',
    // Bundled CommonJS dependencies still call require(); give ESM output one (REQUIRE_BANNER).
    banner: { js: `${hashbang}\n${REQUIRE_BANNER}` },
  });
  chmodSync(join(root, outfile), 0o755);
  for (const file of RUNTIME_FILES) {
    for (const dir of [outdir, join(outdir, 'chunks')]) {
      mkdirSync(join(root, dir), { recursive: true });
      copyFileSync(join(root, file), join(root, dir, basename(file)));
    }
  }
  return outfile;
}

const HELP = `Usage: npm run build [-- COMPONENT...]

Bundles each component with esbuild into dist/COMPONENT.mjs: one file with its
dependencies, run by plain node (no node_modules, no tsx), plus the runtime
files it reads (the device-plugin API .proto). Without COMPONENT, all of them.

Components: ${Object.keys(ENTRIES).join(', ')}

Options:
  -h, --help  display this help
`;

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const wanted = process.argv.slice(2);
  if (wanted.includes('-h') || wanted.includes('--help')) {
    process.stdout.write(HELP);
    process.exit(0);
  }
  const unknown = wanted.filter((w) => !(w in ENTRIES));
  if (unknown.length > 0) {
    console.error(`unknown component(s): ${unknown.join(', ')}; known: ${Object.keys(ENTRIES).join(', ')}`);
    process.exit(2);
  }
  for (const name of wanted.length > 0 ? wanted : Object.keys(ENTRIES)) {
    await bundle(ENTRIES[name], `dist/${name}.mjs`, NODE_FLAGS[name]);
  }
}
