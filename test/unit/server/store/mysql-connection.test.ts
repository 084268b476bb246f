import assert from 'node:assert/strict';
import { HostChoice, parseMysqlUrl } from '../../../../server/store/mysql-connection.js';
import { retryableFailure } from '../../../../server/store/dialect.js';

describe('mysql URLs with one host or a Galera host list', () => {
  it('reads user, password, one host with its port, the database and the pool size', () => {
    assert.deepEqual(parseMysqlUrl('mysql://edge:s%40cret@db:3307/edge?pool=4'), {
      hosts: [{ host: 'db', port: 3307 }],
      user: 'edge',
      password: 's@cret',
      database: 'edge',
      poolMax: 4,
    });
  });

  it('reads a host list in order, the default port where none is given', () => {
    const u = parseMysqlUrl('mysql://root@h1,h2:3310,[::1]:3311/edge');
    assert.deepEqual(u.hosts, [
      { host: 'h1', port: 3306 },
      { host: 'h2', port: 3310 },
      { host: '::1', port: 3311 },
    ]);
    assert.equal(u.user, 'root');
    assert.equal(u.password, '');
    assert.equal(u.poolMax, 10);
  });

  it('refuses a URL without a database, a bad host or a bad pool size, with the password masked', () => {
    assert.throws(() => parseMysqlUrl('mysql://u:pw@h1,h2/'), /names no database/);
    assert.throws(() => parseMysqlUrl('mysql://u:pw@h1,h2:x/edge'), (err: Error) => /"h2:x" is not a host/.test(err.message) && !err.message.includes('pw'));
    assert.throws(() => parseMysqlUrl('mysql://u@h1/edge?pool=0'), /pool must be/);
  });
});

describe('the host in use and failover', () => {
  const hosts = [
    { host: 'a', port: 1 },
    { host: 'b', port: 2 },
    { host: 'c', port: 3 },
  ];

  it('moves past the host in use when it fails, and asks for a new choice', () => {
    const c = new HostChoice(hosts);
    c.failed('a', 1);
    assert.equal(c.active, 1);
    assert.equal(c.stale, true);
  });

  it('ignores failures of a host given up already (its connections die one by one)', () => {
    const c = new HostChoice(hosts);
    c.failed('a', 1);
    c.stale = false;
    c.failed('a', 1);
    assert.equal(c.active, 1);
    assert.equal(c.stale, false);
  });

  it('never asks for a new choice with one host: there is nowhere to go', () => {
    const c = new HostChoice([hosts[0]!]);
    c.failed('a', 1);
    c.suspect();
    assert.equal(c.active, 0);
    assert.equal(c.stale, false);
  });
});

describe('which failed transactions run again', () => {
  const err = (errno?: number, code?: string) => Object.assign(new Error('x'), { errno, code });

  it('retries what the database rolled back: deadlock or certification conflict, lock wait timeout, a node not ready', () => {
    for (const errno of [1213, 1205, 1047]) {
      assert.equal(retryableFailure(err(errno), false), true, `errno ${errno} before COMMIT`);
      assert.equal(retryableFailure(err(errno), true), true, `errno ${errno} at COMMIT`);
    }
  });

  it('retries a lost connection before COMMIT, never during it (the commit may have happened)', () => {
    for (const code of ['PROTOCOL_CONNECTION_LOST', 'ECONNRESET', 'ECONNREFUSED']) {
      assert.equal(retryableFailure(err(undefined, code), false), true, code);
      assert.equal(retryableFailure(err(undefined, code), true), false, code);
    }
  });

  it('does not retry other failures: a duplicate key, bad SQL, a store rule', () => {
    assert.equal(retryableFailure(err(1062, 'ER_DUP_ENTRY'), false), false);
    assert.equal(retryableFailure(err(1064, 'ER_PARSE_ERROR'), false), false);
    assert.equal(retryableFailure(new Error('claim raced'), false), false);
    assert.equal(retryableFailure(undefined, false), false);
  });
});
