import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { secretsFromFlags } from '../../../../../worker-cli/src/lib/secret-flags.js';
import { tempDir } from '../../../../helpers/databases.js';

describe('--secret and --secret-file: secret values from the environment or a file, never from argv', () => {
  it('reads --secret NAME from the environment and --secret-file NAME=PATH from the file', () => {
    const file = path.join(tempDir('secret-flags'), 'db');
    fs.writeFileSync(file, 'from-the-file\n');
    assert.deepEqual(secretsFromFlags(['API_KEY'], [`DB=${file}`], { API_KEY: 'from-the-env' }), { API_KEY: 'from-the-env', DB: 'from-the-file' });
  });

  it('refuses a value on the command line, an unset variable and an unreadable file, naming the flag', () => {
    assert.throws(() => secretsFromFlags(['API_KEY=abc'], [], {}), /--secret takes a variable name, not NAME=VALUE.*ps/);
    assert.throws(() => secretsFromFlags(['MISSING'], [], {}), /--secret MISSING: the variable MISSING is not set/);
    assert.throws(() => secretsFromFlags([], ['DB=/no/such/file'], {}), /--secret-file DB: cannot read \/no\/such\/file \(ENOENT\)/);
    assert.throws(() => secretsFromFlags([], ['nopath'], {}), /--secret-file "nopath" must look like NAME=PATH/);
  });
});
