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
    // Bundled CommonJS dependencies still call require(); give ESM output one.
    banner: {
      js: `${hashbang}\nimport { createRequire as __loadwiseRequire } from 'node:module'; const require = __loadwiseRequire(import.meta.url);`,
    },
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
