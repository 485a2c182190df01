/**
 * UnstorageSessionStore over unstorage's redis driver, on a real Redis. Where the store's prefix
 * is mounted on that driver, the store works on the driver's own client, under its `base`, with
 * RedisSessionStore's layout and scripts (one hash per session): the conformance suite, the
 * layout, native expiry and the concurrency guarantees over real HTTP. Behind a `prefixStorage`
 * the probe cannot see its own writes, so the store stays on the storage API (one JSON string
 * per record): the conformance suite with raw access checks that path.
 *
 * Every key this file writes lives under BASE; only those keys are deleted afterwards.
 */
import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { createStorage, prefixStorage } from 'unstorage'
import type { Storage } from 'unstorage'
import redisDriver from 'unstorage/drivers/redis'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { RedisSessionStore, UnstorageSessionStore } from 'nuxt-server-session/h3'
import type { SessionRecord, SessionStore } from 'nuxt-server-session/h3'
import { destroyRacingSave, gatedSessionApp, parallelWrites, racingRegenerates, redisBackend } from '../support/store-scenarios'
import { deleteKeys, scanKeys } from '../support/redis'
import { redisAddress } from '../support/services'
import { figure } from '../support/figure'
import { Client, serve } from '../support/server'
import type { TestServer } from '../support/server'
import { describeStoreConformance, fakeSessionId, sha256Hex } from './conformance'

const { host, port } = redisAddress()
const REDIS = { host, port }
const BASE = `nss-test-${randomBytes(6).toString('hex')}`
const HOUR = 3_600_000

// A client of our own, to look at Redis below the store (types, fields, TTLs) and to clean up.
const redis = new Redis({ ...REDIS, lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 5000 })

beforeAll(async () => {
  await redis.connect()
  expect(await redis.ping()).toBe('PONG')
})

afterAll(async () => {
  await deleteKeys(redis, `${BASE}:*`)
  expect(await scanKeys(redis, `${BASE}:*`)).toStrictEqual([])
  await redis.quit()
})

function record(data: Record<string, unknown>, expiresAt = Date.now() + HOUR): SessionRecord {
  return { createdAt: Date.now(), touchedAt: Date.now(), expiresAt, data }
}

/** A RedisSessionStore on our own client with the prefix the store must use: the expected layout. */
const twin = (prefix: string) => new RedisSessionStore(redis, { prefix })

describeStoreConformance('UnstorageSessionStore over unstorage redis driver (real Redis, on the driver\'s client)', async () => {
  const storage = createStorage({ driver: redisDriver({ ...REDIS, base: `${BASE}:conformance` }) })
  // No `raw`: the records are hashes (RedisSessionStore's layout, whose raw checks are in
  // redis.test.ts); the layout is checked below.
  return { store: new UnstorageSessionStore(storage, { prefix: 'sess' }), cleanup: () => storage.dispose() }
}, { raw: false })

describeStoreConformance('UnstorageSessionStore over a prefixStorage of the redis driver (real Redis, storage API)', async () => {
  const storage = prefixStorage(createStorage({ driver: redisDriver({ ...REDIS, base: `${BASE}:prefixed` }) }), 'app')
  return {
    store: new UnstorageSessionStore(storage, { prefix: 'sess' }),
    raw: {
      keys: () => scanKeys(redis, `${BASE}:prefixed:*`),
      get: fullKey => redis.get(fullKey),
      put: async (fullKey, value) => {
        await redis.set(fullKey, value, 'KEEPTTL')
      },
    },
  }
})

describe('[nuxt-server-session] UnstorageSessionStore over redis: the driver\'s own client, RedisSessionStore\'s layout', () => {
  const storages: Storage[] = []
  afterAll(() => Promise.all(storages.map(s => s.dispose())))
  const mounted = (mountPoint: string, base: string) => {
    const storage = createStorage()
    storage.mount(mountPoint, redisDriver({ ...REDIS, base }))
    storages.push(storage)
    return storage
  }

  it('a record is one hash at <driver base>:<prefix below the mount>:{tag}<rest>, as RedisSessionStore keeps it, for the seed\'s root mount and a Nitro-style named mount', async () => {
    const layouts = [
      // The seed's quick start: the driver is the root mount, the store's prefix is below it.
      { storage: mounted('', `${BASE}:seed`), prefix: 'sess', expected: `${BASE}:seed:sess` },
      // Nitro's `storage: { session: { driver: 'redis', base } }` with the module's prefix `session`.
      { storage: mounted('session', `${BASE}:nitro`), prefix: 'session', expected: `${BASE}:nitro` },
      // A prefix deeper than the mount point.
      { storage: mounted('app', `${BASE}:deep:`), prefix: 'app:sess', expected: `${BASE}:deep:sess` },
    ]
    for (const { storage, prefix, expected } of layouts) {
      const store = new UnstorageSessionStore(storage, { prefix })
      const key = await sha256Hex(fakeSessionId())
      expect(await store.set(key, record({ a: 1, b: 'two' }), { create: true, changed: ['a', 'b'], removed: [], ttl: 60 })).toBe(true)
      const redisKey = twin(expected).keyOf(key)
      expect(redisKey).toBe(`${expected}:{${key.slice(0, 2)}}${key.slice(2)}`)
      expect(await redis.type(redisKey)).toBe('hash')
      expect(await redis.hget(redisKey, 'd:b')).toBe('"two"')
      // The same record through a RedisSessionStore on another client: one layout.
      expect((await twin(expected).get(key))?.data).toStrictEqual({ a: 1, b: 'two' })
      // The probe leaves nothing behind.
      expect((await scanKeys(redis, `${expected}:*`)).filter(k => k.includes('probe'))).toStrictEqual([])
      await store.delete(key)
      expect(await redis.exists(redisKey)).toBe(0)
    }
  })

  it('writes expire natively: the PTTL follows each write\'s ttl, and Redis drops a record written with ttl: 1 by itself', async () => {
    const storage = mounted('', `${BASE}:ttl`)
    const store = new UnstorageSessionStore(storage, { prefix: 'sess', sweepInterval: 0 })
    const key = await sha256Hex(fakeSessionId())
    const redisKey = twin(`${BASE}:ttl:sess`).keyOf(key)
    await store.set(key, record({ a: 1 }), { create: true, changed: ['a'], removed: [], ttl: 3600 })
    expect(await redis.pttl(redisKey)).toBeGreaterThan(3_590_000)
    expect(await store.set(key, record({ a: 2 }, Date.now() + 2000), { create: false, changed: ['a'], removed: [], ttl: 2 })).toBe(true)
    const pttl = await redis.pttl(redisKey)
    expect(pttl).toBeGreaterThanOrEqual(1)
    expect(pttl).toBeLessThanOrEqual(2000)
    const short = await sha256Hex(fakeSessionId())
    await store.set(short, record({ a: 1 }, Date.now() + 1000), { create: true, changed: ['a'], removed: [], ttl: 1 })
    await vi.waitFor(async () => {
      expect(await store.get(short)).toBeUndefined()
    }, { timeout: 3000, interval: 100 })
    // Nothing is left to sweep: Redis expires every key.
    expect(await store.sweep()).toBe(0)
  })

  it('regenerate() can move a session atomically there (move is offered), and not on other drivers', async () => {
    const onRedis = new UnstorageSessionStore(mounted('', `${BASE}:move`), { prefix: 'sess' })
    const from = await sha256Hex(fakeSessionId())
    const to = await sha256Hex(fakeSessionId())
    await onRedis.set(from, record({ a: 1 }), { create: true, changed: ['a'], removed: [], ttl: 60 })
    expect(typeof onRedis.move).toBe('function')
    expect(await onRedis.move!(from, to, record({ a: 1, b: 2 }), { create: false, changed: ['b'], removed: [], ttl: 60 })).toBe(true)
    expect(await onRedis.get(from)).toBeUndefined()
    expect((await onRedis.get(to))?.data).toStrictEqual({ a: 1, b: 2 })
    // The old one is gone: a second move (a concurrent regenerate) loses.
    expect(await onRedis.move!(from, await sha256Hex(fakeSessionId()), record({ a: 1 }), { create: false, changed: [], removed: [], ttl: 60 })).toBe(false)
    const onMemory = new UnstorageSessionStore(createStorage(), { prefix: 'sess' })
    await onMemory.get(from)
    expect(onMemory.move).toBeUndefined()
  })
})

describe('[nuxt-server-session] UnstorageSessionStore over redis: concurrency over real HTTP', () => {
  const servers: TestServer[] = []
  const storages: Storage[] = []
  afterAll(async () => {
    await Promise.all(servers.map(s => s.close()))
    await Promise.all(storages.map(s => s.dispose()))
  })

  async function app(storage: Storage) {
    storages.push(storage)
    const store = new UnstorageSessionStore(storage, { prefix: 'sess' })
    const gated = gatedSessionApp(store as SessionStore)
    const server = await serve(gated.app)
    servers.push(server)
    return { gated, server }
  }

  it('50 parallel requests with one session, each setting its own key: all 50 survive on the driver\'s client (and how many the storage API keeps)', async () => {
    const native = await app(createStorage({ driver: redisDriver({ ...REDIS, base: `${BASE}:http` }) }))
    const kept = await parallelWrites(native.server.url, 50)
    const generic = await app(prefixStorage(createStorage({ driver: redisDriver({ ...REDIS, base: `${BASE}:http-api` }) }), 'app'))
    const keptByApi = await parallelWrites(generic.server.url, 50)
    figure(`50 parallel disjoint writes to one session: UnstorageSessionStore on unstorage's redis driver kept ${kept}/50 (behind a prefixStorage, storage API: ${keptByApi}/50)`)
    expect(kept).toBe(50)
  })

  it('destroy racing a slow save (automatic and explicit): the save writes nothing (409), the session stays gone', async () => {
    const { gated, server } = await app(createStorage({ driver: redisDriver({ ...REDIS, base: `${BASE}:race` }) }))
    for (const mode of ['auto', 'explicit'] as const) await destroyRacingSave(server.url, gated, redisBackend(redis, twin(`${BASE}:race:sess`)), mode)
  })

  it('two concurrent regenerates of one session (5 rounds): exactly one wins, the other gets 409, exactly one hash holds the data', async () => {
    const { gated, server } = await app(createStorage({ driver: redisDriver({ ...REDIS, base: `${BASE}:regen` }) }))
    for (let round = 0; round < 5; round++) await racingRegenerates(server.url, gated, redisBackend(redis, twin(`${BASE}:regen:sess`)))
  })

  it('a session written through the mount is the very record RedisSessionStore reads (one layout for both ways to Redis)', async () => {
    const { server } = await app(createStorage({ driver: redisDriver({ ...REDIS, base: `${BASE}:shared` }) }))
    const client = new Client(server.url)
    const { id } = await client.json('/set/from/mount')
    expect((await twin(`${BASE}:shared:sess`).get(await sha256Hex(id)))?.data).toStrictEqual({ from: 'mount' })
  })
})
