import path from 'node:path';
import { execute, Plugin, type Interfaces } from '@oclif/core';
import { WORKER_COMMANDS } from './commands.js';

/**
 * Entry of the single worker binary (`npm run build:worker`). oclif normally finds its commands and
 * package.json on disk; inside one executable there is no disk to read, so the manifest is given here
 * and the command classes are handed to the root plugin directly.
 */

declare const EDGE_PJSON: Interfaces.PJSON; // substituted by the bundler from package.json

async function main(): Promise<void> {
  const first = process.argv[2];
  const carried = new Set(Object.keys(WORKER_COMMANDS).map((id) => id.split(':')[0]));
  if (first && !first.startsWith('-') && first !== 'help' && !carried.has(first)) {
    // oclif would say only "command not found": say where the command is.
    process.stderr.write(
      `${path.basename(process.argv[1] ?? 'edge-worker')}: "${first}" is not in the single worker binary, which carries ${[...carried].join(', ')}; ` +
        'the other commands are in the full CLI (npm install -g ./edge-executor-X.tgz, see README "Installing")\n',
    );
    process.exit(2);
  }
  // A folder that exists, for what oclif derives from it; oclif only looks there for an oclif.manifest.json.
  const root = path.dirname(process.execPath);
  const plugin = new Plugin({ isRoot: true, root, pjson: EDGE_PJSON });
  // oclif 4's explicit discovery would import its target from disk; it uses this cache when it is filled.
  (plugin as unknown as { commandCache: typeof WORKER_COMMANDS }).commandCache = WORKER_COMMANDS;
  await plugin.load();
  if (plugin.commands.length !== Object.keys(WORKER_COMMANDS).length) {
    throw new Error(`the worker binary's command table did not load (${plugin.commands.length} commands): was @oclif/core upgraded?`);
  }
  await execute({ loadOptions: { root, pjson: EDGE_PJSON, plugins: new Map([[plugin.name, plugin]]) } });
}

main().catch((err: Error) => {
  process.stderr.write(`edge-worker: ${err.message}\n`);
  process.exit(1);
});
