import { Flags } from '@oclif/core';
import { DEFAULT_CONNECTION_LIMITS, startServer } from '../../../server/app.js';
import { boundHeapGrowth } from '../../../server/process-heap.js';
import { redactUrl } from '../../../shared/database-url.js';
import { EdgeCommand } from '../lib/base-command.js';
import { privateDir, usePrivateUmask } from '../../../shared/private-files.js';
import fs from 'node:fs';
import { DEFAULT_DATA_DIR, resolveDatabaseUrl } from '../lib/server-config.js';
import { createLogger, LOG_FORMATS, LOG_LEVELS, repeatLimited, type LogFormat, type LogLevel } from '../runtime/logger.js';

export default class Server extends EdgeCommand {
  static override description = `Run the API server: gRPC, gRPC-Web and Connect on one port.

Stores jobs, workers and logs in SQLite (the default, a file in the data dir) or MySQL/MariaDB
(--database mysql://user:pass@host:port/db), or the nodes of a MariaDB Galera cluster
(--database mysql://user:pass@node1:3306,node2:3306,node3:3306/db: the first node that answers, the next
when it fails). Runs database migrations at start. SIGINT or SIGTERM
ends worker streams cleanly and stops.

The same port serves gRPC server reflection (v1, v1alpha), grpc.health.v1, GET /metrics
(Prometheus, for an admin token of no team) and the web pages under /ui/ (signed in with EDGE_ADMIN_TOKEN). Logs go to stderr as text, or as JSON lines with --log-format json.

Job secrets are stored encrypted (AES-256-GCM) with a key kept outside the database:
EDGE_SECRET_KEY (32 bytes in base64: openssl rand -base64 32; replicas of one database must share
it), else the file secret-key in the data dir, made 0600 at first start. After a rotation, give the
old key in EDGE_SECRET_KEY_PREVIOUS (comma-separated) until the jobs it sealed have ended.`;

  static override examples = [
    '<%= config.bin %> server',
    '<%= config.bin %> server --port 50051 --data-dir /var/lib/edge',
    '<%= config.bin %> server --database mysql://edge:secret@db:3306/edge',
    '<%= config.bin %> server --database mysql://edge:secret@db1:3306,db2:3306,db3:3306/edge',
    '<%= config.bin %> server --host 0.0.0.0 --log-format json --log-file /var/log/edge/server.log',
  ];

  static override flags = {
    'assign-timeout': Flags.integer({ description: 'seconds a job pushed to a worker may stay unstarted before it is queued again', default: 30, min: 1 }),
    'data-dir': Flags.string({ description: 'folder for the embedded database', env: 'EDGE_DATA_DIR', default: DEFAULT_DATA_DIR, helpValue: 'DIR' }),
    database: Flags.string({ description: 'database URL: sqlite:PATH, mysql://user:pass@host:port/db, or mysql://user:pass@host1:port,host2:port,…/db (Galera nodes, with failover)', env: 'EDGE_DATABASE_URL', helpValue: 'URL' }),
    'event-poll-ms': Flags.integer({ description: 'how often to look for changes made through other replicas (ms)', default: 100, min: 10, max: 10_000 }),
    'heartbeat-interval': Flags.integer({ description: 'seconds between worker heartbeats', default: 10, min: 1, max: 3600 }),
    host: Flags.string({ description: 'address to listen on', default: '127.0.0.1' }),
    'log-file': Flags.string({ description: 'append logs to this file instead of stderr', env: 'EDGE_LOG_FILE', helpValue: 'FILE' }),
    'max-connections-per-address': Flags.integer({
      description: 'connections one source address may hold open at once (more are closed at accept)',
      env: 'EDGE_MAX_CONNECTIONS_PER_ADDRESS',
      default: DEFAULT_CONNECTION_LIMITS.maxPerAddress,
      min: 1,
    }),
    'log-format': Flags.string({ description: 'log lines as text or as JSON objects (pino)', env: 'EDGE_LOG_FORMAT', options: LOG_FORMATS, default: 'text' }),
    'tls-cert': Flags.string({ description: 'serve TLS with this certificate (PEM); needs --tls-key', env: 'EDGE_TLS_CERT', helpValue: 'FILE', dependsOn: ['tls-key'] }),
    'tls-key': Flags.string({ description: 'private key (PEM) of --tls-cert', env: 'EDGE_TLS_KEY', helpValue: 'FILE', dependsOn: ['tls-cert'] }),
    'log-level': Flags.string({ description: 'lowest level logged', env: 'EDGE_LOG_LEVEL', options: LOG_LEVELS, default: 'info' }),
    port: Flags.integer({ description: 'port to listen on (0 picks a free one)', default: 50051, min: 0, max: 65535 }),
    'purge-every': Flags.integer({ description: 'seconds between retention sweeps', default: 60, min: 1 }),
    'queued-timeout': Flags.integer({ description: 'seconds a job may wait in its queue before it fails "queued too long" (0: never)', default: 0, min: 0 }),
    'retain-failed': Flags.integer({ description: 'seconds failed and canceled jobs and their logs are kept', default: 7 * 86_400, min: 1 }),
    'retain-succeeded': Flags.integer({ description: 'seconds succeeded jobs and their logs are kept', default: 86_400, min: 1 }),
    'retry-backoff': Flags.integer({ description: 'seconds before the first retry of a failed job (doubling each attempt, at most 600)', default: 10, min: 0 }),
    'reserve-after': Flags.integer({
      description: 'seconds a job at the head of its queue waits before workers that could hold it stop taking smaller jobs behind it',
      default: 10,
      min: 0,
    }),
    'worker-timeout': Flags.integer({ description: 'seconds without a heartbeat before a worker is presumed lost (default: 5 heartbeat intervals)', min: 1 }),
    welcome: Flags.boolean({ description: 'print how to start a worker and run a first job', hidden: true }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Server);
    boundHeapGrowth();
    // Before anything is written: the database, its -wal/-shm and the credential files are 0600 from the start.
    usePrivateUmask();
    const databaseUrl = resolveDatabaseUrl(flags.database, flags['data-dir']);
    const logger = createLogger({ format: flags['log-format'] as LogFormat, level: flags['log-level'] as LogLevel, file: flags['log-file'], base: { component: 'server' } });
    // The server reports through one function: with an error it is a problem, without one news.
    const log = repeatLimited((msg: string, err?: unknown) => (err ? logger.error(`${msg}: ${(err as Error)?.message ?? String(err)}`) : logger.info(msg)));
    let tls: { cert: Buffer; key: Buffer } | undefined;
    if (flags['tls-cert'] && flags['tls-key']) {
      try {
        tls = { cert: fs.readFileSync(flags['tls-cert']), key: fs.readFileSync(flags['tls-key']) };
      } catch (err) {
        this.error(`cannot read the TLS certificate or key: ${(err as Error).message}`, { exit: 2 });
      }
    }
    // A data dir an older version left open (0755) is closed; a new one is made 0700 where it is first needed.
    if (fs.existsSync(flags['data-dir'])) {
      try {
        privateDir(flags['data-dir']);
      } catch (err) {
        this.error(`--data-dir ${flags['data-dir']}: ${(err as Error).message}`, { exit: 2 });
      }
    }
    let server;
    try {
      server = await startServer({
        host: flags.host,
        port: flags.port,
        databaseUrl,
        heartbeatIntervalSeconds: flags['heartbeat-interval'],
        reserveAfterSeconds: flags['reserve-after'],
        eventPollMs: flags['event-poll-ms'],
        workerTimeoutSeconds: flags['worker-timeout'],
        assignTimeoutSeconds: flags['assign-timeout'],
        queuedTimeoutSeconds: flags['queued-timeout'],
        retryBackoffSeconds: flags['retry-backoff'],
        retainSucceededSeconds: flags['retain-succeeded'],
        retainFailedSeconds: flags['retain-failed'],
        purgeEverySeconds: flags['purge-every'],
        connectionLimits: { maxPerAddress: flags['max-connections-per-address'] },
        log,
        tls,
        // Read from the environment, never from flags (which `ps` shows).
        credentials: {
          adminToken: process.env.EDGE_ADMIN_TOKEN?.trim() || undefined,
          registrationSecret: process.env.EDGE_REGISTRATION_SECRET?.trim() || undefined,
          dataDir: flags['data-dir'],
        },
        secretKeys: {
          key: process.env.EDGE_SECRET_KEY?.trim() || undefined,
          previousKeys: process.env.EDGE_SECRET_KEY_PREVIOUS,
          dataDir: flags['data-dir'],
        },
      });
    } catch (err) {
      this.error(`cannot start the server on ${flags.host}:${flags.port} with ${redactUrl(databaseUrl)}: ${(err as Error).message}`, { exit: 1 });
    }
    process.stdout.write(`edge server listening on ${server.url} (database ${redactUrl(databaseUrl)})\n`);
    // Text logs on stderr would repeat the line above; structured or file logs need it.
    if (flags['log-format'] === 'json' || flags['log-file']) log(`listening on ${server.url} (database ${redactUrl(databaseUrl)})`);
    const files = server.credentialFiles;
    if (files.adminToken) process.stdout.write(`created the first admin token in ${files.adminToken} (EDGE_TOKEN for clients; local commands read it from there)\n`);
    if (files.registrationSecret) {
      process.stdout.write(`created a registration secret in ${files.registrationSecret} (EDGE_REGISTRATION_SECRET for workers; local workers read it from there)\n`);
    }
    if (files.secretKey) {
      process.stdout.write(`created the key for job secrets in ${files.secretKey} (replicas of one database must share one key: set EDGE_SECRET_KEY)\n`);
    }
    if (flags.welcome) process.stdout.write(welcome(server.url));
    await new Promise<void>((resolve) => {
      const stop = (signal: string) => {
        process.stdout.write(`received ${signal}: shutting down\n`);
        resolve();
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    await server.close();
    process.stdout.write('edge server stopped\n');
  }
}

function welcome(url: string): string {
  const api = url === 'http://127.0.0.1:50051' ? '' : ` --api-url ${url}`;
  return `
Edge Executor is up. In another terminal, in this folder, start a worker and run a job:

  npx edge worker${api} -q default
  npx edge job submit${api} -- sh -c 'echo hello from $HOSTNAME; uname -a'
  npx edge job logs${api} <the id it printed>
  npx edge job list${api}

The worker and the job commands on this machine find the credentials in the data dir by themselves;
elsewhere give them EDGE_REGISTRATION_SECRET (workers) and EDGE_TOKEN (the rest).

Stop the worker with \`npx edge stop\`, this server with Ctrl-C.
`;
}
