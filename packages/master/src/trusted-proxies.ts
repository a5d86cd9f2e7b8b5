import { BlockList, isIP } from 'node:net';

/** `::ffff:10.0.0.1`, as a dual-stack socket reports an IPv4 peer, is `10.0.0.1`. */
function unmapped(address: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return m?.[1] ?? address;
}

/** Throws an Error naming the entry when it is neither an IP address nor a CIDR range. */
function addEntry(list: BlockList, entry: string): void {
  const [address = '', bits, ...extra] = entry.trim().split('/');
  const family = isIP(unmapped(address));
  const type = family === 4 ? 'ipv4' : 'ipv6';
  if (family === 0 || extra.length > 0) {
    throw new Error(`not an IP address or CIDR range: '${entry}'`);
  }
  if (bits === undefined) {
    list.addAddress(unmapped(address), type);
    return;
  }
  const prefix = Number(bits);
  if (!/^\d+$/.test(bits) || prefix > (family === 4 ? 32 : 128)) {
    throw new Error(`not an IP address or CIDR range: '${entry}'`);
  }
  list.addSubnet(unmapped(address), prefix, type);
}

/**
 * The proxies (addresses and CIDR ranges) whose `X-Forwarded-For` the master believes, so that
 * what is kept per client address (the login throttle) counts clients and not the load
 * balancer in front of the replicas. Nothing else is believed: a peer not listed is the client.
 */
export class TrustedProxies {
  readonly #list = new BlockList();
  readonly entries: readonly string[];

  /** Throws an Error naming the first entry that is not an address or a range. */
  constructor(entries: readonly string[]) {
    for (const entry of entries) {
      addEntry(this.#list, entry);
    }
    this.entries = entries;
  }

  has(address: string): boolean {
    const a = unmapped(address.trim());
    const family = isIP(a);
    return family !== 0 && this.#list.check(a, family === 4 ? 'ipv4' : 'ipv6');
  }

  /**
   * The client behind `peer`: `peer` itself unless it is trusted; then, reading
   * `X-Forwarded-For` from the right (each proxy appends the address it saw), the first address
   * that is not a trusted proxy. A malformed entry ends the walk there: what lies left of it
   * is whatever the client wrote.
   */
  clientOf(peer: string, forwardedFor: string | undefined): string {
    if (!this.has(peer) || forwardedFor === undefined) {
      return peer;
    }
    let client = peer;
    for (const hop of forwardedFor.split(',').reverse()) {
      const address = unmapped(hop.trim());
      if (isIP(address) === 0) {
        return client;
      }
      client = address;
      if (!this.has(address)) {
        return address;
      }
    }
    return client;
  }
}
