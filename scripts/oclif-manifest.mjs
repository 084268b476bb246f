#!/usr/bin/env node
/**
 * Writes oclif.manifest.json (`npm run build` runs this after tsc): the commands, their flags and help,
 * read once here, so that an `edge` process loads only the command it runs instead of all of them
 * (and the server, knex and the rest they import) just to find it. A stale manifest is rewritten by
 * every build; `OUT=file` writes elsewhere.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Config } from '@oclif/core';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = process.env.OUT ?? path.join(root, 'oclif.manifest.json');
// An old manifest would be read back instead of the commands themselves.
fs.rmSync(path.join(root, 'oclif.manifest.json'), { force: true });
const config = await Config.load({ root, devPlugins: false, userPlugins: false });
const plugin = config.plugins.get(config.pjson.name);
if (!plugin) throw new Error(`oclif found no plugin named ${config.pjson.name} in ${root}`);
const ids = Object.keys(plugin.manifest.commands);
if (!ids.length) throw new Error('oclif found no commands: build first (npm run build)');
fs.writeFileSync(out, JSON.stringify(plugin.manifest, null, 2) + '\n');
console.log(`oclif manifest: ${ids.length} commands -> ${path.relative(root, out)}`);
