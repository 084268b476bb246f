import type { Knex } from 'knex';
import { StoreError, notFound } from './errors.js';
import { transaction } from './job-events.js';
import { TERMINAL_JOB_STATES, type LogRead } from '../domain/records.js';
import type { StoreDb } from './dialect.js';

type Db = Knex | Knex.Transaction;

/** Log chunks of job attempts: appended by the attempt's holder only, read from any offset. */

export async function appendLog(db: StoreDb, jobId: string, attempt: number, offset: number, data: Uint8Array, writer?: string): Promise<number> {
  return transaction(db.knex, async (trx) => {
    if (writer !== undefined) {
      // The job's row first, as reports lock it: the holder cannot change until this chunk is stored.
      const job = await db.dialect.locked(trx('jobs').select('worker_name', 'attempt').where({ id: jobId })).first();
      if (!job || String(job.worker_name ?? '') !== writer || Number(job.attempt) !== attempt) {
        throw new StoreError('stale', `attempt ${attempt} of job ${jobId} is not held by worker ${writer}; its log takes no bytes from it`);
      }
    }
    const row = await db.dialect.locked(trx('job_attempts').where({ job_id: jobId, attempt })).first();
    if (!row) throw notFound(`attempt ${attempt} of job ${jobId}`);
    const size = Number(row.log_size);
    if (offset > size) {
      throw new StoreError('out-of-range', `chunk starts at byte ${offset} but the log of attempt ${attempt} of job ${jobId} holds ${size} bytes`);
    }
    const end = offset + data.length;
    // A re-sent chunk (after a reconnect) overlaps what is stored: it must say the same thing.
    if (offset < size && !(await sameBytes(trx, jobId, attempt, offset, data.subarray(0, Math.min(end, size) - offset)))) {
      throw new StoreError(
        'conflict',
        `chunk at byte ${offset} of attempt ${attempt} of job ${jobId} differs from the bytes already stored there; a log is written once`,
      );
    }
    if (end <= size) return size; // already stored: a re-sent chunk
    if (TERMINAL_JOB_STATES.includes(row.state)) {
      throw new StoreError('stale', `attempt ${attempt} of job ${jobId} has ended; its log takes no more bytes`);
    }
    const fresh = Buffer.from(data.buffer, data.byteOffset + (size - offset), end - size);
    await trx('log_chunks').insert({ job_id: jobId, attempt, start_offset: size, byte_count: fresh.length, data: fresh });
    await trx('job_attempts').where({ job_id: jobId, attempt }).update({ log_size: end });
    return end;
  });
}

export async function readLog(db: StoreDb, jobId: string, attempt: number, offset: number, maxBytes: number): Promise<LogRead> {
  const job = await db.knex('jobs').select('attempt', 'state').where({ id: jobId }).first();
  if (!job) throw notFound(`job ${jobId}`);
  const jobAttempt = Number(job.attempt);
  const n = attempt || jobAttempt;
  const jobEnded = TERMINAL_JOB_STATES.includes(job.state);
  if (n === 0) return { attempt: 0, data: Buffer.alloc(0), size: 0, ended: jobEnded, jobEnded };
  const row = await db.knex('job_attempts').where({ job_id: jobId, attempt: n }).first();
  if (!row) throw notFound(`attempt ${n} of job ${jobId}`);
  const size = Number(row.log_size);
  const ended = TERMINAL_JOB_STATES.includes(row.state) || n < jobAttempt;
  const until = Math.min(size, offset + maxBytes);
  if (offset >= until) return { attempt: n, data: Buffer.alloc(0), size, ended, jobEnded };
  const chunks = await db.knex('log_chunks')
    .select('start_offset', 'data')
    .where({ job_id: jobId, attempt: n })
    .where('start_offset', '<', until)
    .whereRaw('start_offset + byte_count > ?', [offset])
    .orderBy('start_offset');
  const parts = chunks.map((c) => {
    const start = Number(c.start_offset);
    const buf = c.data as Buffer;
    return buf.subarray(Math.max(0, offset - start), Math.min(buf.length, until - start));
  });
  return { attempt: n, data: Buffer.concat(parts), size, ended, jobEnded };
}


/** Whether the stored log of an attempt holds exactly these bytes from this offset. */
async function sameBytes(db: Db, jobId: string, attempt: number, offset: number, bytes: Uint8Array): Promise<boolean> {
  if (!bytes.length) return true;
  const until = offset + bytes.length;
  const chunks = await db('log_chunks')
    .select('start_offset', 'data')
    .where({ job_id: jobId, attempt })
    .where('start_offset', '<', until)
    .whereRaw('start_offset + byte_count > ?', [offset])
    .orderBy('start_offset');
  const stored = Buffer.concat(
    chunks.map((c) => {
      const start = Number(c.start_offset);
      const buf = c.data as Buffer;
      return buf.subarray(Math.max(0, offset - start), Math.min(buf.length, until - start));
    }),
  );
  return stored.equals(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length));
}
