import assert from 'node:assert/strict';
import { create, createFileRegistry, toBinary, ScalarType, type DescField, type DescMessage, type Message } from '@bufbuild/protobuf';
import { nestedTypes } from '@bufbuild/protobuf/reflect';
import { WireType } from '@bufbuild/protobuf/wire';
import { FieldDescriptorProto_Label, FieldDescriptorProto_Type, FileDescriptorProtoSchema } from '@bufbuild/protobuf/wkt';
import { file_edge_v1_job } from '../../../../gen/edge/v1/job_pb.js';
import { file_edge_v1_job_service } from '../../../../gen/edge/v1/job_service_pb.js';
import { file_edge_v1_log_service } from '../../../../gen/edge/v1/log_service_pb.js';
import { file_edge_v1_token_service } from '../../../../gen/edge/v1/token_service_pb.js';
import { file_edge_v1_worker } from '../../../../gen/edge/v1/worker_pb.js';
import { FetchJobsResponseSchema, file_edge_v1_worker_service } from '../../../../gen/edge/v1/worker_service_pb.js';
import { encodeMessage } from '../../../../server/http/message-encoder.js';
import { jobToWire } from '../../../../server/services/convert.js';
import type { JobRecord } from '../../../../server/domain/records.js';

const FILES = [file_edge_v1_job, file_edge_v1_job_service, file_edge_v1_log_service, file_edge_v1_token_service, file_edge_v1_worker, file_edge_v1_worker_service];

/** Every message type of the contracts, and those they use (google.protobuf's included). */
function allMessages(): DescMessage[] {
  const found = new Set<DescMessage>();
  const visit = (m: DescMessage) => {
    if (found.has(m)) return;
    found.add(m);
    for (const f of m.fields) if (f.message) visit(f.message);
    for (const n of m.nestedMessages) visit(n);
  };
  for (const file of FILES) for (const t of nestedTypes(file)) if (t.kind === 'message') visit(t);
  return [...found];
}

// A small deterministic generator, so that a failure can be run again.
let seed = 1;
const random = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;

const STRINGS = ['', 'a', 'job-1', 'héllo wörld', '日本語のキュー', '😀 emoji', 'lone \ud800 surrogate', 'x'.repeat(127), 'y'.repeat(128), 'z'.repeat(300), 'é'.repeat(70), 'w'.repeat(20_000)];
const INT32 = [0, 1, -1, 127, 128, 300, 16_383, 16_384, 2_147_483_647, -2_147_483_648, -300];
const UINT32 = [0, 1, 127, 128, 16_384, 4_294_967_295];
const INT64 = [0n, 1n, -1n, 127n, 128n, 1_733_000_000n, 2n ** 40n, -(2n ** 63n), 2n ** 63n - 1n];
const UINT64 = [0n, 1n, 128n, 2n ** 53n + 1n, 2n ** 64n - 1n];
const DOUBLES = [0, -0, 1.5, -2.25, 1e300, NaN, Infinity, -Infinity];
const FLOATS = [0, -0, 1.5, -2.25, 3.4e38, NaN];

function scalar(type: ScalarType): unknown {
  switch (type) {
    case ScalarType.STRING:
      return pick(STRINGS);
    case ScalarType.BOOL:
      return random() < 0.5;
    case ScalarType.BYTES:
      return Uint8Array.from({ length: pick([0, 1, 5, 127, 128, 300]) }, () => Math.floor(random() * 256));
    case ScalarType.DOUBLE:
      return pick(DOUBLES);
    case ScalarType.FLOAT:
      return pick(FLOATS);
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return pick(INT32);
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return pick(UINT32);
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return pick(UINT64);
    default:
      return pick(INT64);
  }
}

function fieldValue(f: DescField, depth: number): unknown {
  switch (f.fieldKind) {
    case 'scalar':
      return scalar(f.scalar);
    case 'enum':
      return random() < 0.1 ? 99 : pick(f.enum.values).number;
    case 'message':
      return init(f.message, depth + 1);
    case 'list':
      return Array.from({ length: pick([0, 1, 3]) }, () =>
        f.listKind === 'message' ? init(f.message, depth + 1) : f.listKind === 'enum' ? pick(f.enum.values).number : scalar(f.scalar),
      );
    case 'map': {
      const out: Record<string, unknown> = {};
      for (let i = pick([0, 1, 3]); i > 0; i--) {
        out[pick(STRINGS).slice(0, 40) + i] = f.mapKind === 'message' ? init(f.message, depth + 1) : f.mapKind === 'enum' ? pick(f.enum.values).number : scalar(f.scalar);
      }
      return out;
    }
  }
}

/** A random init object for `desc`: each field set or not, a oneof's members in turn. */
function init(desc: DescMessage, depth = 0): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (depth > 3) return out;
  for (const oneof of desc.oneofs) {
    if (random() < 0.2) continue;
    const f = pick(oneof.fields);
    out[oneof.localName] = { case: f.localName, value: fieldValue(f, depth) };
  }
  for (const f of desc.fields) if (!f.oneof && random() < 0.7) out[f.localName] = fieldValue(f, depth);
  return out;
}

/**
 * A message type with a field of every scalar type, each also repeated (packed, and one not), an
 * enum, maps with scalar, enum and message values, and itself nested: the contracts use few of
 * these, and an encoder step no message reaches would go untested.
 */
function everyKind(): DescMessage {
  const T = FieldDescriptorProto_Type;
  const { OPTIONAL: one, REPEATED: many } = FieldDescriptorProto_Label;
  const scalars = [T.DOUBLE, T.FLOAT, T.INT64, T.UINT64, T.INT32, T.FIXED64, T.FIXED32, T.BOOL, T.STRING, T.BYTES, T.UINT32, T.SFIXED32, T.SFIXED64, T.SINT32, T.SINT64];
  const field = [
    ...scalars.map((type, i) => ({ name: `s${i}`, number: i + 1, type, label: one })),
    ...scalars.map((type, i) => ({ name: `r${i}`, number: i + 101, type, label: many })),
    { name: 'unpacked', number: 200, type: T.SINT64, label: many, options: { packed: false } },
    { name: 'color', number: 201, type: T.ENUM, typeName: '.test.Color', label: one },
    { name: 'colors', number: 202, type: T.ENUM, typeName: '.test.Color', label: many },
    { name: 'child', number: 203, type: T.MESSAGE, typeName: '.test.Every', label: one },
    { name: 'children', number: 204, type: T.MESSAGE, typeName: '.test.Every', label: many },
    { name: 'counts', number: 205, type: T.MESSAGE, typeName: '.test.Every.CountsEntry', label: many },
    { name: 'tints', number: 206, type: T.MESSAGE, typeName: '.test.Every.TintsEntry', label: many },
    { name: 'kids', number: 207, type: T.MESSAGE, typeName: '.test.Every.KidsEntry', label: many },
  ];
  const entry = (name: string, value: object) => ({
    name,
    field: [{ name: 'key', number: 1, type: T.STRING, label: one }, { name: 'value', number: 2, label: one, ...value }],
    options: { mapEntry: true },
  });
  const file = create(FileDescriptorProtoSchema, {
    name: 'every.proto',
    package: 'test',
    syntax: 'proto3',
    enumType: [{ name: 'Color', value: [{ name: 'COLOR_UNSPECIFIED', number: 0 }, { name: 'COLOR_RED', number: 1 }, { name: 'COLOR_MINUS', number: -3 }] }],
    messageType: [
      {
        name: 'Every',
        field,
        nestedType: [entry('CountsEntry', { type: T.INT64 }), entry('TintsEntry', { type: T.ENUM, typeName: '.test.Color' }), entry('KidsEntry', { type: T.MESSAGE, typeName: '.test.Every' })],
      },
    ],
  } as never);
  return createFileRegistry(file, () => undefined).getMessage('test.Every')!;
}

describe('encodeMessage: protobuf messages written as toBinary writes them, without its reflection', () => {
  const messages = allMessages();

  it('writes the same bytes as toBinary for a type with every kind of field', () => {
    const desc = everyKind();
    assert.equal(desc.fields.filter((f) => f.fieldKind === 'scalar').length, 15);
    for (let i = 0; i < 400; i++) {
      const message = create(desc, init(desc) as never) as Message;
      const expected = Buffer.from(toBinary(desc, message));
      const actual = Buffer.from(encodeMessage(desc, message));
      assert.ok(actual.equals(expected), `case ${i}: ${actual.toString('hex').slice(0, 200)} != ${expected.toString('hex').slice(0, 200)}`);
    }
  });

  it('writes the same bytes as toBinary for random messages of every type of the contracts', () => {
    assert.ok(messages.length > 40, `only ${messages.length} message types found`);
    let compared = 0;
    for (const desc of messages) {
      for (let i = 0; i < 60; i++) {
        const message = create(desc, init(desc) as never) as Message;
        if (i % 7 === 0) (message as { $unknown?: unknown }).$unknown = [{ no: 999, wireType: WireType.Varint, data: Uint8Array.of(1) }];
        const expected = Buffer.from(toBinary(desc, message));
        const actual = Buffer.from(encodeMessage(desc, message));
        assert.ok(actual.equals(expected), `${desc.typeName}, case ${i}: ${actual.toString('hex').slice(0, 200)} != ${expected.toString('hex').slice(0, 200)}`);
        compared++;
      }
    }
    assert.ok(compared >= messages.length * 60);
  });

  it('writes a job assignment as toBinary does, the lengths of long nested messages included', () => {
    const job = {
      id: '019ad1c4-1234-7000-8000-123456789abc',
      queue: 'default',
      argv: ['sh', '-c', 'echo ' + 'é'.repeat(10_000)],
      env: { PATH: '/usr/bin', NOTE: '😀' },
      cwd: '/tmp',
      slots: 2,
      priority: -5,
      timeoutSeconds: 60,
      maxAttempts: 3,
      labels: { team: 'a' },
      team: 'a',
      state: 'ASSIGNED',
      workerName: 'w-1',
      attempt: 2,
      exitCode: null,
      signal: null,
      reason: '',
      cancelRequested: false,
      createdAt: 1_733_000_000_123,
      startedAt: null,
      endedAt: null,
      updatedAt: 1_733_000_000_456,
      secretEnvNames: ['TOKEN'],
    } as unknown as JobRecord;
    const message = create(FetchJobsResponseSchema, { event: { case: 'assignment', value: { job: jobToWire(job), attempt: 2, secretEnv: { TOKEN: 's3cret' } } } });
    assert.deepEqual(Buffer.from(encodeMessage(FetchJobsResponseSchema, message)), Buffer.from(toBinary(FetchJobsResponseSchema, message)));
  });

  it('refuses a value out of its type range, as toBinary does', () => {
    const desc = messages.find((m) => m.fields.some((f) => f.fieldKind === 'scalar' && f.scalar === ScalarType.INT32 && !f.oneof))!;
    const f = desc.fields.find((x) => x.fieldKind === 'scalar' && x.scalar === ScalarType.INT32 && !x.oneof)!;
    const message = create(desc) as Message & Record<string, unknown>;
    message[f.localName] = 2 ** 40;
    assert.throws(() => toBinary(desc, message));
    assert.throws(() => encodeMessage(desc, message), /invalid int32/);
  });
});
