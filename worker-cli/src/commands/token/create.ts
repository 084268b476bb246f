import { Flags } from '@oclif/core';
import { TokenKind, TokenSchema } from '../../../../gen/edge/v1/token_service_pb.js';
import { ApiCommand } from '../../lib/api-command.js';
import { apiUrlFlag, jsonFlag } from '../../lib/flags.js';
import { messageJson, printJson } from '../../lib/output.js';

export default class TokenCreate extends ApiCommand {
  static override description = `Create an admin token (schedulers, operators, the web pages) or a registration secret (workers).

The value is printed once, on stdout; the server keeps only a keyed hash of it. A team's token sees
and touches only that team's jobs and workers; a worker registered with a team's registration secret
runs only that team's jobs.`;

  static override examples = [
    '<%= config.bin %> token create --name airflow-scheduler',
    '<%= config.bin %> token create --name team-a-ops --team team-a',
    '<%= config.bin %> token create --registration --name site-b-workers --team team-b',
  ];

  static override flags = {
    'api-url': apiUrlFlag,
    json: jsonFlag,
    name: Flags.string({ description: 'a label: who or what uses the token', required: true }),
    registration: Flags.boolean({ description: 'create a registration secret for workers instead of an admin token' }),
    team: Flags.string({ description: 'the team the token belongs to (none: the whole installation)', default: '' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(TokenCreate);
    const kind = flags.registration ? TokenKind.REGISTRATION : TokenKind.ADMIN;
    const res = await this.connect(flags['api-url']).tokens.createToken({ kind, name: flags.name, team: flags.team });
    if (flags.json) return printJson({ token: messageJson(TokenSchema, res.token!), secret: res.secret });
    process.stderr.write(`token ${res.token!.id} created${flags.team ? ` for team ${flags.team}` : ''}; its value, shown only now:\n`);
    this.log(res.secret);
  }
}
