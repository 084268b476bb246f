/**
 * `tsx bench/tools/heap-summary.ts SNAPSHOT [--per N] [--top 40]`
 *
 * Reads a V8 heap snapshot and prints, per constructor (object type and name), how many objects the
 * heap holds and their own (shallow) size, largest first; with --per N also the count and bytes per
 * N-th (per connected worker, when N workers held the server). Run with a large heap
 * (NODE_OPTIONS=--max-old-space-size=8192) for big snapshots. With --retainers 'TYPE NAME' (e.g.
 * 'array (object elements)'), it prints instead what holds the objects of that kind: the holder's kind
 * and the edge's name, with the bytes held that way; --depth D follows each object's first holder D
 * levels up (default 1).
 */
import fs from 'node:fs';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { per: { type: 'string' }, top: { type: 'string' }, retainers: { type: 'string' }, depth: { type: 'string' } } });
const snap = JSON.parse(fs.readFileSync(positionals[0]!, 'utf8')) as {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  edges: number[];
  strings: string[];
};
const fields = snap.snapshot.meta.node_fields;
const types = snap.snapshot.meta.node_types[0];
const F = fields.length;
const iType = fields.indexOf('type');
const iName = fields.indexOf('name');
const iSize = fields.indexOf('self_size');
const groups = new Map<string, { count: number; bytes: number }>();
let total = 0;
for (let i = 0; i < snap.nodes.length; i += F) {
  const type = types[snap.nodes[i + iType]!]!;
  let name = snap.strings[snap.nodes[i + iName]!]!;
  // Strings and numbers by kind, not by value; closures by function name.
  if (type === 'string' || type === 'concatenated string' || type === 'sliced string' || type === 'number') name = '';
  if (name.length > 60) name = `${name.slice(0, 57)}...`;
  const key = `${type}\t${name}`;
  const g = groups.get(key) ?? { count: 0, bytes: 0 };
  g.count++;
  g.bytes += snap.nodes[i + iSize]!;
  total += snap.nodes[i + iSize]!;
  groups.set(key, g);
}
if (values.retainers) {
  printRetainers(values.retainers);
  process.exit(0);
}
const per = values.per ? Number(values.per) : undefined;
console.log(`${snap.nodes.length / F} objects, ${(total / 1048576).toFixed(1)} MiB${per ? `, ${(total / per / 1024).toFixed(1)} KiB per ${per}-th` : ''}`);
const rows = [...groups].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, Number(values.top ?? 40));
for (const [key, g] of rows) {
  const [type, name] = key.split('\t');
  const perPart = per ? `  ${(g.count / per).toFixed(2).padStart(7)} × ${String(Math.round(g.bytes / per)).padStart(6)} B` : '';
  console.log(`${(g.bytes / 1048576).toFixed(2).padStart(8)} MiB ${String(g.count).padStart(9)}${perPart}  ${type} ${name}`);
}

function kindOf(i: number): string {
  const type = types[snap.nodes[i + iType]!]!;
  const name = type === 'string' || type === 'concatenated string' || type === 'number' ? '' : snap.strings[snap.nodes[i + iName]!]!;
  return `${type} ${name.length > 60 ? `${name.slice(0, 57)}...` : name}`;
}

function printRetainers(kind: string): void {
  const meta = snap.snapshot.meta as unknown as { edge_fields: string[]; edge_types: [string[]] };
  const E = meta.edge_fields.length;
  const eType = meta.edge_fields.indexOf('type');
  const eName = meta.edge_fields.indexOf('name_or_index');
  const eTo = meta.edge_fields.indexOf('to_node');
  const edgeTypes = meta.edge_types[0];
  const iEdges = fields.indexOf('edge_count');
  // The first strong holder of every object: its node index and the edge's label.
  const holder = new Int32Array(snap.nodes.length / F).fill(-1);
  const label: string[] = new Array(snap.nodes.length / F);
  let e = 0;
  for (let i = 0; i < snap.nodes.length; i += F) {
    const count = snap.nodes[i + iEdges]!;
    for (let k = 0; k < count; k++, e += E) {
      const to = snap.edges[e + eTo]! / F;
      const et = edgeTypes[snap.edges[e + eType]!]!;
      if (et === 'weak' || holder[to] !== -1) continue;
      if (kindOf(i).startsWith('synthetic')) continue;
      holder[to] = i / F;
      label[to] = et === 'element' || et === 'hidden' ? `[${et}]` : String(snap.strings[snap.edges[e + eName]!] ?? snap.edges[e + eName]);
    }
  }
  const depth = Number(values.depth ?? 1);
  const by = new Map<string, { count: number; bytes: number }>();
  for (let n = 0; n < holder.length; n++) {
    if (kindOf(n * F) !== kind) continue;
    let key = '';
    for (let d = 0, x = n; d < depth && holder[x] !== -1; d++, x = holder[x]!) key = `${kindOf(holder[x]! * F)} .${label[x]} > ${key}`;
    const g = by.get(key) ?? { count: 0, bytes: 0 };
    g.count++;
    g.bytes += snap.nodes[n * F + iSize]!;
    by.set(key, g);
  }
  for (const [key, g] of [...by].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, Number(values.top ?? 40))) {
    console.log(`${(g.bytes / 1048576).toFixed(2).padStart(8)} MiB ${String(g.count).padStart(9)}  ${key}`);
  }
}
