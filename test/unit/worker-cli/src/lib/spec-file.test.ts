import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readSpecFile, SpecFileError } from '../../../../../worker-cli/src/lib/spec-file.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'edge-spec-file-'));
const file = (name: string, text: string) => {
  const p = path.join(dir, name);
  fs.writeFileSync(p, text);
  return p;
};

describe('spec files for edge job submit --file', () => {
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('reads JSON Lines with camelCase or snake_case fields, skipping blank lines, keeping line numbers', () => {
    const specs = readSpecFile(file('a.jsonl', '{"argv":["echo","1"],"timeoutSeconds":5}\n\n{"argv":["echo","2"],"max_attempts":3,"queue":"q"}\n'));
    assert.deepEqual(specs.map((s) => s.line), [1, 3]);
    assert.equal(specs[0]!.spec.timeoutSeconds, 5);
    assert.equal(specs[1]!.spec.maxAttempts, 3);
    assert.equal(specs[1]!.spec.queue, 'q');
  });

  it('reads a YAML list and one spec per document, with the line each starts on', () => {
    const list = readSpecFile(file('a.yaml', '# jobs\n- argv: [echo, one]\n- queue: gpu\n  argv: [nvidia-smi]\n  slots: 2\n'));
    assert.deepEqual(list.map((s) => [s.line, s.spec.argv]), [[2, ['echo', 'one']], [3, ['nvidia-smi']]]);
    const docs = readSpecFile(file('b.yml', 'argv: [a]\n---\nargv: [b]\n'));
    assert.deepEqual(docs.map((s) => [s.line, s.spec.argv]), [[1, ['a']], [3, ['b']]]);
  });

  it('names the file and line of what is wrong', () => {
    const cases: [string, string, RegExp][] = [
      ['bad.jsonl', '{"argv":["a"]}\n{"argv":\n', /bad\.jsonl:2: not a JSON object/],
      ['arr.jsonl', '{"argv":["a"]}\n["a"]\n', /arr\.jsonl:2: a job spec must be an object/],
      ['unknown.jsonl', '{"argv":["a"],"colour":"red"}\n', /unknown\.jsonl:1: .*colour/],
      ['empty-argv.jsonl', '{"argv":["a"]}\n{"argv":[]}\n', /empty-argv\.jsonl:2: argv is missing or empty/],
      ['bad.yaml', '- argv: [a]\n- argv: [b\n', /bad\.yaml:\d+: not valid YAML/],
      ['slots.yaml', '- argv: [a]\n\n- argv: [b]\n  slots: lots\n', /slots\.yaml:3: .*slots/],
      ['none.jsonl', '\n\n', /holds no job spec/],
    ];
    for (const [name, text, message] of cases) {
      assert.throws(() => readSpecFile(file(name, text)), (err: Error) => err instanceof SpecFileError && message.test(err.message), name);
    }
    assert.throws(() => readSpecFile(path.join(dir, 'missing.jsonl')), /cannot read .*missing\.jsonl/);
  });
});
