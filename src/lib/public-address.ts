import { BlockList, isIP } from 'node:net'

// The IANA special-purpose registries (RFC 6890 and successors): every range here is this
// machine, a private network, or not routable on the public internet. Written out by hand
// because Node has no such list; net.BlockList does the matching, and it matches an
// IPv4-mapped IPv6 address (::ffff:a.b.c.d) against the IPv4 ranges itself.
const SPECIAL_V4: Array<[string, number]> = [
  ['0.0.0.0', 8], // "this network"; 0.0.0.0 reaches this machine on Linux
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8],
  ['169.254.0.0', 16], // link-local, cloud metadata services
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.88.99.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4] // reserved, and the broadcast address
]

const SPECIAL_V6: Array<[string, number]> = [
  ['::', 96], // unspecified, loopback and the deprecated IPv4-compatible addresses
  ['64:ff9b:1::', 48], // local-use NAT64
  ['100::', 64], // discard-only
  ['2001::', 23], // IETF protocol assignments: Teredo (which hides an IPv4 address), ORCHID, ...
  ['2001:db8::', 32],
  ['3fff::', 20],
  ['5f00::', 16],
  ['fc00::', 7], // unique-local
  ['fe80::', 10], // link-local
  ['fec0::', 10], // site-local (deprecated)
  ['ff00::', 8] // multicast
]

/** The 32 bits of an IPv4 address as two IPv6 groups: 10.1.2.3 -> a01:203. */
function v4Groups(address: string): string {
  const [a = 0, b = 0, c = 0, d = 0] = address.split('.').map(Number)
  return `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`
}

function specialRanges(): BlockList {
  const list = new BlockList()
  for (const [address, prefix] of SPECIAL_V4) {
    list.addSubnet(address, prefix, 'ipv4')
    // the IPv6 wrappers of an IPv4 address reach it too: NAT64 (64:ff9b::/96) and 6to4 (2002::/16)
    list.addSubnet(`64:ff9b::${v4Groups(address)}`, 96 + prefix, 'ipv6')
    list.addSubnet(`2002:${v4Groups(address)}::`, 16 + prefix, 'ipv6')
  }
  for (const [address, prefix] of SPECIAL_V6) list.addSubnet(address, prefix, 'ipv6')
  return list
}

const SPECIAL = specialRanges()

/**
 * Parses a comma-separated list of addresses and CIDRs (`10.20.0.0/16,fd00:1::/64`), or
 * `none`. Throws an Error naming the first entry that is neither.
 */
export function parseCidrList(text: string): BlockList {
  const list = new BlockList()
  if (text.trim() === 'none') return list
  for (const entry of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const [address = '', bits, ...rest] = entry.split('/')
    const family = isIP(address)
    const max = family === 4 ? 32 : 128
    const prefix = bits === undefined ? max : /^[0-9]{1,3}$/.test(bits) ? Number(bits) : -1
    if (!family || rest.length || prefix < 0 || prefix > max) throw new Error(`"${entry}" is not an address or CIDR`)
    list.addSubnet(address, prefix, family === 4 ? 'ipv4' : 'ipv6')
  }
  return list
}

/**
 * Which addresses Switchboard may connect to on a council's behalf: public ones, and the
 * operator's allowed private ranges (WEBHOOK_ALLOW_PRIVATE_CIDRS).
 */
export class AddressPolicy {
  private readonly allowed: BlockList

  /** `allowPrivate`: the operator's list, as parseCidrList takes it ('none' for nothing) */
  constructor(readonly allowPrivate: string) {
    this.allowed = parseCidrList(allowPrivate)
  }

  /** True for an IP address (without brackets) that may be connected to; false for anything else. */
  allows(address: string): boolean {
    const family = isIP(address)
    if (!family) return false
    const type = family === 4 ? 'ipv4' : 'ipv6'
    return this.allowed.check(address, type) || !SPECIAL.check(address, type)
  }
}

/** The host of a parsed URL as an IP address, without IPv6 brackets; null for a name. */
export function ipLiteral(hostname: string): string | null {
  const bare = hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname
  return isIP(bare) ? bare : null
}
