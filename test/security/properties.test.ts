/**
 * Property-based checks (fast-check) of the functions that handle untrusted input: the Cookie
 * header reader, the cookie signature, base64url and ids, the stored-record codec, and the
 * option validation. Every property runs an explicit number of cases, under a time limit that
 * fails the property (rather than quietly running fewer cases) when it is reached.
 */
import fc from 'fast-check'
import { createStorage } from 'unstorage'
import { describe, expect, it } from 'vitest'
import { SessionConfigError, SessionDataError, SessionRecordError, UnstorageSessionStore, decodeSessionRecord, encodeSessionRecord, useSession } from 'nuxt-server-session/h3'
import type { SessionOptions, SessionRecord } from 'nuxt-server-session/h3'
import { readSessionCookie } from '../../src/runtime/server/core/cookie'
import { base64url, fromBase64url, isValidId, signCookieValue, verifyCookieValue } from '../../src/runtime/server/core/crypto'
import { offlineEvent } from '../support/event'
import { figure } from '../support/figure'
import { parseSetCookie } from '../support/server'

const totals = { properties: 0, cases: 0 }

/**
 * Runs `property` for exactly `numRuns` cases, and fails with fast-check's report (seed, shrunk
 * counterexample) at the first failure, or when `timeLimitMs` is reached first.
 */
async function holds<Ts>(property: fc.IRawProperty<Ts>, numRuns: number, timeLimitMs = 30_000): Promise<void> {
  const details = await fc.check(property, { numRuns, plugins: [fc.interruptAfterTimeLimit(timeLimitMs, { failOnInterrupt: true })] })
  totals.properties++
  totals.cases += details.numRuns
  if (details.failed) throw new Error(await fc.asyncDefaultReportMessage(details) ?? 'property failed')
  expect(details.numRuns).toBe(numRuns)
}

// --- Arbitraries -------------------------------------------------------------------------------

const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
const COOKIE_VALUE_RE = /^[\w-]{43}\.[\w-]{43}$/
/** One base64url character. */
const b64Char = fc.constantFrom(...B64URL)
/** One UTF-16 code unit, lone surrogates included. */
const codeUnit = fc.integer({ min: 0, max: 0xFFFF }).map(c => String.fromCharCode(c))
/** Characters that matter to a Cookie header, to base64url, or to string handling. */
const special = fc.constantFrom(';', '=', ' ', '\t', '\r', '\n', '\u0000', '\u007F', '"', ',', '\\', '%', '.', '+', '/', '\u00FF', '\u00A0', '\uFEFF', '\u2028', '\uD800', '\uDFFF', '\uD83D\uDE00')
const soupUnit = fc.oneof(special, b64Char, codeUnit, fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }))
/** Arbitrary text: control characters, unicode, lone surrogates, `;`/`=` soup. */
const soup = (maxLength: number) => fc.string({ unit: soupUnit, maxLength })
/** The same without `;`: one segment of a Cookie header. */
const segmentSoup = (maxLength: number) => fc.string({ unit: soupUnit.filter(c => c !== ';'), maxLength })
/** RFC 6265 cookie names (what the config accepts), and the real ones. */
const cookieName = fc.oneof(
  fc.constantFrom('sid', '__Host-sid', '__Secure-sid', 'a', 'SID'),
  fc.stringMatching(/^[\w!#$%&'*+\-.^`|~]{1,16}$/),
)
const ows = fc.constantFrom('', ' ', '\t', '  ', ' \t')
const separator = fc.constantFrom(';', '; ', ';  ', ' ; ', ';\t', ';;')
const idBytes = fc.uint8Array({ minLength: 32, maxLength: 32 })

/** Whether `text` is the one base64url encoding of some bytes: no padding, no spare bits. */
const canonical = (text: string) => /^[\w-]*$/.test(text) && Buffer.from(text, 'base64url').toString('base64url') === text

/** Whether the segment `name=...` names `name` (whitespace around the name does not count). */
const names = (segment: string, name: string) => {
  const eq = segment.indexOf('=')
  return eq !== -1 && segment.slice(0, eq).trim() === name
}

/**
 * What decoding keeps of parsed JSON, as documented: `__proto__` keys dropped, and a
 * `constructor` key whose value is an object with a `prototype` (after its own clean-up).
 */
function withoutPrototypeKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutPrototypeKeys)
  if (!value || typeof value !== 'object') return value
  const out: Record<string, unknown> = {}
  for (const key of Object.keys(value)) {
    const inner = withoutPrototypeKeys((value as Record<string, unknown>)[key])
    if (key === '__proto__') continue
    if (key === 'constructor' && inner && typeof inner === 'object' && Object.hasOwn(inner, 'prototype')) continue
    Object.defineProperty(out, key, { value: inner, enumerable: true, writable: true, configurable: true })
  }
  return out
}

/** Decoded data reaches no prototype: only plain objects and arrays, finite numbers, no `__proto__` key. */
function assertClean(value: unknown, path = 'data'): void {
  if (typeof value === 'number' && !Number.isFinite(value)) throw new Error(`${path}: not a finite number`)
  if (!value || typeof value !== 'object') return
  const proto = Object.getPrototypeOf(value)
  if (proto !== Object.prototype && proto !== Array.prototype) throw new Error(`${path}: unexpected prototype`)
  if (Object.hasOwn(value, '__proto__')) throw new Error(`${path}: own __proto__ key`)
  const ctor = (value as Record<string, unknown>).constructor
  if (Object.hasOwn(value, 'constructor') && ctor && typeof ctor === 'object' && 'prototype' in ctor) throw new Error(`${path}: constructor.prototype kept`)
  for (const [key, inner] of Object.entries(value)) assertClean(inner, `${path}.${key}`)
}

const prototypes = [Object.prototype, Array.prototype, Function.prototype, String.prototype]
const prototypeShapes = prototypes.map(p => Reflect.ownKeys(p).map(String).sort().join())
function assertUnpolluted(): void {
  prototypes.forEach((p, i) => {
    if (Reflect.ownKeys(p).map(String).sort().join() !== prototypeShapes[i]) throw new Error('a built-in prototype gained or lost a key')
  })
  const probe = {} as Record<string, unknown>
  if (probe.polluted !== undefined || probe.isAdmin !== undefined || probe.createdAt !== undefined) throw new Error('Object.prototype polluted')
}

function assertValidRecord(record: SessionRecord): void {
  for (const key of Object.keys(record)) {
    if (!['createdAt', 'touchedAt', 'expiresAt', 'data', 'userId'].includes(key)) throw new Error(`unexpected record key ${key}`)
  }
  for (const t of [record.createdAt, record.touchedAt, record.expiresAt]) {
    if (typeof t !== 'number' || !Number.isFinite(t) || t < 0) throw new Error('timestamp is not a finite number >= 0')
  }
  if (Object.getPrototypeOf(record.data) !== Object.prototype) throw new Error('data is not a plain object with Object.prototype')
  if (record.userId !== undefined && typeof record.userId !== 'string') throw new Error('userId is not a string')
  assertClean(record.data)
}

/** `decodeSessionRecord(input)`: a record, or `undefined` when it threw exactly `SessionRecordError`. */
function decodeOrCorrupt(input: unknown): SessionRecord | undefined {
  let record: SessionRecord
  try {
    record = decodeSessionRecord(input)
  }
  catch (error) {
    if (!(error instanceof SessionRecordError) || error.constructor !== SessionRecordError) throw new Error(`threw ${String(error)}, not SessionRecordError`, { cause: error })
    if (error.code !== 'ERR_SESSION_RECORD_CORRUPT' || error.statusCode !== 500 || error.message !== 'Stored session record is corrupt') throw new Error('SessionRecordError with another code, status or message', { cause: error })
    return undefined
  }
  finally {
    assertUnpolluted()
  }
  assertValidRecord(record)
  return record
}

const weirdNumber = fc.oneof(
  fc.double(),
  fc.integer(),
  fc.constantFrom(Number.NaN, Infinity, -Infinity, -0, -1, 0, 0.5, 1e-300, 1e300, 1e306, Number.MAX_VALUE, Number.MAX_SAFE_INTEGER + 2),
)
const objectConstraints: fc.ObjectConstraints = {
  withNullPrototype: true,
  withBoxedValues: true,
  withMap: true,
  withSet: true,
  withBigInt: true,
  withDate: true,
  withTypedArray: true,
  withSparseArray: true,
  withObjectString: true,
  stringUnit: soupUnit,
}
const stringify = (value: unknown) => {
  try {
    return String(JSON.stringify(value))
  }
  catch {
    // BigInt, or an object without a prototype.
    return typeof value === 'bigint' ? `${value}n` : Object.prototype.toString.call(value)
  }
}

// A few shapes that arbitraries do not make: a cycle, a throwing getter or toJSON.
const cyclic: Record<string, unknown> = { createdAt: 1, touchedAt: 1, expiresAt: 2 }
cyclic.data = cyclic
const oddObjects = fc.constantFrom<unknown>(
  cyclic,
  Object.defineProperty({ createdAt: 1, touchedAt: 1, expiresAt: 2 }, 'data', { enumerable: true, get: () => { throw new Error('getter') } }),
  { toJSON: () => { throw new Error('toJSON') } },
  { toJSON: () => undefined },
  { toJSON: () => ({ createdAt: 1, touchedAt: 1, expiresAt: 2, data: { via: 'toJSON' } }) },
  Object.create({ createdAt: 1, touchedAt: 1, expiresAt: 2, data: {} }),
  [{ createdAt: 1, touchedAt: 1, expiresAt: 2, data: {} }],
)

/** Records as a store could hold them, with wrong and right field types mixed. */
const recordLike = fc.record({
  v: fc.anything(),
  createdAt: fc.oneof(weirdNumber, fc.anything()),
  touchedAt: fc.oneof(weirdNumber, fc.anything()),
  expiresAt: fc.oneof(weirdNumber, fc.anything()),
  data: fc.oneof(fc.object(objectConstraints), fc.anything(objectConstraints), fc.jsonValue()),
  userId: fc.oneof(fc.string({ unit: soupUnit }), fc.anything()),
}, { requiredKeys: [] })

/** JSON text of a value tree whose keys include `__proto__`, `constructor` and `prototype`, plain and \u-escaped. */
const keyText = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('"__proto__"', '"\\u005f\\u005fproto\\u005f\\u005f"', '"__pro\\u0074o__"', '"constructor"', '"constr\\u0075ctor"', '"prototype"', '"polluted"', '"isAdmin"', '"createdAt"', '"toString"', '"hasOwnProperty"') },
  { weight: 1, arbitrary: fc.string({ unit: soupUnit, maxLength: 8 }).map(k => JSON.stringify(k)) },
)
const hostileTree = fc.letrec<{ node: string, leaf: string, obj: string, arr: string }>(tie => ({
  node: fc.oneof({ depthSize: 'small', withCrossShrink: true }, tie('leaf'), tie('obj'), tie('arr')),
  leaf: fc.oneof(
    fc.jsonValue({ maxDepth: 1 }).map(v => JSON.stringify(v)),
    fc.constantFrom('{"polluted":"yes","isAdmin":true}', '{"prototype":{"polluted":"yes"}}', '{"createdAt":1,"touchedAt":1,"expiresAt":2,"data":{}}'),
  ),
  obj: fc.array(fc.tuple(keyText, tie('node')), { maxLength: 5 }).map(entries => `{${entries.map(([k, v]) => `${k}:${v}`).join(',')}}`),
  arr: fc.array(tie('node'), { maxLength: 4 }).map(items => `[${items.join(',')}]`),
}))

/** Option values: valid, nearly valid, and anything at all. */
const anyValue = fc.oneof(
  fc.constantFrom<unknown>(undefined, null, true, false, '', 0, 1, -1, 0.5, 1e-9, 3600, 1e306, Number.MAX_VALUE, Number.NaN, Infinity, -Infinity, -0, 'lax', 'strict', 'none', 'LAX', '/', '/app', 'sid', '__Host-sid', '__Secure-sid', 'evict-oldest', 'refuse', 'x'.repeat(32), [], {}, ['x'.repeat(32)]),
  weirdNumber,
  soup(40),
  fc.anything(),
)
/** Mostly `valid`, sometimes anything. */
const mostly = <T>(valid: fc.Arbitrary<T>) => fc.oneof({ weight: 3, arbitrary: valid }, { weight: 1, arbitrary: anyValue })
const validSecret = fc.string({ unit: 'binary', minLength: 32, maxLength: 48 })
const cookiePath = fc.oneof(fc.constantFrom('/', '/app', '/a;b', '/; Domain=evil.example', '/a\nb', '/\u00E9', 5), fc.stringMatching(/^\/[\w\-.~/]{0,16}$/), soup(16))
const cookieDomain = fc.oneof(fc.constantFrom('example.com', '.example.com', 'example.com; Secure', 'a\r\nb'), fc.domain(), soup(16))
const lifetime = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 1, max: 400 * 86_400 }) },
  { weight: 1, arbitrary: fc.constantFrom(0.5, 400 * 86_400 + 1, 1e300, 1e306, Number.MAX_VALUE) },
  { weight: 1, arbitrary: fc.double({ min: 1e-3, max: Number.MAX_VALUE, noNaN: true, noDefaultInfinity: true }) },
)
const storeTimeout = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 100, max: 2 ** 31 - 1 }) },
  { weight: 1, arbitrary: fc.constantFrom(2 ** 31, 1e10, 1e300, Number.MAX_VALUE) },
  { weight: 1, arbitrary: fc.double({ min: 100, max: 1e300, noNaN: true, noDefaultInfinity: true }) },
)
const cookieOptions = fc.oneof(
  { weight: 1, arbitrary: anyValue },
  {
    weight: 4,
    arbitrary: fc.record({
      path: mostly(cookiePath),
      domain: mostly(cookieDomain),
      httpOnly: mostly(fc.boolean()),
      secure: mostly(fc.boolean()),
      sameSite: mostly(fc.constantFrom('lax', 'strict', 'none')),
      partitioned: mostly(fc.boolean()),
      maxAge: mostly(lifetime),
    }, { requiredKeys: [] }),
  },
)
/** Every option `useSession` validates, each valid, odd, or anything. */
const sessionOptionValues = fc.record({
  name: mostly(cookieName),
  cookie: cookieOptions,
  ttl: mostly(lifetime),
  maxLifetime: mostly(lifetime),
  touchInterval: mostly(fc.oneof(fc.integer({ min: 0, max: 10 ** 5 }), fc.double({ min: 0, max: 1e6, noNaN: true }))),
  maxSize: mostly(fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 1, max: 10 ** 6 }) }, { weight: 1, arbitrary: fc.double({ min: 1e-3, max: 1e9, noNaN: true }) })),
  storeTimeout: mostly(storeTimeout),
  maxSessionsPerUser: mostly(fc.integer({ min: 0, max: 10 })),
  sessionLimit: mostly(fc.constantFrom('evict-oldest', 'refuse')),
  secret: fc.oneof(
    { weight: 4, arbitrary: validSecret },
    { weight: 1, arbitrary: fc.array(validSecret, { maxLength: 3 }) },
    { weight: 1, arbitrary: fc.array(mostly(validSecret), { maxLength: 3 }) },
    { weight: 1, arbitrary: anyValue },
  ),
}, { requiredKeys: [] })

/**
 * The option values of `sessionOptionValues` with the default cookie path and domain (their own
 * property below checks what the cookie carries) and with room for a small session (`maxSize`
 * of at least 64 bytes).
 */
function withDefaultPlace(values: Record<string, unknown>): Record<string, unknown> {
  const out = { ...values }
  if (typeof out.maxSize === 'number' && out.maxSize < 64) delete out.maxSize
  if (out.cookie && typeof out.cookie === 'object') {
    const { path: _path, domain: _domain, ...cookie } = out.cookie as Record<string, unknown>
    out.cookie = cookie
  }
  return out
}

const silent = { warn: () => {}, error: () => {} }

/** `useSession` on an offline event with these option values (and a store), in production mode or not. */
async function useWith(values: Record<string, unknown>, production: boolean, store = new UnstorageSessionStore(createStorage())) {
  const previous = process.env.NODE_ENV
  process.env.NODE_ENV = production ? 'production' : 'test'
  try {
    const options = { ...values, store, logger: silent } as unknown as SessionOptions
    const event = offlineEvent()
    return { event, result: await useSession(event, options).then(session => ({ session }), (error: unknown) => ({ error })) }
  }
  finally {
    process.env.NODE_ENV = previous
  }
}

/** Saves a small change; the one Set-Cookie header it sends, parsed, with its attribute names in order. */
async function saveAndReadCookie(event: ReturnType<typeof offlineEvent>, session: { update: (d: Record<string, unknown>) => void, save: () => Promise<void> }) {
  session.update({ n: 1 })
  await session.save()
  const header = event.node.res.getHeader('set-cookie')
  const lines = (Array.isArray(header) ? header : header === undefined ? [] : [String(header)]).map(String)
  expect(lines).toHaveLength(1)
  const cookie = parseSetCookie(lines[0]!)
  expect(cookie.value).toMatch(COOKIE_VALUE_RE)
  return { ...cookie, names: lines[0]!.split(';').slice(1).map(a => a.trim().split('=')[0]!.toLowerCase()) }
}

// --- Properties ---------------------------------------------------------------------------------

describe('[nuxt-server-session] properties (fast-check)', () => {
  describe('readSessionCookie(header, name)', () => {
    it('never throws on any header and name, and answers none, duplicate, or one trimmed value without ";"', async () => {
      const header = fc.oneof(
        soup(400),
        fc.array(fc.tuple(segmentSoup(12), segmentSoup(12)), { maxLength: 300 }).map(pairs => pairs.map(([k, v]) => `${k}=${v}`).join('; ')),
        fc.constantFrom(undefined, '', ';', '=', ';;==;', ' = ; = '),
      )
      await holds(fc.property(header, fc.oneof(cookieName, soup(20)), (h, name) => {
        const read = readSessionCookie(h, name)
        if (read.kind === 'value') return typeof read.value === 'string' && !read.value.includes(';') && read.value === read.value.trim()
        return (read.kind === 'none' || read.kind === 'duplicate') && Object.keys(read).length === 1
      }), 10_000)
    })

    it('among up to 300 other pairs, finds exactly the value of one pair with its name, and reports two or more as duplicate', async () => {
      const headers = cookieName.chain(name => fc.record({
        name: fc.constant(name),
        others: fc.array(fc.tuple(fc.oneof(
          segmentSoup(24),
          fc.tuple(segmentSoup(10), segmentSoup(10)).map(([k, v]) => `${k}=${v}`),
          // Near misses of the name: another case, a prefix or suffix, quotes, a NUL.
          fc.tuple(fc.constantFrom(`${name}x`, `x${name}`, name.toUpperCase(), name.toLowerCase(), `"${name}"`, `${name}\u0000`, `${name}.`, `${name} x`), segmentSoup(10)).map(([k, v]) => `${k}=${v}`),
        ), separator), { maxLength: 300 }),
        ours: fc.array(fc.record({
          pre: ows,
          post: ows,
          value: fc.oneof(segmentSoup(60), fc.stringMatching(/^[\w-]{43}\.[\w-]{43}$/)),
          at: fc.nat(),
          sep: separator,
        }), { maxLength: 3 }),
        lead: fc.constantFrom('', ';', ' '),
      }))
      await holds(fc.property(headers, ({ name, others, ours, lead }) => {
        const segments = others.filter(([s]) => !names(s, name))
        for (const { pre, post, value, at, sep } of ours) segments.splice(at % (segments.length + 1), 0, [`${pre}${name}${post}=${value}`, sep])
        const header = lead + segments.map(([s, sep], i) => (i ? sep : '') + s).join('')
        const read = readSessionCookie(header, name)
        if (ours.length === 0) expect(read).toEqual({ kind: 'none' })
        else if (ours.length === 1) expect(read).toEqual({ kind: 'value', value: ours[0]!.value.trim() })
        else expect(read).toEqual({ kind: 'duplicate' })
      }), 5_000)
    })
  })

  describe('signCookieValue / verifyCookieValue', () => {
    const SECRETS = ['property-secret-one-0123456789-0123456789', 'property-secret-two-0123456789-0123456789']

    it('never throws and never verifies arbitrary text, random well-shaped values included', async () => {
      const value = fc.oneof(
        soup(200),
        fc.stringMatching(/^[\w-]{43}\.[\w-]{43}$/),
        fc.tuple(idBytes, fc.uint8Array({ minLength: 32, maxLength: 32 })).map(([id, sig]) => `${base64url(id)}.${base64url(sig)}`),
        fc.tuple(fc.string({ unit: b64Char, minLength: 40, maxLength: 46 }), fc.constantFrom('.', '', '..', '%2E', '=', ' . '), fc.string({ unit: b64Char, minLength: 40, maxLength: 46 })).map(([a, dot, b]) => a + dot + b),
      )
      await holds(fc.asyncProperty(value, cookieName, async (v, name) => (await verifyCookieValue(SECRETS, name, v)) === undefined), 5_000)
    })

    it('every value signed by any listed secret verifies to its id and that secret\'s index', async () => {
      // Each secret starts with its index: HMAC pads short keys with zero bytes, so "a" and
      // "a\u0000" would be one key, and an earlier duplicate would answer for a later one.
      const secretList = fc.array(fc.string({ unit: 'binary', minLength: 1, maxLength: 48 }), { minLength: 1, maxLength: 4 })
        .map(list => list.map((s, i) => `${i}:${s}`))
      await holds(fc.asyncProperty(secretList, fc.nat(), idBytes, cookieName, async (secrets, pick, bytes, name) => {
        const index = pick % secrets.length
        const id = base64url(bytes)
        const value = await signCookieValue(secrets[index]!, name, id)
        expect(value).toMatch(COOKIE_VALUE_RE)
        expect(await verifyCookieValue(secrets, name, value)).toEqual({ id, secretIndex: index })
        expect(isValidId(id)).toBe(true)
      }), 2_000)
    })

    it('never verifies under another cookie name, or without the secret that signed', async () => {
      await holds(fc.asyncProperty(idBytes, cookieName, cookieName, fc.string({ unit: 'binary', minLength: 1, maxLength: 48 }), async (bytes, name, other, stranger) => {
        const value = await signCookieValue(SECRETS[0]!, name, base64url(bytes))
        if (other !== name) expect(await verifyCookieValue(SECRETS, other, value)).toBeUndefined()
        expect(await verifyCookieValue([SECRETS[1]!, `x${stranger}`], name, value)).toBeUndefined()
        expect(await signCookieValue(`x${stranger}`, name, base64url(bytes))).not.toBe(value)
      }), 2_000)
    })

    it('any single-character change, deletion, insertion, swap, truncation or extension of a valid value never verifies', async () => {
      const mutation = fc.oneof(
        fc.record({ kind: fc.constant('replace' as const), at: fc.nat(), char: fc.oneof(b64Char, b64Char, special, codeUnit) }),
        fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }),
        fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), char: fc.oneof(b64Char, b64Char, special, codeUnit) }),
        fc.record({ kind: fc.constant('swap' as const), at: fc.nat() }),
        fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
        fc.record({ kind: fc.constant('extend' as const), tail: fc.oneof(fc.string({ unit: b64Char, minLength: 1, maxLength: 4 }), soup(8).filter(s => s.length > 0)) }),
      )
      let checked = 0
      await holds(fc.asyncProperty(idBytes, cookieName, mutation, async (bytes, name, m) => {
        const value = await signCookieValue(SECRETS[1]!, name, base64url(bytes))
        const at = 'at' in m ? m.at % value.length : 0
        let mutated = value
        if (m.kind === 'replace') mutated = value.slice(0, at) + m.char + value.slice(at + 1)
        if (m.kind === 'delete') mutated = value.slice(0, at) + value.slice(at + 1)
        if (m.kind === 'insert') mutated = value.slice(0, at) + m.char + value.slice(at)
        if (m.kind === 'swap') mutated = value.slice(0, at) + (value[at + 1] ?? '') + value[at] + value.slice(at + 2)
        if (m.kind === 'truncate') mutated = value.slice(0, at)
        if (m.kind === 'extend') mutated = value + m.tail
        if (mutated === value) return
        checked++
        expect(await verifyCookieValue(SECRETS, name, mutated)).toBeUndefined()
      }), 5_000)
      // Only no-op replacements and swaps of equal characters are skipped.
      expect(checked).toBeGreaterThan(4_500)
    })
  })

  describe('base64url / fromBase64url / isValidId', () => {
    it('base64url is Node\'s unpadded base64url, and fromBase64url inverts it, for any bytes', async () => {
      await holds(fc.property(fc.uint8Array({ maxLength: 100 }), (bytes) => {
        const text = base64url(bytes)
        expect(text).toBe(Buffer.from(bytes).toString('base64url'))
        expect(fromBase64url(text)).toEqual(bytes)
      }), 10_000)
    })

    it('fromBase64url accepts exactly the canonical encodings and rejects any other text', async () => {
      const text = fc.oneof(
        fc.string({ unit: b64Char, maxLength: 60 }),
        // A valid encoding with its last character replaced: non-canonical spare bits, mostly.
        fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 40 }), b64Char).map(([bytes, c]) => base64url(bytes).slice(0, -1) + c),
        fc.uint8Array({ maxLength: 40 }).map(bytes => Buffer.from(bytes).toString('base64')),
        soup(60),
      )
      await holds(fc.property(text, (t) => {
        const bytes = fromBase64url(t)
        if (canonical(t)) expect(bytes).toEqual(new Uint8Array(Buffer.from(t, 'base64url')))
        else expect(bytes).toBeUndefined()
      }), 10_000)
    })

    it('isValidId holds exactly for canonical 43-character base64url strings', async () => {
      const candidate = fc.oneof(
        idBytes.map(base64url),
        fc.tuple(idBytes, b64Char).map(([bytes, c]) => base64url(bytes).slice(0, -1) + c),
        fc.string({ unit: b64Char, minLength: 41, maxLength: 45 }),
        fc.tuple(idBytes.map(base64url), fc.nat(42), fc.oneof(special, codeUnit)).map(([id, at, c]) => id.slice(0, at) + c + id.slice(at + 1)),
        fc.anything(),
      )
      await holds(fc.property(candidate, (x) => {
        expect(isValidId(x)).toBe(typeof x === 'string' && x.length === 43 && canonical(x))
      }), 5_000)
    })
  })

  describe('decodeSessionRecord / encodeSessionRecord', () => {
    it('any input decodes to a valid record or throws exactly SessionRecordError, and no prototype changes', async () => {
      const input = fc.oneof(
        fc.json(),
        fc.anything(objectConstraints).map(stringify),
        soup(300),
        fc.anything(objectConstraints),
        recordLike,
        recordLike.map(stringify),
        recordLike.map(r => new TextEncoder().encode(stringify(r))),
        fc.uint8Array({ maxLength: 200 }),
        fc.uint8Array({ maxLength: 200 }).map(u => u.buffer),
        fc.jsonValue().map(data => ({ createdAt: 1, touchedAt: 2, expiresAt: 3, data })),
        oddObjects,
      )
      await holds(fc.property(input, (raw) => {
        decodeOrCorrupt(raw)
      }), 5_000)
    })

    it('__proto__, constructor and prototype keys at any depth, plain or \\u-escaped, as text, bytes or parsed: dropped as documented, nothing polluted', async () => {
      const wrap = (data: string) => `{"createdAt":1,"touchedAt":2,"expiresAt":3,"data":${data}}`
      const inputs = fc.record({
        top: fc.boolean(),
        tree: hostileTree.obj,
        node: hostileTree.node,
        as: fc.constantFrom('text', 'bytes', 'parsed'),
      })
      let decoded = 0
      await holds(fc.property(inputs, ({ top, tree, node, as }) => {
        const text = top ? node : wrap(tree)
        const raw = as === 'text' ? text : as === 'bytes' ? new TextEncoder().encode(text) : JSON.parse(text)
        const record = decodeOrCorrupt(raw)
        if (top) return
        // A record around hostile data is still a valid record: its data, minus the documented keys.
        expect(record).toBeDefined()
        expect(record!.data).toEqual(withoutPrototypeKeys(JSON.parse(tree)))
        decoded++
      }), 3_000)
      expect(decoded).toBeGreaterThan(1_000)
    })

    it('encode then decode round-trips any JSON data within maxSize; over maxSize, encode throws SessionDataError', async () => {
      const time = fc.oneof(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), fc.double({ min: 0, max: 1e300, noNaN: true, noDefaultInfinity: true }))
      const records = fc.record({
        data: fc.dictionary(fc.string({ unit: 'binary', maxLength: 12 }), fc.jsonValue({ stringUnit: 'binary', maxDepth: 4 }), { maxKeys: 8 }),
        createdAt: time,
        touchedAt: time,
        expiresAt: time,
        userId: fc.option(fc.string({ unit: 'binary' }), { nil: undefined }),
        maxSize: fc.oneof(fc.integer({ min: 1, max: 4096 }), fc.constantFrom(65_536, Infinity)),
      })
      let stored = 0
      await holds(fc.property(records, ({ maxSize, userId, ...fields }) => {
        const record: SessionRecord = { ...fields, ...(userId === undefined ? {} : { userId }) }
        const json = JSON.stringify(record.data)
        if (Buffer.byteLength(json, 'utf8') > maxSize) {
          expect(() => encodeSessionRecord(record, maxSize)).toThrow(SessionDataError)
          return
        }
        const text = encodeSessionRecord(record, maxSize)
        const expected = { ...record, data: withoutPrototypeKeys(JSON.parse(json)) }
        for (const raw of [text, new TextEncoder().encode(text), JSON.parse(text)]) expect(decodeOrCorrupt(raw)).toEqual(expected)
        stored++
      }), 3_000)
      expect(stored).toBeGreaterThan(1_000)
    })

    it('the size limit is exact: data of n UTF-8 bytes encodes with maxSize n and throws SessionDataError with n - 1', async () => {
      const data = fc.dictionary(fc.string({ unit: 'binary', maxLength: 12 }), fc.jsonValue({ stringUnit: 'binary', maxDepth: 3 }), { maxKeys: 6 })
      await holds(fc.property(data, (d) => {
        const size = Buffer.byteLength(JSON.stringify(d), 'utf8')
        const record = { createdAt: 1, touchedAt: 1, expiresAt: 2, data: d }
        expect(typeof encodeSessionRecord(record, size)).toBe('string')
        expect(() => encodeSessionRecord(record, size - 1)).toThrow(SessionDataError)
      }), 2_000)
    })
  })

  describe('option validation', () => {
    it('useSession(event, options) with arbitrary option values resolves or rejects with SessionConfigError, never another error', async () => {
      let accepted = 0
      let refused = 0
      await holds(fc.asyncProperty(sessionOptionValues, fc.boolean(), async (values, production) => {
        const { result } = await useWith(values, production)
        if ('error' in result) {
          expect(result.error).toBeInstanceOf(SessionConfigError)
          expect((result.error as Error).constructor).toBe(SessionConfigError)
          refused++
          return
        }
        expect(isValidId(result.session.id)).toBe(true)
        accepted++
      }), 3_000)
      // Both outcomes are exercised (about 1 in 60 option sets is valid: every option must be).
      expect(accepted).toBeGreaterThan(20)
      expect(refused).toBeGreaterThan(1000)
      expect(refused).toBeGreaterThan(1_000)
    })

    it('accepted options serve: a save succeeds and sends one well-formed cookie', async () => {
      let saved = 0
      await holds(fc.asyncProperty(sessionOptionValues.map(withDefaultPlace), fc.boolean(), async (values, production) => {
        const { event, result } = await useWith(values, production)
        if ('error' in result) return
        const cookie = await saveAndReadCookie(event, result.session)
        expect(new Set(cookie.names).size).toBe(cookie.names.length)
        for (const name of cookie.names) expect(['max-age', 'path', 'httponly', 'secure', 'samesite', 'partitioned']).toContain(name)
        expect(cookie.attributes['max-age']).toMatch(/^\d+$/)
        expect(cookie.attributes.path).toBe('/')
        saved++
      }), 2_000)
      expect(saved).toBeGreaterThan(20)
    })

    it('an accepted cookie path or domain is the one the cookie carries: no injected attribute, no failing save', async () => {
      const values = fc.record({ path: fc.option(cookiePath, { nil: undefined }), domain: fc.option(cookieDomain, { nil: undefined }) })
      await holds(fc.asyncProperty(values, async ({ path, domain }) => {
        const { event, result } = await useWith({ secret: 'x'.repeat(32), cookie: { path, domain } }, false)
        if ('error' in result) {
          expect(result.error).toBeInstanceOf(SessionConfigError)
          return
        }
        const cookie = await saveAndReadCookie(event, result.session)
        expect(cookie.attributes.path).toBe(path || '/')
        expect(cookie.attributes.domain).toBe(domain || undefined)
        expect(cookie.names).toEqual(['max-age', ...(domain ? ['domain'] : []), 'path', 'httponly', 'samesite'])
      }), 2_000)
    })

    it('accepted ttl, maxLifetime and cookie.maxAge make a save that succeeds with a whole-number Max-Age', async () => {
      const values = fc.record({ ttl: lifetime, maxLifetime: lifetime, cookie: fc.record({ maxAge: lifetime }, { requiredKeys: [] }) }, { requiredKeys: [] })
      await holds(fc.asyncProperty(values, async (v) => {
        const { event, result } = await useWith({ secret: 'x'.repeat(32), ...v }, false)
        if ('error' in result) {
          expect(result.error).toBeInstanceOf(SessionConfigError)
          return
        }
        const cookie = await saveAndReadCookie(event, result.session)
        expect(cookie.attributes['max-age']).toMatch(/^\d+$/)
      }), 2_000)
    })

    it('an accepted storeTimeout of 100 ms or more lets a store write of 20 ms succeed', async () => {
      await holds(fc.asyncProperty(storeTimeout, async (timeout) => {
        const store = new UnstorageSessionStore(createStorage())
        const set = store.set.bind(store)
        store.set = async (...args) => {
          await new Promise(resolve => setTimeout(resolve, 20))
          return set(...args)
        }
        const { event, result } = await useWith({ secret: 'x'.repeat(32), storeTimeout: timeout }, false, store)
        if ('error' in result) {
          expect(result.error).toBeInstanceOf(SessionConfigError)
          return
        }
        await saveAndReadCookie(event, result.session)
      }), 100)
    })
  })

  it('summary', () => {
    figure(`fast-check: ${totals.properties} properties, ${totals.cases} cases`)
    expect(totals.properties).toBe(18)
  })
})
