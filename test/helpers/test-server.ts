import { startServer, type RunningServer, type ServerConfig } from '../../server/app.js';
import { TEST_CREDENTIALS } from './credentials.js';

/** An API server in this process on a free port of 127.0.0.1, with the test credentials and a quiet log. */
export function startTestServer(databaseUrl: string, extra: Partial<ServerConfig> = {}): Promise<RunningServer> {
  return startServer({ host: '127.0.0.1', port: 0, databaseUrl, heartbeatIntervalSeconds: 10, log: () => {}, credentials: TEST_CREDENTIALS, ...extra });
}
