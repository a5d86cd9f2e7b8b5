import { ROUTES, clientHashPassword } from '@determined-ts/api';
import type { UserDto } from '@determined-ts/api';
import { TokenStore, determinedConfigDir } from '@determined-ts/sdk';
import type { Client } from '@determined-ts/sdk';
import type { Command } from 'commander';

import { checkedLoginToken, checkedUser, checkedUsers } from '../answers.js';
import type { CommandContext } from '../context.js';
import { connect, connectAnonymous, masterUrl } from '../context.js';
import { UsageError } from '../errors.js';
import { printJson } from '../output.js';
import { canPrompt, promptLine, promptSecret } from '../prompt.js';

/** `det user …`: sessions in Determined's shared token cache, and user accounts. */
export function registerUser(program: Command, ctx: CommandContext): void {
  const user = program.command('user').description('log in and out, and manage users');

  user
    .command('login [username]')
    .description('log in and make the user active for this master')
    .option('--password <password>', 'password (default: DET_PASS, else asked when a terminal)')
    .action(async (username: string | undefined, options: { password?: string }) => {
      const name = username ?? ctx.globals().user ?? (await askUsername(ctx));
      const password = options.password ?? ctx.io.env.DET_PASS ?? (await askPassword(ctx));
      const token = await connectAnonymous(ctx).request('POST', ROUTES.login, {
        body: { username: name, password: await clientHashPassword(password), isHashed: true },
        signal: ctx.io.signal,
        decode: checkedLoginToken,
      });
      const store = await openStore(ctx);
      await store.setToken(name, token, { activate: true });
      ctx.io.stdout.write(`Logged in to ${store.masterUrl} as ${name}.\n`);
    });

  user
    .command('logout')
    .description("end the active user's session")
    .option('--all', "forget every user's session for this master")
    .action(async (options: { all?: boolean }) => {
      const store = await openStore(ctx);
      const users = options.all === true ? store.users() : [store.activeUser ?? ''];
      for (const name of users.filter((u) => u !== '')) {
        const token = store.getToken(name);
        if (token !== undefined) {
          // The master may already have forgotten the token; the cache must forget it anyway.
          await connectAnonymous(ctx)
            .withToken(token)
            .request('POST', ROUTES.logout, { signal: ctx.io.signal })
            .catch(() => undefined);
        }
        await store.dropUser(name, { deactivate: true });
      }
      await store.clearActive();
    });

  user
    .command('whoami')
    .description('print the user this CLI acts as')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }) => {
      const me = await getMe(await connect(ctx), ctx);
      if (options.json === true) {
        printJson(ctx.io, me);
      } else {
        ctx.io.stdout.write(`You are logged in as user '${me.username}'\n`);
      }
    });

  user
    .command('create <username>')
    .description('create a user (admins only)')
    .option('--admin', 'give the user admin rights')
    .option('--password <password>', "the new user's password (default: none)")
    .option('--json', 'print JSON')
    .action(
      async (username: string, options: { admin?: boolean; password?: string; json?: boolean }) => {
        const client = await connect(ctx);
        const created = await client.request('POST', ROUTES.users, {
          body: {
            user: { username, admin: options.admin === true, active: true },
            password: await clientHashPassword(options.password ?? ''),
            isHashed: true,
          },
          signal: ctx.io.signal,
          decode: checkedUser,
        });
        if (options.json === true) {
          printJson(ctx.io, created);
        } else {
          ctx.io.stdout.write(`Created user ${created.username} (id ${created.id}).\n`);
        }
      },
    );

  user
    .command('change-password [username]')
    .description("change a user's password (default: your own)")
    .option('--password <password>', 'the new password (default: asked when a terminal)')
    .action(async (username: string | undefined, options: { password?: string }) => {
      const client = await connect(ctx);
      const target =
        username === undefined ? await getMe(client, ctx) : await findUser(client, ctx, username);
      const password = options.password ?? (await askNewPassword(ctx));
      await client.request('POST', ROUTES.userPassword.replace(':userId', String(target.id)), {
        body: await clientHashPassword(password),
        signal: ctx.io.signal,
      });
      ctx.io.stdout.write(`Changed the password of ${target.username}.\n`);
    });
}

function openStore(ctx: CommandContext): Promise<TokenStore> {
  return TokenStore.open(masterUrl(ctx), determinedConfigDir(ctx.io.env));
}

async function getMe(client: Client, ctx: CommandContext): Promise<UserDto> {
  return client.request('GET', ROUTES.me, { signal: ctx.io.signal, decode: checkedUser });
}

async function findUser(client: Client, ctx: CommandContext, username: string): Promise<UserDto> {
  const users = await client.request('GET', ROUTES.users, {
    signal: ctx.io.signal,
    decode: checkedUsers,
  });
  const found = users.find((u) => u.username === username);
  if (found === undefined) {
    throw new UsageError(`no user named ${username}`);
  }
  return found;
}

async function askUsername(ctx: CommandContext): Promise<string> {
  if (!canPrompt(ctx.io)) {
    throw new UsageError('name the user: det user login USERNAME');
  }
  return promptLine(ctx.io, 'Username: ');
}

/** The login password: asked at a terminal; elsewhere the empty one (Determined's default user). */
async function askPassword(ctx: CommandContext): Promise<string> {
  return canPrompt(ctx.io) ? promptSecret(ctx.io, 'Password: ') : '';
}

async function askNewPassword(ctx: CommandContext): Promise<string> {
  if (!canPrompt(ctx.io)) {
    throw new UsageError('pass the new password with --password (stdin is not a terminal)');
  }
  const first = await promptSecret(ctx.io, 'New password: ');
  const second = await promptSecret(ctx.io, 'Confirm password: ');
  if (first !== second) {
    throw new UsageError('the passwords do not match');
  }
  return first;
}
