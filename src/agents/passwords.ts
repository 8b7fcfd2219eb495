import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto'

// No password-hashing library: Node's own crypto.scrypt is the memory-hard function (RFC 7914),
// runs on libuv's thread pool so the event loop stays free, and needs no native add-on to build.

/**
 * Cost: N = 2^15, r = 8, p = 1: 32 MiB and some tens of milliseconds per hash, so a login
 * stays quick and a burst of them cannot exhaust memory. (OWASP's table pairs N = 2^15 with
 * p = 3; the parameters are stored with each hash, so they can be raised without a migration.)
 */
const N = 2 ** 15
const R = 8
const P = 1
const KEY_BYTES = 32
const SALT_BYTES = 16
/** Stored parameters above these are refused rather than computed: a tampered row must not tie up a thread for seconds. */
const MAX_N = 2 ** 20
const MAX_RP = 32

/** scrypt needs 128 · N · r bytes; Node's default cap (32 MiB) is exactly too small for N = 2^15, r = 8. */
const maxmemFor = (n: number, r: number) => 128 * n * r + 16 * 1024 * 1024

function derive(password: string, salt: Buffer, n: number, r: number, p: number, bytes: number): Promise<Buffer> {
  const options: ScryptOptions = { N: n, r, p, maxmem: maxmemFor(n, r) }
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFC'), salt, bytes, options, (err, key) => (err ? reject(err) : resolve(key)))
  })
}

/** Hashes a password as `scrypt$N$r$p$salt$hash` (salt and hash in base64url), the form agents.password_hash holds. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SALT_BYTES)
  const key = await derive(password, salt, N, R, P, KEY_BYTES)
  return `scrypt$${N}$${R}$${P}$${salt.toString('base64url')}$${key.toString('base64url')}`
}

/**
 * True when the password is the one hashed. Uses the parameters stored with the hash, so
 * raising the cost later leaves old hashes verifiable; anything malformed is simply false.
 */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parts = stored.split('$')
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false
  const [n, r, p] = parts.slice(1, 4).map(Number) as [number, number, number]
  const salt = Buffer.from(parts[4]!, 'base64url')
  const expected = Buffer.from(parts[5]!, 'base64url')
  const sane = Number.isInteger(n) && n > 1 && n <= MAX_N && (n & (n - 1)) === 0 && [r, p].every((v) => Number.isInteger(v) && v >= 1 && v <= MAX_RP)
  if (!sane || salt.length < 8 || expected.length < 16) return false
  const actual = await derive(password, salt, n, r, p, expected.length)
  // constant time: how much of the hash matched must not show in how long the answer took
  return timingSafeEqual(actual, expected)
}

/** A one-time password for a new account: 15 random bytes, 20 characters of base64url (120 bits). */
export function generatePassword(): string {
  return randomBytes(15).toString('base64url')
}

let dummy: Promise<string> | undefined
/**
 * A hash of no one's password, made once per process with the same cost as real ones, to
 * verify against when no account matches: an unknown email then takes as long as a wrong password.
 */
export function dummyHash(): Promise<string> {
  dummy ??= hashPassword(generatePassword())
  return dummy
}
