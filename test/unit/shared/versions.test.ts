import assert from 'node:assert/strict';
import { versionProblem } from '../../../shared/versions.js';

describe('versions: same major.minor, any patch', () => {
  it('accepts any patch of the same minor', () => {
    assert.equal(versionProblem('1.4.0', '1.4.9'), undefined);
    assert.equal(versionProblem('1.4.12', '1.4.0'), undefined);
    assert.equal(versionProblem('1.4.1-rc.1', '1.4.0'), undefined);
  });

  it('refuses another minor or major, naming both versions', () => {
    assert.match(versionProblem('1.5.0', '1.4.2')!, /worker version 1\.5\.0 .* server version 1\.4\.2/);
    assert.match(versionProblem('2.4.2', '1.4.2')!, /2\.4\.2.*1\.4\.2/);
    assert.match(versionProblem('banana', '1.4.2')!, /not a version/);
  });
});
