import { isIPv4, isIPv6 } from 'node:net';

/**
 * Returns the part of a client IP address that per-IP limits count on: an IPv4 address whole, and the /64
 * network of an IPv6 address. One subscriber is usually given a whole /64, and could otherwise move to a
 * fresh address for every request. IPv4-mapped IPv6 addresses count as their IPv4 address.
 */
export function clientAddressKey(ip: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped?.[1]) return mapped[1];
  if (isIPv4(ip) || !isIPv6(ip)) return ip;

  return `${ipv6Groups(ip).slice(0, 4).join(':')}::/64`;
}

/** Returns the eight 16-bit groups of an IPv6 address, in lower-case hex without leading zeros. */
function ipv6Groups(ip: string): string[] {
  // A zone (fe80::1%eth0) names an interface, not a network.
  const address = ip.split('%')[0] ?? ip;
  const [head = '', tail] = address.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');

  // A trailing dotted IPv4 part (::1.2.3.4) fills the last two groups.
  const last = tailGroups.length > 0 ? tailGroups : headGroups;
  const dotted = last[last.length - 1];
  if (dotted?.includes('.')) {
    const octets = dotted.split('.').map(Number);
    last.splice(last.length - 1, 1, (((octets[0] ?? 0) << 8) | (octets[1] ?? 0)).toString(16), (((octets[2] ?? 0) << 8) | (octets[3] ?? 0)).toString(16));
  }

  const missing = tail === undefined ? 0 : 8 - headGroups.length - tailGroups.length;
  const groups = [...headGroups, ...Array.from({ length: missing }, () => '0'), ...tailGroups];
  return groups.map((group) => parseInt(group, 16).toString(16));
}
