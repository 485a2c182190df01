/**
 * Ids, signatures and store keys, on Web Crypto, so that the same code runs on Node, Bun, Deno
 * and Workers. Where the runtime also offers Node's crypto module without an import
 * (`process.getBuiltinModule`: Node, Bun, Deno), hashes and HMACs are computed with it
 * instead: the same results, without Web Crypto's round trip through a worker thread per call.
 */

const ID_BYTES = 32
const SIG_BYTES = 32
/** Length of a base64url string without padding for `n` bytes. */
const b64Length = (n: number) => Math.ceil((n * 4) / 3)
export const ID_LENGTH = b64Length(ID_BYTES)
const SIG_LENGTH = b64Length(SIG_BYTES)
/** `<id>.<signature>`, both base64url: checked before any crypto or store access. */
const COOKIE_VALUE_RE = new RegExp(`^[\\w-]{${ID_LENGTH}}\\.[\\w-]{${SIG_LENGTH}}$`)

const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
const B64URL_INDEX = new Map([...B64URL].map((c, i) => [c, i]))
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'))
const encoder = new TextEncoder()

/** The part of Node's crypto module used here. */
interface NodeCrypto {
  createHash: (algorithm: 'sha256') => { update: (data: string) => { digest: (encoding: 'hex') => string } }
  createHmac: (algorithm: 'sha256', key: string) => { update: (data: string) => { digest: () => Uint8Array } }
  timingSafeEqual: (a: Uint8Array, b: Uint8Array) => boolean
}

const nodeCrypto: NodeCrypto | undefined = (() => {
  try {
    const get = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process?.getBuiltinModule
    const mod = typeof get === 'function' ? get('node:crypto') as Partial<NodeCrypto> | undefined : undefined
    return mod && typeof mod.createHmac === 'function' && typeof mod.createHash === 'function' && typeof mod.timingSafeEqual === 'function' ? mod as NodeCrypto : undefined
  }
  catch {
    return undefined
  }
})()

function subtle(): SubtleCrypto {
  const s = globalThis.crypto?.subtle
  if (!s) throw new Error('[nuxt-server-session] Web Crypto (globalThis.crypto.subtle) is not available on this runtime.')
  return s
}

export function base64url(bytes: Uint8Array): string {
  let out = ''
  let i = 0
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!
    out += B64URL[n >> 18]! + B64URL[(n >> 12) & 63]! + B64URL[(n >> 6) & 63]! + B64URL[n & 63]!
  }
  const rest = bytes.length - i
  if (rest === 1) {
    const n = bytes[i]! << 16
    out += B64URL[n >> 18]! + B64URL[(n >> 12) & 63]!
  }
  else if (rest === 2) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8)
    out += B64URL[n >> 18]! + B64URL[(n >> 12) & 63]! + B64URL[(n >> 6) & 63]!
  }
  return out
}

/** Decodes unpadded base64url; `undefined` for any other input (including non-canonical trailing bits). */
export function fromBase64url(text: string): Uint8Array | undefined {
  if (text.length % 4 === 1) return undefined
  const bytes = new Uint8Array(Math.floor((text.length * 3) / 4))
  let bits = 0
  let value = 0
  let j = 0
  for (const c of text) {
    const v = B64URL_INDEX.get(c)
    if (v === undefined) return undefined
    value = (value << 6) | v
    bits += 6
    if (bits >= 8) {
      bits -= 8
      bytes[j++] = (value >> bits) & 0xFF
    }
  }
  // Leftover bits must be zero, so that every byte string has exactly one encoding.
  if (value & ((1 << bits) - 1)) return undefined
  return bytes
}

/** Ids drawn from the CSPRNG at once: one call per 128 ids rather than per id (as Node does for randomUUID). */
const POOL_IDS = 128
let pool = new Uint8Array(0)
let poolOffset = 0

/**
 * A new session id: 256 bits from the platform CSPRNG, base64url (43 characters). The bytes
 * come from a batch drawn in one call; each is used once and zeroed when taken.
 */
export function generateId(): string {
  if (poolOffset + ID_BYTES > pool.length) {
    pool = globalThis.crypto.getRandomValues(new Uint8Array(ID_BYTES * POOL_IDS))
    poolOffset = 0
  }
  const bytes = pool.subarray(poolOffset, poolOffset + ID_BYTES)
  poolOffset += ID_BYTES
  const id = base64url(bytes)
  bytes.fill(0)
  return id
}

/** Whether `id` has the exact shape of an id this library makes. */
export function isValidId(id: unknown): id is string {
  return typeof id === 'string' && id.length === ID_LENGTH && /^[\w-]+$/.test(id) && fromBase64url(id) !== undefined
}

/**
 * The store key of a session: hex SHA-256 of the id. A store dump therefore holds no usable
 * cookie, and the hex alphabet is safe on case-insensitive file systems.
 */
export async function storeKeyOf(id: string): Promise<string> {
  if (nodeCrypto) return nodeCrypto.createHash('sha256').update(id).digest('hex')
  const digest = new Uint8Array(await subtle().digest('SHA-256', encoder.encode(id)))
  let out = ''
  for (const b of digest) out += HEX[b]
  return out
}

const keyCache = new Map<string, Promise<CryptoKey>>()
const KEY_CACHE_LIMIT = 64

/** The HMAC key of a secret, imported once per process. */
export function hmacKey(secret: string): Promise<CryptoKey> {
  let key = keyCache.get(secret)
  if (!key) {
    if (keyCache.size >= KEY_CACHE_LIMIT) keyCache.delete(keyCache.keys().next().value!)
    key = Promise.resolve(subtle().importKey('raw', encoder.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']))
    keyCache.set(secret, key)
  }
  return key
}

/**
 * The signed message names its purpose and the cookie, so a value signed for another cookie,
 * or by another use of the same secret, never verifies here.
 */
function signedMessage(cookieName: string, id: string): string {
  return `nuxt-server-session/v1\u0000${cookieName}\u0000${id}`
}

/** The cookie value for `id`: `<id>.<HMAC-SHA-256 signature>`, signed with `secret`. */
export async function signCookieValue(secret: string, cookieName: string, id: string): Promise<string> {
  const message = signedMessage(cookieName, id)
  const sig = nodeCrypto
    ? nodeCrypto.createHmac('sha256', secret).update(message).digest()
    : new Uint8Array(await subtle().sign('HMAC', await hmacKey(secret), encoder.encode(message)))
  return `${id}.${base64url(sig)}`
}

/**
 * Checks a cookie value against the secrets, newest (last) first, in constant time
 * (`subtle.verify` or `timingSafeEqual`). Returns the id and the index of the secret that signed it, or `undefined`
 * for anything malformed or not signed by any of them.
 */
export async function verifyCookieValue(secrets: readonly string[], cookieName: string, value: string): Promise<{ id: string, secretIndex: number } | undefined> {
  if (!COOKIE_VALUE_RE.test(value)) return undefined
  const id = value.slice(0, ID_LENGTH)
  const sig = fromBase64url(value.slice(ID_LENGTH + 1))
  if (!sig || !isValidId(id)) return undefined
  const message = signedMessage(cookieName, id)
  const signature = new Uint8Array(sig)
  for (let i = secrets.length - 1; i >= 0; i--) {
    const valid = nodeCrypto
      ? nodeCrypto.timingSafeEqual(nodeCrypto.createHmac('sha256', secrets[i]!).update(message).digest(), signature)
      : await subtle().verify('HMAC', await hmacKey(secrets[i]!), signature, encoder.encode(message))
    if (valid) return { id, secretIndex: i }
  }
  return undefined
}
