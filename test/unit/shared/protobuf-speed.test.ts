import assert from 'node:assert/strict';
import { create, equals, fromBinary, toBinary } from '@bufbuild/protobuf';
import { BinaryReader, BinaryWriter } from '@bufbuild/protobuf/wire';
import { WorkerSchema } from '../../../gen/edge/v1/worker_pb.js';
import { speedUpProtobuf } from '../../../shared/protobuf-speed.js';

/** Protobuf's own layout, written out by hand: a varint length, then the UTF-8 bytes. */
function expectedString(s: string): number[] {
  const bytes = new TextEncoder().encode(s);
  const out: number[] = [];
  let n = bytes.length;
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n, ...bytes);
  return out;
}

function expectedDouble(v: number): number[] {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setFloat64(0, v, true);
  return [...b];
}

const STRINGS = ['', 'a', 'sim0-00042', 'bench-noop', 'x'.repeat(127), 'y'.repeat(128), 'z'.repeat(129), 'x'.repeat(5000), 'héllo', 'job ✓', '日本語', '\u{1F600}', 'lone \uD800 surrogate', '\u007f\u0080', 'tab\tnew\nline\u0000nul'];
const DOUBLES = [0, -0, 1, -1.5, 0.1, 12.5, Math.PI, 1e308, -1e-308, 5e-324, Number.MAX_SAFE_INTEGER, Infinity, -Infinity];

describe('speedUpProtobuf (shared/protobuf-speed.ts)', () => {
  before(() => speedUpProtobuf());

  it('writes strings and doubles byte for byte as protobuf lays them out, mixed with other fields', () => {
    for (const s of STRINGS) {
      const w = new BinaryWriter().uint32(7).string(s).bool(true);
      assert.deepEqual([...w.finish()], [7, ...expectedString(s), 1], JSON.stringify(s));
    }
    for (const v of DOUBLES) {
      const w = new BinaryWriter().uint32(300).double(v).uint32(1);
      assert.deepEqual([...w.finish()], [0xac, 0x02, ...expectedDouble(v), 1], String(v));
    }
    const nan = new BinaryReader(new BinaryWriter().double(NaN).finish()).double();
    assert.ok(Number.isNaN(nan));
  });

  it('reads back every string, strict or not, and still refuses invalid UTF-8 when strict', () => {
    for (const s of STRINGS) {
      const bytes = new BinaryWriter().string(s).finish();
      const wellFormed = new TextDecoder().decode(new TextEncoder().encode(s));
      assert.equal(new BinaryReader(bytes).string(), wellFormed);
      assert.equal(new BinaryReader(bytes).string(true), wellFormed);
    }
    const invalid = Uint8Array.from([3, 0x61, 0xff, 0x62]);
    assert.throws(() => new BinaryReader(invalid).string(true));
    assert.equal(new BinaryReader(invalid).string(), 'a\uFFFDb');
  });

  it('gives back the same message after a round trip', () => {
    const worker = create(WorkerSchema, {
      name: 'edge-worker-7',
      queues: ['default', 'gpü'],
      concurrency: 8,
      version: '0.1.0',
      systemInfo: { cpuPercent: 12.5, cpuCount: 2, memoryTotalMib: 24000, loadAverage: [1.5, 0.25, 0], os: 'linux', arch: 'x64', nodeVersion: 'v20.20.2' },
    });
    assert.ok(equals(WorkerSchema, fromBinary(WorkerSchema, toBinary(WorkerSchema, worker)), worker));
  });
});
