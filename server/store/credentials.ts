import { transaction } from './job-events.js';
import type { Knex } from 'knex';
import { newId } from './ids.js';
import { StoreError, notFound } from './errors.js';

/** The SQL of credentials: tokens kept as keyed hashes (never their values) and the hashing key. */

export type TokenKindName = 'admin' | 'worker' | 'registration';

export interface TokenRecord {
  id: string;
  kind: TokenKindName;
  name: string;
  /** '' for the whole installation. */
  team: string;
  /** For worker tokens: the worker it acts as. */
  workerName: string | null;
  createdAt: number;
  revokedAt: number | null;
}

export interface NewToken {
  kind: TokenKindName;
  name: string;
  team: string;
  workerName?: string;
  /** Hex of the keyed hash of the token's value. */
  hash: string;
}

type Row = Record<string, unknown>;

function rowToToken(r: Row): TokenRecord {
  return {
    id: String(r.id),
    kind: r.kind as TokenKindName,
    name: String(r.name),
    team: String(r.team ?? ''),
    workerName: r.worker_name === null || r.worker_name === undefined ? null : String(r.worker_name),
    createdAt: Number(r.created_at),
    revokedAt: r.revoked_at === null || r.revoked_at === undefined ? null : Number(r.revoked_at),
  };
}

/**
 * A setting shared by every replica: the first to ask stores `make()`; everyone reads the stored one.
 */
export async function sharedSetting(knex: Knex, name: string, make: () => string): Promise<string> {
  const found = await knex('auth_settings').where({ name }).first();
  if (found) return String(found.value);
  await knex('auth_settings').insert({ name, value: make() }).onConflict('name').ignore();
  const row = await knex('auth_settings').where({ name }).first();
  return String(row.value);
}

/** The auth_settings row every revocation rewrites, so that every replica's token cache notices (token-cache.ts). */
const REVOCATION_MARK = 'revocation-mark';

async function markRevocation(knex: Knex | Knex.Transaction): Promise<void> {
  await knex('auth_settings').insert({ name: REVOCATION_MARK, value: newId() }).onConflict('name').merge();
}

export async function revocationMark(knex: Knex): Promise<string> {
  const row = (await knex('auth_settings').where({ name: REVOCATION_MARK }).first()) as Row | undefined;
  return row ? String(row.value) : '';
}

export async function createToken(knex: Knex, token: NewToken, now: number, revokeOthersOfWorker = false): Promise<TokenRecord> {
  const id = newId();
  await transaction(knex, async (trx) => {
    if (revokeOthersOfWorker && token.workerName) {
      // A worker has one token: a new registration ends the one before.
      const n = await trx('auth_tokens').where({ kind: 'worker', worker_name: token.workerName }).whereNull('revoked_at').update({ revoked_at: now });
      if (n) await markRevocation(trx);
    }
    await trx('auth_tokens').insert({
      id,
      kind: token.kind,
      name: token.name,
      team: token.team,
      worker_name: token.workerName ?? null,
      hash: token.hash,
      created_at: now,
      revoked_at: null,
    });
  });
  return { id, kind: token.kind, name: token.name, team: token.team, workerName: token.workerName ?? null, createdAt: now, revokedAt: null };
}

/** The token with this hash, with the hash itself for a constant-time comparison; revoked ones too. */
export async function findToken(knex: Knex, hash: string): Promise<(TokenRecord & { hash: string }) | undefined> {
  const row = (await knex('auth_tokens').where({ hash }).first()) as Row | undefined;
  return row ? { ...rowToToken(row), hash: String(row.hash) } : undefined;
}

export async function countTokens(knex: Knex, kind: TokenKindName): Promise<number> {
  const row = (await knex('auth_tokens').where({ kind }).whereNull('revoked_at').count({ n: '*' }).first()) as Row | undefined;
  return Number(row?.n ?? 0);
}

export async function listTokens(knex: Knex, opts: { limit: number; beforeId?: string; team?: string; includeRevoked: boolean }): Promise<TokenRecord[]> {
  const q = knex('auth_tokens').select('id', 'kind', 'name', 'team', 'worker_name', 'created_at', 'revoked_at').orderBy('id', 'desc').limit(opts.limit);
  if (opts.beforeId) q.where('id', '<', opts.beforeId);
  if (opts.team !== undefined) q.where('team', opts.team);
  if (!opts.includeRevoked) q.whereNull('revoked_at');
  return ((await q) as Row[]).map(rowToToken);
}

/** Revokes every valid token of a worker (it was removed); returns how many. */
export async function revokeWorkerTokens(knex: Knex, workerName: string, now: number): Promise<number> {
  return transaction(knex, async (trx) => {
    const n = await trx('auth_tokens').where({ kind: 'worker', worker_name: workerName }).whereNull('revoked_at').update({ revoked_at: now });
    if (n) await markRevocation(trx);
    return n;
  });
}

export async function revokeToken(knex: Knex, id: string, now: number, team?: string): Promise<TokenRecord> {
  return transaction(knex, async (trx) => {
    const q = trx('auth_tokens').where({ id });
    if (team !== undefined) q.where('team', team);
    const row = (await q.first()) as Row | undefined;
    if (!row) throw notFound(`token ${id}`);
    if (row.revoked_at !== null && row.revoked_at !== undefined) return rowToToken(row);
    const n = await trx('auth_tokens').where({ id }).whereNull('revoked_at').update({ revoked_at: now });
    if (n !== 1) throw new StoreError('conflict', `token ${id} changed while it was revoked`);
    await markRevocation(trx);
    return { ...rowToToken(row), revokedAt: now };
  });
}

/** A web session: the keyed hash of its id, and of the admin token that signed in. */
export interface WebSessionRecord {
  hash: string;
  tokenHash: string;
  createdAt: number;
  expiresAt: number;
  revokedAt: number | null;
}

/** Stores a new session; sessions past their expiry are deleted on the way. */
export async function createWebSession(knex: Knex, session: { hash: string; tokenHash: string; expiresAt: number }, now: number): Promise<void> {
  await knex('web_sessions').where('expires_at', '<', now).delete();
  await knex('web_sessions').insert({ hash: session.hash, token_hash: session.tokenHash, created_at: now, expires_at: session.expiresAt, revoked_at: null });
}

export async function findWebSession(knex: Knex, hash: string): Promise<WebSessionRecord | undefined> {
  const r = (await knex('web_sessions').where({ hash }).first()) as Row | undefined;
  if (!r) return undefined;
  return {
    hash: String(r.hash),
    tokenHash: String(r.token_hash),
    createdAt: Number(r.created_at),
    expiresAt: Number(r.expires_at),
    revokedAt: r.revoked_at === null || r.revoked_at === undefined ? null : Number(r.revoked_at),
  };
}

/** Ends a session (sign-out); true when it was valid. */
export async function revokeWebSession(knex: Knex, hash: string, now: number): Promise<boolean> {
  return (await knex('web_sessions').where({ hash }).whereNull('revoked_at').update({ revoked_at: now })) > 0;
}
