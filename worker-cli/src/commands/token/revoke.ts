import { Args } from '@oclif/core';
import { TokenSchema } from '../../../../gen/edge/v1/token_service_pb.js';
import { ApiCommand } from '../../lib/api-command.js';
import { apiUrlFlag, jsonFlag } from '../../lib/flags.js';
import { messageJson, printJson } from '../../lib/output.js';

export default class TokenRevoke extends ApiCommand {
  static override args = { id: Args.string({ description: 'token id (edge token list)', required: true }) };
  static override description = 'Revoke a token: calls made with it fail Unauthenticated from now on.';
  static override examples = ['<%= config.bin %> token revoke 0193…'];
  static override flags = { 'api-url': apiUrlFlag, json: jsonFlag };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(TokenRevoke);
    const { token } = await this.connect(flags['api-url']).tokens.revokeToken({ id: args.id });
    if (flags.json) return printJson(messageJson(TokenSchema, token!));
    this.log(`token ${args.id} revoked`);
  }
}
