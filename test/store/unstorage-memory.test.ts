import { createStorage, prefixStorage } from 'unstorage'
import memoryDriver from 'unstorage/drivers/memory'
import { describe, expect, it } from 'vitest'
import { SessionDataError, UnstorageSessionStore, encodeSessionRecord } from 'nuxt-server-session/h3'
import { describeStoreConformance, unstorageRaw } from './conformance'

// Default options (prefix `sess`): the memory driver is private to this suite.
describeStoreConformance('UnstorageSessionStore over unstorage memory driver (default options)', async () => {
  const storage = createStorage({ driver: memoryDriver() })
  return {
    store: new UnstorageSessionStore(storage),
    raw: unstorageRaw(storage),
    cleanup: () => storage.dispose(),
  }
})

// As Nitro mounts it: the memory driver at `session`, another memory driver at the root, the store's
// prefix `session` (the records go straight into the mount's Map).
describeStoreConformance('UnstorageSessionStore over a memory driver mounted at `session` (as Nitro mounts it)', async () => {
  const storage = createStorage({ driver: memoryDriver() })
  storage.mount('session', memoryDriver())
  return {
    store: new UnstorageSessionStore(storage, { prefix: 'session' }),
    raw: unstorageRaw(storage),
    cleanup: () => storage.dispose(),
  }
})

// Through a prefixStorage: the probe cannot see its own write in the Map under the same key, so
// the records go through the storage API.
describeStoreConformance('UnstorageSessionStore over a prefixStorage of a memory driver (storage API)', async () => {
  const root = createStorage({ driver: memoryDriver() })
  const storage = prefixStorage(root, 'app')
  return {
    store: new UnstorageSessionStore(storage),
    raw: { keys: () => storage.getKeys(), get: key => storage.getItemRaw(key), put: (key, value) => storage.setItemRaw(key, value) },
    cleanup: () => root.dispose(),
  }
})

describe('[nuxt-server-session] UnstorageSessionStore on the memory driver', () => {
  it('writes the record text into the mount\'s own Map, under the key the storage API uses, readable through either, without the storage API on the way', async () => {
    const storage = createStorage({ driver: memoryDriver() })
    const driver = memoryDriver()
    // Counts what goes through the driver's own methods (the storage API's way).
    const calls: string[] = []
    for (const method of ['getItemRaw', 'getItem', 'setItem', 'setItemRaw'] as const) {
      const original = driver[method]!.bind(driver) as (...args: unknown[]) => unknown
      ;(driver as unknown as Record<string, unknown>)[method] = (...args: unknown[]) => {
        calls.push(method)
        return original(...args)
      }
    }
    storage.mount('session', driver)
    const store = new UnstorageSessionStore(storage, { prefix: 'session:sess' })
    await store.get('b'.repeat(64))
    calls.length = 0
    const key = 'a'.repeat(64)
    const record = { createdAt: 1, touchedAt: 2, expiresAt: Date.now() + 60_000, data: { n: 1 } }
    expect(await store.set(key, record, { create: true, changed: ['n'], removed: [], ttl: 60 })).toBe(true)
    const map = driver.getInstance!() as Map<string, unknown>
    expect([...map.keys()]).toEqual([`sess:${key}`])
    expect(map.get(`sess:${key}`)).toBe(encodeSessionRecord(record))
    expect(await storage.getItemRaw(`session:sess:${key}`)).toBe(encodeSessionRecord(record))
    // A change through the storage API is what the next read sees, and what an update merges into.
    await storage.setItemRaw(`session:sess:${key}`, encodeSessionRecord({ ...record, data: { n: 1, other: true } }))
    calls.length = 0
    const read = await store.get(key)
    expect(read?.data).toEqual({ n: 1, other: true })
    expect(await store.set(key, { ...record, data: { n: 2 } }, { create: false, changed: ['n'], removed: [], ttl: 60, base: record })).toBe(true)
    expect(JSON.parse(String(map.get(`sess:${key}`))).data).toEqual({ n: 2, other: true })
    // The store's reads and writes went straight to the Map, past the storage API.
    expect(calls).toEqual([])
    await store.delete(key)
    expect(map.size).toBe(0)
    expect(await store.set(key, record, { create: false, changed: ['n'], removed: [], ttl: 60, base: record })).toBe(false)
    expect(map.size).toBe(0)
  })
})

describe('[nuxt-server-session] UnstorageSessionStore options', () => {
  it('refuses an empty or malformed prefix, which would hand the whole storage to the sweep', () => {
    const storage = createStorage({ driver: memoryDriver() })
    for (const prefix of ['', ':', 'a::b', 'a/b', ' sess']) {
      expect(() => new UnstorageSessionStore(storage, { prefix })).toThrow(/prefix/)
    }
    expect(new UnstorageSessionStore(storage, { prefix: 'app:sess' }).prefix).toBe('app:sess')
  })

  it('refuses a storage that is not unstorage', () => {
    expect(() => new UnstorageSessionStore({} as never)).toThrow(/unstorage instance/)
  })

  it('encodes no record with non-finite timestamps', () => {
    expect(() => encodeSessionRecord({ createdAt: Number.NaN, touchedAt: 1, expiresAt: 2, data: {} })).toThrow(SessionDataError)
  })
})
