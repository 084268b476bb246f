import { Code, ConnectError } from '@connectrpc/connect';
import { Command } from '@oclif/core';

/**
 * Turns failures into one clear line and an exit code instead of a stack trace: API errors say what
 * the server said; an unreachable server says so.
 */
export abstract class EdgeCommand extends Command {
  protected override async catch(err: Error & { exitCode?: number }): Promise<unknown> {
    if (err instanceof ConnectError) {
      const hint = err.code === Code.Unavailable ? ' (is the server running, and is --api-url / EDGE_API_URL right?)' : '';
      this.error(`${Code[err.code]}: ${err.rawMessage}${hint}`, { exit: 1 });
    }
    return super.catch(err);
  }
}
