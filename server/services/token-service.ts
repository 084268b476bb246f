import { create } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError, type ServiceImpl } from '@connectrpc/connect';
import { TokenKind, TokenSchema, TokenService, type Token } from '../../gen/edge/v1/token_service_pb.js';
import { principalOf } from '../auth/context.js';
import { generateToken, hashToken } from '../auth/tokens.js';
import type { TokenKindName, TokenRecord } from '../store/credentials.js';
import type { ServiceContext } from './context.js';
import { invalid } from './errors.js';
import { decodePageToken, encodePageToken } from './page-token.js';
import { checkPageSize } from './validate.js';

const KINDS: Record<TokenKindName, TokenKind> = { admin: TokenKind.ADMIN, worker: TokenKind.WORKER, registration: TokenKind.REGISTRATION };

function tokenToWire(t: TokenRecord): Token {
  return create(TokenSchema, {
    id: t.id,
    kind: KINDS[t.kind],
    name: t.name,
    team: t.team,
    workerName: t.workerName ?? '',
    createTime: timestampFromMs(t.createdAt),
    revokeTime: t.revokedAt === null ? undefined : timestampFromMs(t.revokedAt),
  });
}

/** Admin tokens and registration secrets: made here, stored hashed, shown once. */
export function tokenService(ctx: ServiceContext): ServiceImpl<typeof TokenService> {
  const { store, now } = ctx;
  return {
    async createToken(req, hctx) {
      const p = principalOf(hctx);
      const kind = req.kind === TokenKind.ADMIN ? 'admin' : req.kind === TokenKind.REGISTRATION ? 'registration' : undefined;
      if (!kind) throw invalid('kind must be TOKEN_KIND_ADMIN or TOKEN_KIND_REGISTRATION');
      const name = req.name.trim();
      if (!name || name.length > 128) throw invalid('name must be 1-128 characters');
      if (req.team && !/^[A-Za-z0-9._-]{1,64}$/.test(req.team)) throw invalid('team must be 1-64 characters from [A-Za-z0-9._-]');
      if (p.team !== undefined && req.team !== p.team) {
        throw new ConnectError(`a token of team ${p.team} may create tokens of team ${p.team} only`, Code.PermissionDenied);
      }
      const secret = generateToken(kind);
      const token = await store.createToken({ kind, name, team: req.team, hash: await hashToken(store, secret) }, now());
      ctx.log(`token ${token.id} (${kind}${token.team ? `, team ${token.team}` : ''}) created`);
      return { token: tokenToWire(token), secret };
    },

    async listTokens(req, hctx) {
      const p = principalOf(hctx);
      const limit = checkPageSize(req.pageSize);
      const filter = { includeRevoked: req.includeRevoked };
      const beforeId = decodePageToken(req.pageToken, filter);
      const tokens = await store.listTokens({ limit: limit + 1, beforeId, team: p.team, includeRevoked: req.includeRevoked });
      const page = tokens.slice(0, limit);
      return { tokens: page.map(tokenToWire), nextPageToken: tokens.length > limit ? encodePageToken(page[page.length - 1]!.id, filter) : '' };
    },

    async revokeToken(req, hctx) {
      const p = principalOf(hctx);
      if (!/^[0-9a-f-]{36}$/i.test(req.id)) throw invalid('id is not a token id (a UUID)');
      const token = await store.revokeToken(req.id.toLowerCase(), now(), p.team);
      ctx.log(`token ${token.id} revoked`);
      return { token: tokenToWire(token) };
    },
  };
}
