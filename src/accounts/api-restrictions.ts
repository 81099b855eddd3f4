import { BlockList, isIP } from 'node:net';

/** The limits on where an account's API calls may come from, whatever credentials they carry. */
export interface ApiRestrictions {
  /** Calls over plain HTTP are refused. */
  httpsOnly: boolean;
  /** Comma-separated CIDRs that calls must come from; null for anywhere. */
  networks: string | null;
}

export const UNRESTRICTED: ApiRestrictions = { httpsOnly: false, networks: null };

/** The origin of a request that restrictions are checked against: its scheme and client address. */
export interface RequestOrigin {
  protocol: 'http' | 'https';
  ip: string | undefined;
}

// Parsed network lists by their text; few accounts have one, so a small bound is plenty.
const MAX_CACHED_LISTS = 1000;
const parsedLists = new Map<string, BlockList>();

/** Returns why the restrictions refuse a call from `origin`, or null when they allow it. */
export function restrictionProblem(restrictions: ApiRestrictions, origin: RequestOrigin): string | null {
  if (restrictions.httpsOnly && origin.protocol !== 'https') {
    return 'this account accepts API calls over HTTPS only (api_https_only); repeat the call with https://';
  }
  if (restrictions.networks !== null && !networkAllows(restrictions.networks, origin.ip)) {
    return 'this account accepts API calls only from its allowed networks (network_restrictions), and this client address is not in them';
  }
  return null;
}

function networkAllows(networks: string, ip: string | undefined): boolean {
  if (ip === undefined) return false;
  // An IPv4 client on a dual-stack socket shows as ::ffff:a.b.c.d.
  const address = ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
  const family = isIP(address);
  if (family === 0) return false;
  return blockListOf(networks).check(address, family === 4 ? 'ipv4' : 'ipv6');
}

function blockListOf(networks: string): BlockList {
  let list = parsedLists.get(networks);
  if (!list) {
    list = new BlockList();
    for (const cidr of parseNetworks(networks) ?? []) list.addSubnet(cidr.address, cidr.prefix, cidr.family);
    if (parsedLists.size >= MAX_CACHED_LISTS) parsedLists.clear();
    parsedLists.set(networks, list);
  }
  return list;
}

export interface Cidr {
  address: string;
  prefix: number;
  family: 'ipv4' | 'ipv6';
}

/** Parses a comma-separated list of CIDRs (a bare address counts as a single host); null when any is invalid. */
export function parseNetworks(text: string): Cidr[] | null {
  const items = text.split(',').map((item) => item.trim()).filter((item) => item !== '');
  if (items.length === 0) return null;

  const cidrs: Cidr[] = [];
  for (const item of items) {
    const [address = '', prefixText, extra] = item.split('/');
    const family = isIP(address);
    const maxPrefix = family === 4 ? 32 : 128;
    if (family === 0 || extra !== undefined) return null;
    if (prefixText !== undefined && !/^\d{1,3}$/.test(prefixText)) return null;
    const prefix = prefixText === undefined ? maxPrefix : Number(prefixText);
    if (prefix > maxPrefix) return null;
    cidrs.push({ address, prefix, family: family === 4 ? 'ipv4' : 'ipv6' });
  }
  return cidrs;
}
