import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MASK, SecretMasker, maskPatterns } from '../../../../../worker-cli/src/runtime/secret-masker.js';

/** Runs `chunks` through a masker as a stream does, and returns the whole output. */
function stream(values: string[], chunks: (string | Buffer)[]): string {
  const m = new SecretMasker(values);
  const out = chunks.map((c) => m.push(Buffer.isBuffer(c) ? c : Buffer.from(c)));
  out.push(m.end());
  return Buffer.concat(out).toString();
}

const SECRET = 'hunter2-Sup3r/secret+key';

describe('SecretMasker: secret values out of a job\'s output, as it streams', () => {
  it('masks a value, every occurrence of it, and nothing else', () => {
    assert.equal(stream([SECRET], [`pw=${SECRET}\nagain ${SECRET}${SECRET}.\n`]), `pw=${MASK}\nagain ${MASK}${MASK}.\n`);
    assert.equal(stream([SECRET], ['nothing secret here\n']), 'nothing secret here\n');
  });

  it('masks a value split across two chunks, at every split point', () => {
    const text = `before ${SECRET} after`;
    for (let cut = 0; cut <= text.length; cut++) {
      assert.equal(stream([SECRET], [text.slice(0, cut), text.slice(cut)]), `before ${MASK} after`, `cut at ${cut}`);
    }
  });

  it('masks a value split across a 64 KiB chunk boundary, and over many small chunks', () => {
    const filler = 'x'.repeat(64 * 1024 - 5);
    const big = Buffer.from(filler + SECRET + '\n');
    assert.equal(stream([SECRET], [big.subarray(0, 64 * 1024), big.subarray(64 * 1024)]), filler + MASK + '\n');
    const bytes = [...Buffer.from(`a${SECRET}b`)].map((b) => Buffer.from([b]));
    assert.equal(stream([SECRET], bytes), `a${MASK}b`);
  });

  it('masks the base64 (standard and URL-safe) and URL-encoded forms of a value', () => {
    const b64 = Buffer.from(SECRET).toString('base64');
    const b64url = Buffer.from(SECRET).toString('base64url');
    const url = encodeURIComponent(SECRET);
    assert.notEqual(url, SECRET);
    const out = stream([SECRET], [`${b64}\n${b64url}\nhttps://x/?k=${url}&y=1\n`]);
    assert.equal(out, `${MASK}\n${MASK}\nhttps://x/?k=${MASK}&y=1\n`);
  });

  it('masks the value inside a larger base64 text, whatever its alignment', () => {
    for (const prefix of ['', 'a', 'ab', 'user:', 'user:x']) {
      const encoded = Buffer.from(`${prefix}${SECRET}:rest`).toString('base64');
      const out = stream([SECRET], [encoded]);
      assert.ok(out.includes(MASK), `prefix "${prefix}": ${out}`);
      // What is left of the encoding is the neighbours' characters, too few to hold the value.
      assert.ok(out.replace(MASK, '').length <= encoded.length - Buffer.from(SECRET).toString('base64').length + 8, out);
    }
  });

  it('leaves values shorter than 6 characters alone, and then passes output through untouched', () => {
    const m = new SecretMasker(['abc12']);
    assert.equal(m.active, false);
    assert.equal(stream(['abc12'], ['abc12 shown\n']), 'abc12 shown\n');
    assert.equal(maskPatterns(['abcdef']).length > 0, true);
  });

  it('holds back only a possible start of a value, and gives it out at the end when none follows', () => {
    const m = new SecretMasker([SECRET]);
    assert.equal(m.push(Buffer.from('line one\n')).toString(), 'line one\n');
    assert.equal(m.push(Buffer.from('ends with hunt')).toString(), 'ends with ');
    assert.equal(m.push(Buffer.from('ing season')).toString(), 'hunting season');
    assert.equal(m.push(Buffer.from('trailing hunter2-S')).toString(), 'trailing ');
    assert.equal(m.end().toString(), 'hunter2-S');
  });

  it('masks several values, the longer first where they overlap', () => {
    assert.equal(stream(['token-123456', 'token-123456789'], ['a token-123456789 b token-123456 c']), `a ${MASK} b ${MASK} c`);
  });

  it('never lets a value through, however the output is cut (property)', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 6, maxLength: 40 }).filter((s) => !s.includes('\0')),
        fc.string({ maxLength: 200 }),
        fc.string({ maxLength: 200 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        (secret, before, after, cuts) => {
          const whole = Buffer.from(before + secret + after);
          const points = [...new Set(cuts.map((c) => c % (whole.length + 1)))].sort((a, b) => a - b);
          const chunks: Buffer[] = [];
          let last = 0;
          for (const p of points) {
            chunks.push(whole.subarray(last, p));
            last = p;
          }
          chunks.push(whole.subarray(last));
          const out = stream([secret], chunks);
          assert.ok(!out.includes(secret), JSON.stringify({ secret, out }));
          assert.ok(out.includes(MASK));
        },
      ),
      { numRuns: 300 },
    );
  });
});
