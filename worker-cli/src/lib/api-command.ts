import { connectApi, type Api } from './api.js';
import { localCredential } from './server-config.js';
import { EdgeCommand } from './base-command.js';

/** A command that talks to the API server; closes its connection when done. */
export abstract class ApiCommand extends EdgeCommand {
  private api: Api | undefined;

  /**
   * Connects to the API. The admin token comes from EDGE_TOKEN (never a flag, so it stays out of
   * `ps`), else from the admin-token file of a local server's data dir; a private CA from EDGE_CA_FILE.
   */
  protected connect(url: string): Api {
    try {
      this.api = connectApi(url, localCredential('EDGE_TOKEN', 'admin-token'), { caFile: process.env.EDGE_CA_FILE || undefined });
    } catch (err) {
      this.error((err as Error).message, { exit: 2 });
    }
    return this.api;
  }

  protected override async finally(err: Error | undefined): Promise<unknown> {
    this.api?.close();
    return super.finally(err);
  }
}
