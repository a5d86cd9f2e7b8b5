import { ROUTES, TOKEN_SCOPES } from '@determined-ts/api';
import type { TokenScope } from '@determined-ts/api';
import {
  TokenStore,
  createAccessToken,
  determinedConfigDir,
  getCurrentUser,
  listAccessTokens,
  patchAccessToken,
} from '@determined-ts/sdk';
import type { AccessTokenInfo } from '@determined-ts/sdk';
import { InvalidArgumentError, Option } from 'commander';
import type { Command } from 'commander';

import { checkedUser } from '../answers.js';
import type { CommandContext } from '../context.js';
import { connect, connectAnonymous, masterUrl } from '../context.js';
import { UsageError } from '../errors.js';
import { printJson, printTable } from '../output.js';

/** `det token …`: Determined 0.38's long-lived access tokens, with our scopes. */
export function registerToken(program: Command, ctx: CommandContext): void {
  const token = program
    .command('token')
    .alias('tkn')
    .description('manage long-lived access tokens for automation');

  token
    .command('create [username]')
    .description('create an access token (for yourself, or as an admin for USERNAME)')
    .addOption(
      new Option(
        '-e, --expiration-days <days>',
        'days until it expires; -1 for the longest allowed',
      ).argParser(expirationDays),
    )
    .option('-d, --description <text>', 'what the token is for')
    .addOption(
      new Option('--scope <scope>', 'what it may do (default: full)').choices([...TOKEN_SCOPES]),
    )
    .option('--json', 'print JSON')
    .action(
      async (
        username: string | undefined,
        options: {
          expirationDays?: number;
          description?: string;
          scope?: TokenScope;
          json?: boolean;
        },
      ) => {
        const client = await connect(ctx);
        const userId =
          username === undefined
            ? undefined
            : (
                await client.request(
                  'GET',
                  ROUTES.userByUsername.replace(':username', encodeURIComponent(username)),
                  { signal: ctx.io.signal, decode: checkedUser },
                )
              ).id;
        const created = await createAccessToken(client, {
          ...(userId === undefined ? {} : { userId }),
          ...(options.expirationDays === undefined
            ? {}
            : {
                lifespan: options.expirationDays === -1 ? '-1' : `${24 * options.expirationDays}h`,
              }),
          ...(options.description === undefined ? {} : { description: options.description }),
          ...(options.scope === undefined ? {} : { scope: options.scope }),
          signal: ctx.io.signal,
        });
        if (options.json === true) {
          printJson(ctx.io, created);
        } else {
          // Determined's wording, which scripts parse.
          ctx.io.stdout.write(`TokenID: ${created.tokenId}\nAccess-Token: ${created.token}\n`);
        }
      },
    );

  token
    .command('list [username]')
    .alias('ls')
    .description('list the access tokens you may see (admins: everyone, or USERNAME)')
    .option('--show-inactive', 'include revoked and expired tokens')
    .option('--json', 'print JSON')
    .action(
      async (username: string | undefined, options: { showInactive?: boolean; json?: boolean }) => {
        const { tokens } = await listAccessTokens(await connect(ctx), {
          ...(username === undefined ? {} : { username }),
          showInactive: options.showInactive === true,
          signal: ctx.io.signal,
        });
        printTokens(ctx, tokens, options.json === true);
      },
    );

  token
    .command('describe <tokenIds...>')
    .description('show the access tokens with these ids')
    .option('--json', 'print JSON')
    .action(async (ids: string[], options: { json?: boolean }) => {
      const { tokens } = await listAccessTokens(await connect(ctx), {
        tokenIds: ids.map(tokenIdArg),
        showInactive: true,
        signal: ctx.io.signal,
      });
      printTokens(ctx, tokens, options.json === true);
    });

  token
    .command('revoke <tokenId>')
    .description('revoke an access token for good')
    .action(async (id: string) => {
      const tokenId = tokenIdArg(id);
      await patchAccessToken(
        await connect(ctx),
        tokenId,
        { revoke: true },
        { signal: ctx.io.signal },
      );
      ctx.io.stdout.write(`Successfully revoked token ${tokenId}.\n`);
    });

  token
    .command('edit <tokenId>')
    .description("change an access token's description")
    .requiredOption('-d, --description <text>', 'the new description')
    .option('--json', 'print JSON')
    .action(async (id: string, options: { description: string; json?: boolean }) => {
      const tokenId = tokenIdArg(id);
      const info = await patchAccessToken(
        await connect(ctx),
        tokenId,
        { description: options.description },
        { signal: ctx.io.signal },
      );
      if (options.json === true) {
        printJson(ctx.io, info);
      } else {
        ctx.io.stdout.write(`Successfully updated token with ID: ${tokenId}.\n`);
      }
    });

  token
    .command('login <token>')
    .description('sign this CLI in with an access token instead of a password')
    .action(async (accessToken: string) => {
      const user = await getCurrentUser(connectAnonymous(ctx).withToken(accessToken), {
        signal: ctx.io.signal,
      });
      const store = await TokenStore.open(masterUrl(ctx), determinedConfigDir(ctx.io.env));
      await store.setToken(user.username, accessToken, { activate: true });
      ctx.io.stdout.write(`Authenticated as ${user.username}.\n`);
    });
}

function expirationDays(value: string): number {
  if (value === '-1') {
    return -1;
  }
  const n = Number(value);
  if (!/^\d+$/.test(value) || n <= 0 || n > 3650) {
    throw new InvalidArgumentError(`expected a number of days (1-3650) or -1, got '${value}'`);
  }
  return n;
}

function tokenIdArg(value: string): number {
  if (!/^[1-9]\d{0,9}$/.test(value) || Number(value) > 2 ** 31 - 1) {
    throw new UsageError(`invalid token id '${value}': expected a positive integer`);
  }
  return Number(value);
}

function printTokens(ctx: CommandContext, tokens: AccessTokenInfo[], json: boolean): void {
  if (json) {
    printJson(ctx.io, tokens);
    return;
  }
  printTable(
    ctx.io,
    ['ID', 'User ID', 'Description', 'Created At', 'Expires At', 'Revoked', 'Scope'],
    tokens.map((t) => [
      t.id,
      t.userId,
      t.description,
      t.createdAt.toISOString(),
      t.expiresAt.toISOString(),
      t.revoked,
      t.scope,
    ]),
  );
}
