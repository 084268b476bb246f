import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { SecretBox, SecretKeyMissing, parseSecretKey, secretKeyId } from '../../../../server/core/secret-box.js';
import { SECRET_KEY_FILE, loadSecretBox } from '../../../../server/auth/secret-key.js';
import { tempDir } from '../../../helpers/databases.js';

const VALUES = { DB_PASSWORD: 'correct horse battery staple', API_KEY: 'ak_' + 'x'.repeat(40) };

describe('SecretBox: job secrets sealed with AES-256-GCM under a key kept outside the database', () => {
  it('seals values so that nothing of them shows, and opens them again', () => {
    const box = new SecretBox(randomBytes(32));
    const sealed = box.seal(VALUES);
    for (const v of Object.values(VALUES)) {
      assert.ok(!sealed.includes(v));
      assert.ok(!sealed.includes(Buffer.from(v).toString('base64')));
    }
    assert.deepEqual(box.open(sealed), VALUES);
    assert.equal(JSON.parse(sealed).k, box.keyId);
  });

  it('uses a fresh IV for every value: the same value sealed twice differs', () => {
    const box = new SecretBox(randomBytes(32));
    assert.notEqual(JSON.parse(box.seal({ A: 'same value' })).s.A, JSON.parse(box.seal({ A: 'same value' })).s.A);
  });

  it('refuses a tampered value and a value moved to another name', () => {
    const box = new SecretBox(randomBytes(32));
    const sealed = JSON.parse(box.seal({ A: 'value-of-a', B: 'value-of-b' }));
    const flipped = Buffer.from(sealed.s.A, 'base64');
    flipped[14] = flipped[14]! ^ 1;
    assert.throws(() => box.open(JSON.stringify({ ...sealed, s: { A: flipped.toString('base64') } })));
    assert.throws(() => box.open(JSON.stringify({ ...sealed, s: { A: sealed.s.B } })));
  });

  it('opens values sealed with a previous key after a rotation, and names the key it lacks', () => {
    const oldKey = randomBytes(32);
    const newKey = randomBytes(32);
    const before = new SecretBox(oldKey).seal(VALUES);
    const rotated = new SecretBox(newKey, [oldKey]);
    assert.deepEqual(rotated.open(before), VALUES);
    assert.equal(JSON.parse(rotated.seal(VALUES)).k, secretKeyId(newKey));
    const withoutOld = new SecretBox(newKey);
    assert.throws(() => withoutOld.open(before), (err: Error) => err instanceof SecretKeyMissing && err.message.includes(secretKeyId(oldKey)));
  });

  it('takes keys of 32 bytes in base64 only, saying how to make one', () => {
    const key = randomBytes(32);
    assert.deepEqual(parseSecretKey(key.toString('base64'), 'EDGE_SECRET_KEY'), key);
    assert.deepEqual(parseSecretKey(key.toString('base64url'), 'EDGE_SECRET_KEY'), key);
    assert.throws(() => parseSecretKey(randomBytes(16).toString('base64'), 'EDGE_SECRET_KEY'), /EDGE_SECRET_KEY must be 32 random bytes in base64 \(make one with: openssl rand -base64 32\)/);
    assert.throws(() => parseSecretKey('not a key!', 'EDGE_SECRET_KEY'), /EDGE_SECRET_KEY must be/);
  });
});

describe('loadSecretBox: EDGE_SECRET_KEY, else a key file 0600 in the data dir', () => {
  it('makes a key file 0600 at first start and uses the same key at the next', () => {
    const dir = path.join(tempDir('secret-key'), 'data');
    const first = loadSecretBox({ dataDir: dir });
    const file = path.join(dir, SECRET_KEY_FILE);
    assert.equal(first.createdFile, file);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.equal(fs.statSync(dir).mode & 0o777, 0o700);
    const second = loadSecretBox({ dataDir: dir });
    assert.equal(second.createdFile, undefined);
    assert.deepEqual(second.box!.open(first.box!.seal(VALUES)), VALUES);
  });

  it('prefers EDGE_SECRET_KEY, reads previous keys, and has no box without key or data dir', () => {
    const key = randomBytes(32).toString('base64');
    const old = randomBytes(32);
    const { box, createdFile } = loadSecretBox({ key, previousKeys: ` ${old.toString('base64')} ,`, dataDir: tempDir('secret-key') });
    assert.equal(createdFile, undefined);
    assert.equal(box!.keyId, secretKeyId(Buffer.from(key, 'base64')));
    assert.deepEqual(box!.open(new SecretBox(old).seal(VALUES)), VALUES);
    assert.equal(loadSecretBox({}).box, undefined);
    assert.throws(() => loadSecretBox({ key: 'short' }), /EDGE_SECRET_KEY must be/);
  });
});
