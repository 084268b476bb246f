import { Flags } from '@oclif/core';
import { TokenKind, TokenSchema, type Token } from '../../../../gen/edge/v1/token_service_pb.js';
import { ApiCommand } from '../../lib/api-command.js';
import { apiUrlFlag, jsonFlag } from '../../lib/flags.js';
import { formatTime, messageJson, printJson, table } from '../../lib/output.js';
import { drainPages } from '../../../../shared/paging.js';

export default class TokenList extends ApiCommand {
  static override description = 'List tokens and registration secrets (never their values), newest first.';
  static override examples = ['<%= config.bin %> token list', '<%= config.bin %> token list --all --json'];
  static override flags = {
    all: Flags.boolean({ description: 'include revoked tokens' }),
    'api-url': apiUrlFlag,
    json: jsonFlag,
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(TokenList);
    const api = this.connect(flags['api-url']);
    const tokens: Token[] = await drainPages(async (pageToken) => {
      const res = await api.tokens.listTokens({ pageSize: 1000, pageToken, includeRevoked: flags.all });
      return { items: res.tokens, next: res.nextPageToken };
    });
    if (flags.json) return printJson({ tokens: tokens.map((t) => messageJson(TokenSchema, t)) });
    const kind = (k: TokenKind) => (TokenKind[k] ?? String(k)).toLowerCase();
    process.stdout.write(
      table(
        ['ID', 'KIND', 'NAME', 'TEAM', 'WORKER', 'CREATED', 'REVOKED'],
        tokens.map((t) => [t.id, kind(t.kind), t.name, t.team || '-', t.workerName || '-', formatTime(t.createTime), formatTime(t.revokeTime)]),
      ),
    );
  }
}
