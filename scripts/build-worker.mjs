#!/usr/bin/env node
// Builds the single worker executable dist/edge-worker-linux-x64 (issue 19):
//   1. esbuild bundles the worker side of the CLI (worker-cli/src/single-binary/main.ts) into one
//      CommonJS file, and refuses a bundle that reaches the server's store or any native module;
//   2. Node's single executable applications turn it into a blob (node --experimental-sea-config);
//   3. postject injects the blob into a copy of this node binary.
// Binaries are cached under node_modules/.cache/edge-worker/ by a hash of what goes into them (the
// bundle, the node binary, the SEA settings), so a rebuild with nothing changed is a copy.
//
// Usage: node scripts/build-worker.mjs [--out FILE] [--quiet]
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ENTRY = path.join(ROOT, 'worker-cli/src/single-binary/main.ts');
const VERSION_MODULE = path.join(ROOT, 'shared/version.ts');
const SENTINEL_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
/** Packages a worker never needs: the server's store and drivers. Reaching one is a build error. */
const FORBIDDEN = ['better-sqlite3', 'knex', 'mysql2', 'bindings', 'prebuild-install'];

const args = process.argv.slice(2);
const outArg = args.indexOf('--out');
const OUT = outArg >= 0 ? path.resolve(args[outArg + 1]) : path.join(ROOT, 'dist', `edge-worker-${process.platform}-${process.arch}`);
const quiet = args.includes('--quiet');
const say = (msg) => quiet || process.stderr.write(`build:worker: ${msg}\n`);
const fail = (msg) => {
  process.stderr.write(`build:worker: ${msg}\n`);
  process.exit(1);
};

if (process.platform !== 'linux') fail(`builds for Linux only (this is ${process.platform})`);

const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
// What oclif needs to know about the CLI, minus the commands and topics the binary does not carry.
const pjson = {
  name: pkg.name,
  version: pkg.version,
  description: pkg.description,
  type: 'commonjs',
  oclif: {
    ...pkg.oclif,
    commands: { strategy: 'explicit', target: '(bundled)', identifier: 'WORKER_COMMANDS' },
    topics: { maintenance: pkg.oclif.topics.maintenance },
  },
};

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'edge-build-worker-'));
try {
  const esbuild = await import('esbuild');
  const bundleFile = path.join(work, 'edge-worker.cjs');
  const result = await esbuild.build({
    entryPoints: [ENTRY],
    outfile: bundleFile,
    bundle: true,
    platform: 'node',
    target: `node${process.versions.node.split('.')[0]}`,
    format: 'cjs',
    minify: true,
    keepNames: true, // oclif and our errors name classes
    legalComments: 'none',
    metafile: true,
    logLevel: 'warning',
    define: {
      EDGE_PJSON: JSON.stringify(pjson),
      // oclif checks the node version against its own package.json on disk; the binary carries its node.
      'process.env.OCLIF_DISABLE_ENGINE_WARNING': '"1"',
    },
    plugins: [
      {
        // version.ts finds package.json on disk at import time; the binary knows its version instead.
        name: 'edge-version',
        setup(build) {
          build.onLoad({ filter: /[\\/]shared[\\/]version\.ts$/ }, (a) =>
            path.resolve(a.path) === VERSION_MODULE
              ? {
                  loader: 'ts',
                  contents: `export const PROJECT_ROOT: string = ${JSON.stringify('/nonexistent/edge-worker-binary')};\nexport const VERSION: string = ${JSON.stringify(pkg.version)};\n`,
                }
              : undefined,
          );
        },
      },
      {
        // oclif tries typescript to read a tsconfig when it loads commands from source; the binary's
        // commands are compiled in. Without this stub the compiler (9 MiB) would ride along.
        name: 'no-typescript',
        setup(build) {
          build.onResolve({ filter: /^typescript$/ }, () => ({ path: 'typescript', namespace: 'edge-stub' }));
          build.onLoad({ filter: /.*/, namespace: 'edge-stub' }, () => ({
            loader: 'js',
            contents: `throw new Error('typescript is not part of the edge worker binary');`,
          }));
        },
      },
    ],
  });

  const inputs = Object.keys(result.metafile.inputs);
  const forbidden = inputs.filter((i) => FORBIDDEN.some((p) => i.includes(`node_modules/${p}/`)) || i.endsWith('.node'));
  if (forbidden.length) fail(`the worker bundle reaches the server's store or a native module:\n  ${forbidden.join('\n  ')}`);
  const externals = Object.values(result.metafile.outputs)
    .flatMap((o) => o.imports)
    // require.resolve() of a package name only asks where it is (fdir, for picomatch); nothing is loaded.
    .filter((i) => i.external && i.kind !== 'require-resolve' && !i.path.startsWith('node:') && !isBuiltin(i.path));
  if (externals.length) fail(`the worker bundle leaves imports to node_modules: ${[...new Set(externals.map((i) => i.path))].join(', ')}`);

  const seaConfig = {
    main: bundleFile,
    output: path.join(work, 'sea-prep.blob'),
    disableExperimentalSEAWarning: true,
    useSnapshot: false,
    // V8's compiled code in the blob: a faster start for a worker started on many machines.
    useCodeCache: true,
  };
  const hash = crypto.createHash('sha256');
  hash.update(fs.readFileSync(bundleFile));
  hash.update(JSON.stringify({ ...seaConfig, main: '', output: '' }));
  hash.update(`${process.execPath}\0${process.version}\0${fs.statSync(process.execPath).size}\0${fs.statSync(process.execPath).mtimeMs}`);
  hash.update(require('postject/package.json').version);
  const key = hash.digest('hex').slice(0, 24);
  const cacheDir = path.join(ROOT, 'node_modules', '.cache', 'edge-worker');
  const cached = path.join(cacheDir, `edge-worker-${key}`);

  if (fs.existsSync(cached)) {
    say(`unchanged inputs (${key}): using the cached binary`);
  } else {
    const seaConfigFile = path.join(work, 'sea-config.json');
    fs.writeFileSync(seaConfigFile, JSON.stringify(seaConfig));
    execFileSync(process.execPath, ['--experimental-sea-config', seaConfigFile], { stdio: quiet ? 'ignore' : 'inherit' });
    const exe = path.join(work, 'edge-worker');
    fs.copyFileSync(process.execPath, exe);
    fs.chmodSync(exe, 0o755);
    stripDebugInfo(exe);
    const { inject } = require('postject');
    await inject(exe, 'NODE_SEA_BLOB', fs.readFileSync(seaConfig.output), { sentinelFuse: SENTINEL_FUSE });
    fs.mkdirSync(cacheDir, { recursive: true });
    // Into the cache under a temporary name first: two builds at once must not see half a file.
    const partial = `${cached}.${process.pid}.partial`;
    fs.copyFileSync(exe, partial);
    fs.renameSync(partial, cached);
    pruneCache(cacheDir, 3);
  }
  fs.mkdirSync(path.dirname(OUT), { recursive: true });
  const partialOut = `${OUT}.${process.pid}.partial`;
  fs.copyFileSync(cached, partialOut);
  fs.chmodSync(partialOut, 0o755);
  fs.renameSync(partialOut, OUT);
  const mib = (fs.statSync(OUT).size / 2 ** 20).toFixed(1);
  say(`${path.relative(process.cwd(), OUT) || OUT}: ${mib} MiB (bundle ${(fs.statSync(bundleFile).size / 2 ** 20).toFixed(1)} MiB, ${inputs.length} modules)`);
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}

/** Keeps the newest few binaries (each is ~90 MiB): enough for switching between branches. */
function pruneCache(dir, keep) {
  const entries = fs
    .readdirSync(dir)
    .filter((f) => /^edge-worker-[0-9a-f]+$/.test(f))
    .map((f) => ({ f, t: fs.statSync(path.join(dir, f)).mtimeMs }))
    .sort((a, b) => b.t - a.t);
  for (const { f } of entries.slice(keep)) fs.rmSync(path.join(dir, f), { force: true });
}

function isBuiltin(name) {
  return require('node:module').builtinModules.includes(name);
}

/**
 * Some node builds (distribution packages) keep their debug symbols: tens of MiB a worker never uses.
 * Stripped when binutils' strip is here; the binary works the same either way.
 */
function stripDebugInfo(file) {
  try {
    execFileSync('strip', ['--strip-debug', file], { stdio: 'ignore' });
  } catch {
    say('no `strip` here (binutils): the binary keeps the node binary\'s debug symbols');
  }
}
