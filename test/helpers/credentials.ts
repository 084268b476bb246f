import { randomBytes } from 'node:crypto';
import type { Interceptor } from '@connectrpc/connect';

/**
 * Credentials every test server starts with (EDGE_ADMIN_TOKEN, EDGE_REGISTRATION_SECRET) and every
 * CLI process and worker uses (EDGE_TOKEN, EDGE_REGISTRATION_SECRET): set in this process's
 * environment, which spawned processes inherit. Random per test run.
 */
export const TEST_ADMIN_TOKEN = 'edge_admin_test' + randomBytes(24).toString('base64url');
export const TEST_REGISTRATION_SECRET = 'edge_reg_test' + randomBytes(24).toString('base64url');

process.env.EDGE_ADMIN_TOKEN = TEST_ADMIN_TOKEN;
process.env.EDGE_TOKEN = TEST_ADMIN_TOKEN;
process.env.EDGE_REGISTRATION_SECRET = TEST_REGISTRATION_SECRET;

/** What in-process servers take: the same bootstrap credentials. */
export const TEST_CREDENTIALS = { adminToken: TEST_ADMIN_TOKEN, registrationSecret: TEST_REGISTRATION_SECRET };

/** Sends a token as `authorization: Bearer …`. */
export function bearer(token: string): Interceptor {
  return (next) => (req) => {
    req.header.set('authorization', `Bearer ${token}`);
    return next(req);
  };
}

export const asAdmin = bearer(TEST_ADMIN_TOKEN);
