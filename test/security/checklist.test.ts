/**
 * The security checklist of research/security.md §0, one `describe` per row, each proving its
 * row through the public surface (a bare h3 app over real HTTP, the stores, the real Redis).
 * Rows that need a built Nuxt server are proven in test/e2e and named here; rows that do not
 * apply are explained in SECURITY.md.
 */
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { createApp, createRouter, defineEventHandler } from 'h3'
import { Redis } from 'ioredis'
import { createStorage } from 'unstorage'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { RedisSessionStore, SessionConfigError, UnstorageSessionStore, listSessions, revokeSessions, signInSession, useSession } from 'nuxt-server-session/h3'
import type { SessionOptions, SessionStore } from 'nuxt-server-session/h3'
import { fromBase64url, generateId, signCookieValue, storeKeyOf } from '../../src/runtime/server/core/crypto'
import { SECRET, countingStore, recordingLogger, sessionApp, testClock } from '../support/app'
import { offlineEvent } from '../support/event'
import { deleteKeys } from '../support/redis'
import { destroyRacingSave, gatedSessionApp, parallelWrites, racingRegenerates, redisBackend } from '../support/store-scenarios'
import { Client, parseSetCookie, serve } from '../support/server'
import type { TestServer } from '../support/server'
import { redisAddress } from '../support/services'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const REDIS_PREFIX = `nss-test-checklist-${process.pid}`

async function configError(options: Partial<SessionOptions>): Promise<unknown> {
  try {
    await useSession(offlineEvent(), { store: new UnstorageSessionStore(createStorage()), secret: SECRET, ...options } as SessionOptions)
  }
  catch (error) {
    return error
  }
}

describe('[nuxt-server-session] security checklist (research/security.md §0)', () => {
  let server: TestServer
  const storage = createStorage()
  const counted = countingStore(new UnstorageSessionStore(storage))
  const logger = recordingLogger()
  const client = () => new Client(server.url)
  beforeAll(async () => {
    server = await serve(sessionApp({ store: counted.store, logger, cookie: { path: '/', domain: undefined } }).app)
  })
  afterAll(() => server.close())
  afterEach(() => {
    vi.unstubAllEnvs()
    vi.restoreAllMocks()
  })

  it('row 1: ids come from the CSPRNG (crypto.getRandomValues) with 256 bits, fixed length and alphabet, unique', () => {
    // Every byte the CSPRNG hands out, copied as drawn (ids are drawn in batches, and the
    // batch is zeroed as ids are taken).
    const real = globalThis.crypto.getRandomValues.bind(globalThis.crypto)
    const chunks = new Set<string>()
    const spy = vi.spyOn(globalThis.crypto, 'getRandomValues').mockImplementation(<T extends ArrayBufferView | null>(array: T): T => {
      const out = real(array as unknown as Uint8Array)
      expect(out.length % 32).toBe(0)
      for (let i = 0; i < out.length; i += 32) chunks.add(Buffer.from(out.subarray(i, i + 32)).toString('hex'))
      return array
    })
    let ids: string[]
    try {
      ids = Array.from({ length: 20_000 }, () => generateId())
    }
    finally {
      spy.mockRestore()
    }
    expect(chunks.size).toBeGreaterThanOrEqual(20_000 - 128)
    expect(new Set(ids).size).toBe(20_000)
    for (const id of ids) expect(id).toMatch(/^[\w-]{43}$/)
    // Each id is one whole 32-byte draw of the CSPRNG, used once (all but those left in the
    // batch drawn before this test began).
    const fromDraws = ids.filter(id => chunks.has(Buffer.from(fromBase64url(id)!).toString('hex')))
    expect(fromDraws.length).toBeGreaterThan(20_000 - 128)
  })

  it('row 2: the cookie carries only <id>.<signature>, no data and no user information', async () => {
    const c = client()
    const res = await c.fetch('/set/email/ada%40example.com')
    const cookie = parseSetCookie(res.headers.getSetCookie()[0]!)
    expect(cookie.value).toMatch(/^[\w-]{43}\.[\w-]{43}$/)
    expect(cookie.value).not.toContain('ada')
  })

  it('row 3: the id is accepted only from the cookie, never from query, body or headers', async () => {
    const c = client()
    const { id } = await c.json('/inc')
    const value = c.jar.get('sid')!
    for (const [path, init] of [
      [`/read?sid=${encodeURIComponent(value)}&id=${id}`, {}],
      ['/read', { headers: { 'x-sid-session': value, 'x-session-id': id, 'authorization': `Bearer ${value}` } }],
      ['/read', { method: 'GET', headers: { 'content-type': 'application/x-www-form-urlencoded' } }],
    ] as [string, RequestInit][]) {
      const body = await (await fetch(server.url + path, init)).json()
      expect(body.id).not.toBe(id)
      expect(body.isNew).toBe(true)
    }
  })

  it('row 4: strict mode: a validly signed but unknown id is not adopted and gets no record', async () => {
    const unknown = generateId()
    const c = client()
    c.jar.set('sid', await signCookieValue(SECRET, 'sid', unknown))
    const body = await c.json('/inc')
    expect(body.id).not.toBe(unknown)
    expect(await storage.hasItem(`sess:${await storeKeyOf(unknown)}`)).toBe(false)
  })

  it('row 5: regenerate gives a new id, keeps the data, and the old id and record are gone', async () => {
    const c = client()
    const { id: oldId } = await c.json('/inc')
    const { after } = await c.json('/regenerate')
    expect(after).not.toBe(oldId)
    expect(await storage.hasItem(`sess:${await storeKeyOf(oldId)}`)).toBe(false)
    expect(await c.json('/read')).toMatchObject({ id: after, data: { n: 1, user: 'alice' } })
  })

  it('row 6: logout deletes the record and expires the cookie with the same Path and Domain', async () => {
    const local = await serve(sessionApp({ storage, cookie: { path: '/', domain: 'localhost' } }).app)
    try {
      const c = new Client(local.url)
      const { id } = await c.json('/inc')
      const res = await c.fetch('/destroy')
      const cleared = parseSetCookie(res.headers.getSetCookie()[0]!)
      expect(cleared.attributes).toMatchObject({ 'max-age': '0', 'path': '/', 'domain': 'localhost' })
      expect(await storage.hasItem(`sess:${await storeKeyOf(id)}`)).toBe(false)
    }
    finally {
      await local.close()
    }
  })

  describe('rows 7, 8, 9: timeouts from server-side timestamps', () => {
    let timed: TestServer
    const clock = testClock()
    beforeAll(async () => {
      timed = await serve(sessionApp({ ttl: 100, maxLifetime: 300, now: () => clock.now }).app)
    })
    afterAll(() => timed.close())

    it('row 7: idle timeout: idle + 1 s ends the session even with the cookie replayed', async () => {
      const c = new Client(timed.url)
      const { id } = await c.json('/inc')
      clock.tick(101)
      const after = await c.json('/read')
      expect(after.isNew).toBe(true)
      expect(after.id).not.toBe(id)
    })

    it('row 8: absolute timeout: continuous activity cannot pass createdAt + maxLifetime', async () => {
      const c = new Client(timed.url)
      const { id } = await c.json('/inc')
      for (let i = 0; i < 5; i++) {
        clock.tick(59)
        expect((await c.json('/read')).id).toBe(id)
      }
      clock.tick(6)
      expect((await c.json('/read')).isNew).toBe(true)
    })

    it('row 9: the cookie carries no expiry the server trusts: a replayed cookie with any attributes is judged by the record', async () => {
      const c = new Client(timed.url)
      await c.json('/inc')
      const value = c.jar.get('sid')!
      clock.tick(101)
      const res = await fetch(`${timed.url}/read`, { headers: { cookie: `sid=${value}; Expires=Fri, 31 Dec 9999 23:59:59 GMT; Max-Age=999999999` } })
      expect((await res.json()).isNew).toBe(true)
    })
  })

  it('rows 10, 11, 12: HttpOnly; Secure with the __Host- prefix in production; SameSite always explicit', async () => {
    vi.stubEnv('NODE_ENV', 'production')
    const local = await serve(sessionApp().app)
    try {
      const cookie = parseSetCookie((await new Client(local.url).fetch('/inc')).headers.getSetCookie()[0]!)
      expect(cookie.name).toBe('__Host-sid')
      expect(cookie.attributes).toMatchObject({ httponly: true, secure: true, samesite: 'Lax', path: '/' })
      expect(cookie.attributes.domain).toBeUndefined()
    }
    finally {
      await local.close()
    }
    expect(await configError({ name: '__Host-sid', cookie: { domain: 'example.com', secure: true } })).toBeInstanceOf(SessionConfigError)
    expect(await configError({ cookie: { sameSite: 'none', secure: false } })).toBeInstanceOf(SessionConfigError)
  })

  it('row 13: name and value stay far below 4096 bytes', async () => {
    const header = (await client().fetch('/inc')).headers.getSetCookie()[0]!
    const { name, value } = parseSetCookie(header)
    expect(name.length + value.length).toBeLessThan(200)
  })

  it('row 14: the cookie Max-Age never exceeds the absolute lifetime', async () => {
    const local = await serve(sessionApp({ maxLifetime: 600, cookie: { maxAge: 86_400 } }).app)
    try {
      const cookie = parseSetCookie((await new Client(local.url).fetch('/inc')).headers.getSetCookie()[0]!)
      expect(Number(cookie.attributes['max-age'])).toBeLessThanOrEqual(600)
    }
    finally {
      await local.close()
    }
  })

  it('row 15: responses that set or clear the cookie are private, no-store, Vary: Cookie (cached Nuxt routes: test/e2e/basic.test.ts)', async () => {
    const c = client()
    for (const path of ['/inc', '/destroy']) {
      const res = await c.fetch(path)
      expect(res.headers.getSetCookie().length).toBeGreaterThan(0)
      expect(res.headers.get('cache-control')).toBe('private, no-store')
      expect(res.headers.get('vary')?.toLowerCase()).toContain('cookie')
    }
  })

  it('row 16: tampered, truncated, extended or empty signatures give a fresh session and a 200, without a store read', async () => {
    const c = client()
    await c.json('/inc')
    const value = c.jar.get('sid')!
    for (const bad of [value.slice(0, -1) + (value.endsWith('A') ? 'B' : 'A'), value.slice(0, -3), `${value}AAAA`, `${value.split('.')[0]}.`, value.split('.')[0]!]) {
      const reads = counted.calls.get
      const res = await fetch(`${server.url}/read`, { headers: { cookie: `sid=${bad}` } })
      expect(res.status).toBe(200)
      expect((await res.json()).isNew).toBe(true)
      expect(counted.calls.get).toBe(reads)
    }
  })

  it('row 17: rotation: signed by an old secret, accepted and re-signed; once removed, rejected', async () => {
    const shared = createStorage()
    const [oldS, newS] = ['o'.repeat(40), 'n'.repeat(40)]
    const servers = await Promise.all([sessionApp({ storage: shared, secret: oldS }), sessionApp({ storage: shared, secret: [oldS, newS] }), sessionApp({ storage: shared, secret: newS })].map(x => serve(x.app)))
    try {
      const c = new Client(servers[0]!.url)
      await c.json('/inc')
      const oldCookie = c.jar.get('sid')!
      const rotated = await fetch(`${servers[1]!.url}/read`, { headers: { cookie: `sid=${oldCookie}` } })
      expect((await rotated.json()).isNew).toBe(false)
      const resigned = parseSetCookie(rotated.headers.getSetCookie()[0]!).value
      expect(resigned).not.toBe(oldCookie)
      expect((await (await fetch(`${servers[2]!.url}/read`, { headers: { cookie: `sid=${resigned}` } })).json()).isNew).toBe(false)
      expect((await (await fetch(`${servers[2]!.url}/read`, { headers: { cookie: `sid=${oldCookie}` } })).json()).isNew).toBe(true)
    }
    finally {
      await Promise.all(servers.map(s => s.close()))
    }
  })

  it('row 18: a missing, short or known example secret stops the app in production', async () => {
    vi.stubEnv('NODE_ENV', 'production')
    for (const secret of ['', 'x'.repeat(31), 'my-super-secret-key', 'development-secret', 'changeme']) {
      expect(await configError({ secret })).toBeInstanceOf(SessionConfigError)
    }
  })

  it('row 19: the signature is bound to the cookie name', async () => {
    const c = client()
    const { id } = await c.json('/inc')
    const forOther = await signCookieValue(SECRET, 'other', id)
    expect((await (await fetch(`${server.url}/read`, { headers: { cookie: `sid=${forOther}` } })).json()).isNew).toBe(true)
  })

  it('row 20: ids with /, \\, .., :, ?, NUL, unicode or over-long are refused before any store access', async () => {
    const sig = 'A'.repeat(43)
    for (const id of ['a/b'.padEnd(43, 'x'), 'a\\b'.padEnd(43, 'x'), '..'.padEnd(43, 'x'), 'a:b'.padEnd(43, 'x'), 'a?b'.padEnd(43, 'x'), `a${'é'}`.padEnd(43, 'x'), 'x'.repeat(4000)]) {
      const reads = counted.calls.get
      const res = await fetch(`${server.url}/read`, { headers: { cookie: `sid=${encodeURIComponent(id)}.${sig}` } })
      expect(res.status).toBe(200)
      expect(counted.calls.get).toBe(reads)
    }
    const reads = counted.calls.get
    const nul = await useSession(offlineEvent(`sid=${'a'.repeat(42)}\u0000.${sig}`), { store: counted.store, secret: SECRET })
    expect(nul.isNew).toBe(true)
    expect(counted.calls.get).toBe(reads)
  })

  it('row 21: the store key is the SHA-256 of the id; neither keys nor values hold the id', async () => {
    const c = client()
    const { id } = await c.json('/inc')
    const key = `sess:${await storeKeyOf(id)}`
    expect(await storage.hasItem(key)).toBe(true)
    for (const k of await storage.getKeys()) {
      expect(k).not.toContain(id)
      expect(String(await storage.getItemRaw(k))).not.toContain(id)
    }
  })

  it('row 22: store keys are lowercase hex, so ids differing only in case never collide on case-insensitive file systems', async () => {
    const id = generateId()
    const swapped = [...id].map(ch => (ch === ch.toUpperCase() ? ch.toLowerCase() : ch.toUpperCase())).join('')
    const [a, b] = [await storeKeyOf(id), await storeKeyOf(swapped)]
    expect(a).toMatch(/^[\da-f]{64}$/)
    expect(a.toLowerCase()).not.toBe(b.toLowerCase())
  })

  it('row 23: 10,000 cookieless requests create no record and no cookie', async () => {
    const writes = counted.calls.set
    const keys = (await storage.getKeys()).length
    let cookies = 0
    for (let batch = 0; batch < 200; batch++) {
      const responses = await Promise.all(Array.from({ length: 50 }, () => fetch(`${server.url}/read`)))
      for (const res of responses) {
        cookies += res.headers.getSetCookie().length
        await res.arrayBuffer()
      }
    }
    expect(cookies).toBe(0)
    expect(counted.calls.set).toBe(writes)
    expect((await storage.getKeys()).length).toBe(keys)
  })

  it('row 24: data over maxSize is refused with an error and never written', async () => {
    const local = await serve(sessionApp({ storage, maxSize: 1000 }).app)
    try {
      const c = new Client(local.url)
      const before = (await storage.getKeys()).length
      expect((await c.json('/big/5000')).code).toBe('ERR_SESSION_DATA_INVALID')
      expect((await storage.getKeys()).length).toBe(before)
    }
    finally {
      await local.close()
    }
  })

  it('row 25: JSON only; __proto__ and constructor.prototype keys are dropped and no prototype changes', async () => {
    const c = client()
    const { id } = await c.json('/inc')
    const key = `sess:${await storeKeyOf(id)}`
    const record = JSON.parse(String(await storage.getItemRaw(key)))
    await storage.setItemRaw(key, JSON.stringify(record).replace('"data":{', '"data":{"__proto__":{"admin":true},"constructor":{"prototype":{"admin":true}},'))
    const body = await c.json('/read')
    expect(body.isNew).toBe(false)
    expect(Object.keys(body.data)).toEqual(['n'])
    expect(({} as { admin?: boolean }).admin).toBeUndefined()
  })

  it('row 26: a corrupt record means no session and a security log entry, never a 500', async () => {
    const c = client()
    const { id } = await c.json('/inc')
    await storage.setItemRaw(`sess:${await storeKeyOf(id)}`, '{"createdAt":')
    const before = logger.lines.length
    const res = await c.fetch('/read')
    expect(res.status).toBe(200)
    expect((await res.json()).isNew).toBe(true)
    expect(logger.lines.slice(before).join('\n')).toMatch(/Security: corrupt session record/)
  })

  it('row 27: no weaker path: unsigned or express-style (s:) values are rejected when secrets are set', async () => {
    const c = client()
    const { id } = await c.json('/inc')
    for (const value of [id, `s:${id}`, `s:${c.jar.get('sid')}`]) {
      expect((await (await fetch(`${server.url}/read`, { headers: { cookie: `sid=${encodeURIComponent(value)}` } })).json()).isNew).toBe(true)
    }
  })

  describe('rows 28, 29, 30: concurrency on RedisSessionStore (the real Redis)', () => {
    const redis = new Redis(redisAddress().url)
    const store = new RedisSessionStore(redis, { prefix: REDIS_PREFIX })
    let gated: TestServer
    const app = gatedSessionApp(store)
    beforeAll(async () => {
      gated = await serve(app.app)
    })
    afterAll(async () => {
      await gated.close()
      await deleteKeys(redis, `${REDIS_PREFIX}:*`)
      await redis.quit()
    })

    it('row 28: a destroy cannot be undone by a slower request that saves afterwards', async () => {
      await destroyRacingSave(gated.url, app, redisBackend(redis, store), 'auto')
    })

    it('row 29: parallel writes to different keys all survive', async () => {
      expect(await parallelWrites(gated.url, 30)).toBe(30)
    })

    it('row 30: of two concurrent regenerates exactly one wins, and no orphan holds the data', async () => {
      await racingRegenerates(gated.url, app, redisBackend(redis, store))
    })
  })

  it('row 31: a hanging store fails closed with a 503 within storeTimeout, never as logged in, no unhandled rejection', async () => {
    const hanging: SessionStore = { get: () => new Promise(() => {}), set: () => new Promise(() => {}), delete: () => new Promise(() => {}) }
    const local = await serve(sessionApp({ store: hanging, storeTimeout: 200, logger: recordingLogger() }).app)
    const unhandled: unknown[] = []
    const onUnhandled = (reason: unknown) => unhandled.push(reason)
    process.on('unhandledRejection', onUnhandled)
    try {
      const c = new Client(local.url)
      c.jar.set('sid', await signCookieValue(SECRET, 'sid', generateId()))
      const started = Date.now()
      const res = await c.fetch('/read')
      expect(res.status).toBe(503)
      expect(Date.now() - started).toBeLessThan(2000)
      expect(c.jar.size).toBe(1)
      await new Promise(resolve => setTimeout(resolve, 50))
      expect(unhandled).toEqual([])
    }
    finally {
      process.off('unhandledRejection', onUnhandled)
      await local.close()
    }
  })

  it('row 31: each store operation has its own deadline: one started behind a hanging one times out storeTimeout after its own start, and the ones between are served', async () => {
    const inner = new UnstorageSessionStore(createStorage())
    let hang = 0
    const store: SessionStore = {
      get: key => hang > 0 && hang-- ? new Promise(() => {}) : inner.get(key),
      set: (key, record, write) => inner.set(key, record, write),
      delete: key => inner.delete(key),
    }
    const timeout = 400
    const local = await serve(sessionApp({ store, storeTimeout: timeout, logger: recordingLogger() }).app)
    try {
      const c = new Client(local.url)
      expect((await c.json('/inc')).data).toEqual({ n: 1 })
      const timed = async () => {
        const started = Date.now()
        const res = await c.fetch('/read')
        return { status: res.status, ms: Date.now() - started }
      }
      hang = 1
      const first = timed()
      await new Promise(resolve => setTimeout(resolve, timeout / 2))
      // Behind the hanging read: a read that the store answers is served at once.
      expect(await c.json('/read')).toMatchObject({ isNew: false, data: { n: 1 } })
      hang = 1
      const second = timed()
      const [a, b] = await Promise.all([first, second])
      expect(a.status).toBe(503)
      expect(b.status).toBe(503)
      // Not at the first one's deadline (timeout / 2 after its start): at its own.
      expect(b.ms).toBeGreaterThanOrEqual(timeout - 5)
      expect(a.ms).toBeGreaterThanOrEqual(timeout - 5)
      expect(Math.max(a.ms, b.ms)).toBeLessThan(5000)
      expect(await c.json('/read')).toMatchObject({ isNew: false, data: { n: 1 } })
    }
    finally {
      await local.close()
    }
  })

  it('row 32: the sweep removes expired records only (one expiring at this instant stays)', async () => {
    const clock = testClock()
    const swept = createStorage()
    const store = new UnstorageSessionStore(swept, { now: () => clock.now, sweepInterval: 0 })
    const record = (expiresAt: number) => ({ createdAt: clock.now - 10, touchedAt: clock.now - 10, expiresAt, data: {} })
    await store.set('a'.repeat(64), record(clock.now - 1), { create: true, changed: [], removed: [], ttl: 1 })
    await store.set('b'.repeat(64), record(clock.now), { create: true, changed: [], removed: [], ttl: 1 })
    await store.set('c'.repeat(64), record(clock.now + 1000), { create: true, changed: [], removed: [], ttl: 1 })
    expect(await store.sweep()).toBe(1)
    expect((await swept.getKeys()).sort()).toEqual([`sess:${'b'.repeat(64)}`, `sess:${'c'.repeat(64)}`])
  })

  describe('rows 33, 34: list and revoke a user\'s sessions; a cap per user', () => {
    let devices: TestServer
    const options: SessionOptions = { store: new UnstorageSessionStore(createStorage()), secret: SECRET }
    beforeAll(async () => {
      const router = createRouter()
        .get('/sign-in', defineEventHandler(async (event) => {
          await useSession(event, options)
          await signInSession(event, 'ada')
          return { ok: true }
        }))
        .get('/list', defineEventHandler(async (event) => {
          await useSession(event, options)
          return listSessions(event)
        }))
        .get('/others-out', defineEventHandler(async (event) => {
          await useSession(event, options)
          await revokeSessions(event, { keepCurrent: true })
          return listSessions(event)
        }))
      devices = await serve(createApp().use(router))
    })
    afterAll(() => devices.close())

    it('row 33: three devices are listed; revoking the others leaves only the current one working', async () => {
      const [a, b, c] = [new Client(devices.url), new Client(devices.url), new Client(devices.url)]
      for (const d of [a, b, c]) await d.json('/sign-in')
      expect(await c.json('/list')).toHaveLength(3)
      expect(await c.json('/others-out')).toHaveLength(1)
      expect(await a.json('/list')).toEqual([])
    })

    it('row 34: with maxSessionsPerUser 2, a third sign-in ends the oldest', async () => {
      const opts: SessionOptions = { ...options, maxSessionsPerUser: 2 }
      const capped = await serve(createApp().use(createRouter()
        .get('/sign-in', defineEventHandler(async (event) => {
          await useSession(event, opts)
          await signInSession(event, 'bob')
          return listSessions(event)
        }))))
      try {
        const [a, b, c] = [new Client(capped.url), new Client(capped.url), new Client(capped.url)]
        await a.json('/sign-in')
        await b.json('/sign-in')
        expect(await c.json('/sign-in')).toHaveLength(2)
      }
      finally {
        await capped.close()
      }
    })
  })

  it('row 35: lifecycle events are logged (created, regenerated, destroyed, rejected) by a short hash, never the raw id or cookie', async () => {
    const lines: string[] = []
    const audit = { warn: () => {}, error: () => {}, info: (m: string) => lines.push(m) }
    const local = await serve(sessionApp({ storage, logger: audit }).app)
    try {
      const c = new Client(local.url)
      const { id } = await c.json('/inc')
      const { after } = await c.json('/regenerate')
      const value = c.jar.get('sid')!
      await c.fetch('/destroy')
      await fetch(`${local.url}/read`, { headers: { cookie: `sid=${value}x` } })
      const log = lines.join('\n')
      for (const event of ['created', 'regenerated', 'destroyed', 'rejected cookie']) expect(log).toContain(event)
      for (const secret of [id, after, value]) expect(log).not.toContain(secret)
      expect(log).toMatch(/ref [\da-f]{8}/)
    }
    finally {
      await local.close()
    }
  })

  it('row 36: timeouts, concurrency limits and secret rotation are documented (SECURITY.md, README.md)', async () => {
    const security = await readFile(`${ROOT}/SECURITY.md`, 'utf8')
    const readme = await readFile(`${ROOT}/README.md`, 'utf8')
    for (const topic of [/idle timeout/i, /absolute/i, /concurren/i, /rotat/i, /maxSessionsPerUser/, /report a vulnerability/i]) expect(security).toMatch(topic)
    expect(readme).toMatch(/Secret rotation/)
  })
})
