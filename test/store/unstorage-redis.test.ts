import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { createStorage } from 'unstorage'
import type { Storage } from 'unstorage'
import redisDriver from 'unstorage/drivers/redis'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { UnstorageSessionStore } from 'nuxt-server-session/h3'
import type { SessionRecord } from 'nuxt-server-session/h3'
import { describeStoreConformance, fakeSessionId, sha256Hex } from './conformance'

const REDIS = { host: '127.0.0.1', port: 6379 }
/** Every key this file writes lives under this base; only those keys are deleted afterwards. */
const BASE = `nss-test-${randomBytes(6).toString('hex')}`

// A client of our own, to look at Redis below unstorage (raw values, TTLs) and to clean up.
const redis = new Redis({ ...REDIS, lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 5000 })

/** Our keys matching `pattern` (SCAN, never KEYS). */
async function scanKeys(pattern: string): Promise<string[]> {
  const keys: string[] = []
  let cursor = '0'
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000)
    cursor = next
    keys.push(...batch)
  } while (cursor !== '0')
  return keys
}

beforeAll(async () => {
  await redis.connect()
  expect(await redis.ping()).toBe('PONG')
})

afterAll(async () => {
  const keys = await scanKeys(`${BASE}:*`)
  if (keys.length) await redis.unlink(...keys)
  expect(await scanKeys(`${BASE}:*`)).toStrictEqual([])
  await redis.quit()
})

describeStoreConformance('UnstorageSessionStore over unstorage redis driver (real Redis)', async () => {
  const storage = createStorage({ driver: redisDriver({ ...REDIS, base: `${BASE}:conformance` }) })
  return {
    store: new UnstorageSessionStore(storage, { prefix: 'sess' }),
    // Raw access by real Redis keys (`<base>:<prefix>:<key>`), below unstorage.
    raw: {
      keys: () => scanKeys(`${BASE}:conformance:*`),
      get: fullKey => redis.get(fullKey),
      put: async (fullKey, value) => {
        await redis.set(fullKey, value, 'KEEPTTL')
      },
    },
    cleanup: () => storage.dispose(),
  }
})

describe('[nuxt-server-session] UnstorageSessionStore over redis: native expiry', () => {
  const base = `${BASE}:ttl`
  const prefix = 'sess'
  let storage: Storage

  beforeAll(() => {
    storage = createStorage({ driver: redisDriver({ ...REDIS, base }) })
  })
  afterAll(() => storage.dispose())

  async function newKey() {
    const key = await sha256Hex(fakeSessionId())
    return { key, fullKey: `${base}:${prefix}:${key}` }
  }

  function record(data: Record<string, unknown>, expiresAt = Date.now() + 3_600_000): SessionRecord {
    return { createdAt: Date.now(), touchedAt: Date.now(), expiresAt, data }
  }

  it('a record written with ttl: 2 has a Redis PTTL between 1 and 2000 ms on <base>:<prefix>:<key>', async () => {
    const store = new UnstorageSessionStore(storage, { prefix })
    const { key, fullKey } = await newKey()
    expect(await store.set(key, record({ a: 1 }, Date.now() + 2000), { create: true, changed: ['a'], removed: [], ttl: 2 })).toBe(true)
    // The exact key, found by SCAN: nothing else was written for it.
    expect(await scanKeys(`${base}:*${key}*`)).toStrictEqual([fullKey])
    const pttl = await redis.pttl(fullKey)
    expect(pttl).toBeGreaterThanOrEqual(1)
    expect(pttl).toBeLessThanOrEqual(2000)
  })

  it('an update (create: false) sets the Redis TTL to its own ttl', async () => {
    const store = new UnstorageSessionStore(storage, { prefix })
    const { key, fullKey } = await newKey()
    await store.set(key, record({ a: 1 }), { create: true, changed: ['a'], removed: [], ttl: 3600 })
    const before = await redis.pttl(fullKey)
    expect(before).toBeGreaterThan(3_590_000)
    expect(await store.set(key, record({ a: 2 }, Date.now() + 2000), { create: false, changed: ['a'], removed: [], ttl: 2 })).toBe(true)
    const after = await redis.pttl(fullKey)
    expect(after).toBeGreaterThanOrEqual(1)
    expect(after).toBeLessThanOrEqual(2000)
    expect((await store.get(key))?.data).toStrictEqual({ a: 2 })
  })

  it('Redis drops a record written with ttl: 1 by itself: get is undefined within 3 s, with no sweep', async () => {
    const store = new UnstorageSessionStore(storage, { prefix, sweepInterval: 0 })
    const { key, fullKey } = await newKey()
    await store.set(key, record({ a: 1 }, Date.now() + 1000), { create: true, changed: ['a'], removed: [], ttl: 1 })
    expect(await store.get(key)).toBeDefined()
    await vi.waitFor(async () => {
      expect(await store.get(key)).toBeUndefined()
    }, { timeout: 3000, interval: 100 })
    expect(await redis.exists(fullKey)).toBe(0)
  })

  it('the background sweep is skipped on redis (native TTL): an expired record with a long Redis TTL stays until sweep() is called', async () => {
    let clock = Date.now()
    const store = new UnstorageSessionStore(storage, { prefix: 'sweep', now: () => clock, sweepInterval: 60 })
    const expired = await sha256Hex(fakeSessionId())
    await store.set(expired, record({ a: 1 }, clock - 1000), { create: true, changed: ['a'], removed: [], ttl: 600 })
    clock += 61_000
    const other = await sha256Hex(fakeSessionId())
    await store.set(other, record({ b: 1 }, clock + 3_600_000), { create: true, changed: ['b'], removed: [], ttl: 600 })
    await new Promise(resolve => setTimeout(resolve, 300))
    expect(await store.get(expired)).toBeDefined()
    // An explicit sweep() still works on redis.
    expect(await store.sweep()).toBe(1)
    expect(await store.get(expired)).toBeUndefined()
    expect(await store.get(other)).toBeDefined()
  })
})
