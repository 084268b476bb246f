import knexFactory, { type Knex } from 'knex';

/**
 * Read-only access to a test database, for tests about what is stored at rest (a value kept only
 * hashed, a file's schema). Results of the system are read through the API, never from here.
 */
export function inspectDatabase(url: string): Knex {
  if (url.startsWith('sqlite:')) {
    return knexFactory({ client: 'better-sqlite3', connection: { filename: url.slice('sqlite:'.length), options: { readonly: true } }, useNullAsDefault: true });
  }
  const u = new URL(url);
  return knexFactory({
    client: 'mysql2',
    connection: { host: u.hostname, port: Number(u.port || 3306), user: decodeURIComponent(u.username), password: decodeURIComponent(u.password), database: u.pathname.slice(1) },
    pool: { min: 0, max: 2 },
  });
}
