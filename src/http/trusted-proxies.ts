import { BlockList, isIP } from 'node:net';

/**
 * Returns a check of whether the immediate peer of a connection is one of TRUSTED_PROXIES, whose request
 * headers (X-Forwarded-*, X-Request-ID, traceparent) are believed. Without trusted proxies no peer passes.
 */
export function trustedPeerCheck(trustedProxies: readonly string[] | false): (peerAddress: string | undefined) => boolean {
  if (trustedProxies === false || trustedProxies.length === 0) return () => false;

  // loadConfig has validated every entry as an address or a CIDR range.
  const list = new BlockList();
  for (const entry of trustedProxies) {
    const [address = '', bits] = entry.split('/');
    const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    const hostBits = family === 'ipv6' ? 128 : 32;
    list.addSubnet(address, bits === undefined ? hostBits : Number(bits), family);
  }

  return (peerAddress) => {
    if (peerAddress === undefined) return false;
    // An IPv4 peer on a dual-stack socket shows as ::ffff:a.b.c.d.
    const address = peerAddress.startsWith('::ffff:') && isIP(peerAddress.slice(7)) === 4 ? peerAddress.slice(7) : peerAddress;
    const family = isIP(address);
    return family !== 0 && list.check(address, family === 4 ? 'ipv4' : 'ipv6');
  };
}
