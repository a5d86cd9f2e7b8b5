import type { JsonObject, UserDto } from '@determined-ts/api';
import { decodeUser } from '@determined-ts/sdk';

/*
 * Checks for the answers that `det` prints as the master sent them (`--json` shows the wire
 * fields). The SDK's decoder names a bad field; the client turns that into an
 * UnexpectedResponseError naming the call, which `det` prints as one line.
 */

/** `{user}`: the user, checked. */
export function checkedUser(body: JsonObject): UserDto {
  decodeUser(body.user as UserDto);
  return body.user as UserDto;
}

/** `{users}`: every user, checked. */
export function checkedUsers(body: JsonObject): UserDto[] {
  if (!Array.isArray(body.users)) {
    throw new TypeError(`field users: expected an array, got ${JSON.stringify(body.users)}`);
  }
  const users = body.users as UserDto[];
  users.forEach((u, i) => decodeUser(u, `users[${i}]`));
  return users;
}

/** `POST /api/v1/auth/login`: the session token. */
export function checkedLoginToken(body: JsonObject): string {
  if (typeof body.token !== 'string' || body.token === '') {
    throw new TypeError(
      `field token: expected a non-empty string, got ${JSON.stringify(body.token)}`,
    );
  }
  return body.token;
}
