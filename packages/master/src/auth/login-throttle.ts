/**
 * Slows password guessing: after a few failed logins for one user name, or many from one
 * address, further attempts are refused outright (429, before any password check) for a delay
 * that doubles with each further failure, up to a cap. A success clears the user name's count.
 *
 * The counts live in this process's memory: each replica throttles on its own, and a restart
 * forgets them. That bounds a guesser to (replicas × free attempts) per backoff period, which
 * is what matters; a shared store would make every login a database write.
 */
export interface LoginThrottlePolicy {
  /** Failures a user name gets before the backoff starts. */
  freeUserFailures: number;
  /** Failures an address gets (over all user names) before the backoff starts. */
  freeAddressFailures: number;
  /** The first backoff; each further failure doubles it. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** A key with no failure for this long starts over. */
  forgetAfterMs: number;
  /** Keys kept at most; the least recently failed go first. */
  maxKeys: number;
}

export const DEFAULT_LOGIN_THROTTLE: LoginThrottlePolicy = {
  freeUserFailures: 5,
  freeAddressFailures: 20,
  baseDelayMs: 1000,
  maxDelayMs: 15 * 60 * 1000,
  forgetAfterMs: 60 * 60 * 1000,
  maxKeys: 100_000,
};

interface Failures {
  count: number;
  lastAt: number;
  /** No attempt is checked before this time. */
  blockedUntil: number;
}

export class LoginThrottle {
  private readonly keys = new Map<string, Failures>();

  constructor(
    private readonly clock: () => number,
    private readonly policy: LoginThrottlePolicy = DEFAULT_LOGIN_THROTTLE,
  ) {}

  /** Milliseconds the caller must still wait before this login may be checked; 0 when it may. */
  retryAfterMs(username: string, address: string): number {
    const now = this.clock();
    const waits = [userKey(username), addressKey(address)].map((key) => {
      const f = this.current(key, now);
      return f === undefined ? 0 : Math.max(0, f.blockedUntil - now);
    });
    return Math.max(...waits);
  }

  failed(username: string, address: string): void {
    const now = this.clock();
    this.bump(userKey(username), this.policy.freeUserFailures, now);
    this.bump(addressKey(address), this.policy.freeAddressFailures, now);
  }

  /** A correct password: the user name starts over. The address keeps its count. */
  succeeded(username: string): void {
    this.keys.delete(userKey(username));
  }

  private current(key: string, now: number): Failures | undefined {
    const f = this.keys.get(key);
    if (f !== undefined && now - f.lastAt > this.policy.forgetAfterMs) {
      this.keys.delete(key);
      return undefined;
    }
    return f;
  }

  private bump(key: string, free: number, now: number): void {
    const f = this.current(key, now) ?? { count: 0, lastAt: now, blockedUntil: 0 };
    f.count += 1;
    f.lastAt = now;
    const over = f.count - free;
    if (over > 0) {
      const delay = Math.min(this.policy.maxDelayMs, this.policy.baseDelayMs * 2 ** (over - 1));
      f.blockedUntil = now + delay;
    }
    // Re-inserted, so the map's order is least recently failed first.
    this.keys.delete(key);
    this.keys.set(key, f);
    while (this.keys.size > this.policy.maxKeys) {
      const oldest = this.keys.keys().next().value;
      if (oldest === undefined) {
        break;
      }
      this.keys.delete(oldest);
    }
  }
}

// User names and addresses share the map; the prefixes keep `u:1.2.3.4` from meeting `a:1.2.3.4`.
function userKey(username: string): string {
  return `u:${username}`;
}

function addressKey(address: string): string {
  return `a:${address}`;
}
