/**
 * Expiry on drivers without native TTL (memory, fs): `UnstorageSessionStore` sweeps expired and
 * corrupt records, on demand (`sweep()`) and in the background after a write, on its own clock.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createStorage } from 'unstorage'
import type { Storage } from 'unstorage'
import fsDriver from 'unstorage/drivers/fs'
import memoryDriver from 'unstorage/drivers/memory'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { UnstorageSessionStore } from 'nuxt-server-session/h3'
import type { SessionRecord } from 'nuxt-server-session/h3'
import { fakeSessionId, sha256Hex } from './conformance'

interface Backend {
  storage: Storage
  cleanup: () => Promise<void>
}

const BACKENDS: [string, () => Promise<Backend>][] = [
  ['memory', async () => {
    const storage = createStorage({ driver: memoryDriver() })
    return { storage, cleanup: () => storage.dispose() }
  }],
  ['fs', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'nss-test-'))
    const storage = createStorage({ driver: fsDriver({ base: dir }) })
    return {
      storage,
      cleanup: async () => {
        await storage.dispose()
        await rm(dir, { recursive: true, force: true })
      },
    }
  }],
]

const SECOND = 1000
const T0 = 1_700_000_000_000
/** Long enough for a background sweep that was started to have finished on memory and fs. */
const SETTLE_MS = 300

const settle = () => new Promise(resolve => setTimeout(resolve, SETTLE_MS))

describe.each(BACKENDS)('[nuxt-server-session] UnstorageSessionStore sweep on the %s driver (no native TTL)', (_name, makeBackend) => {
  let backend: Backend
  let storage: Storage
  let clock: number

  beforeEach(async () => {
    backend = await makeBackend()
    storage = backend.storage
    clock = T0
  })
  afterEach(() => backend.cleanup())

  function newStore(sweepInterval = 60, prefix = 'sess') {
    return new UnstorageSessionStore(storage, { now: () => clock, sweepInterval, prefix })
  }

  /** Writes a new record expiring at `expiresAt` (on the injected clock) under a fresh key. */
  async function put(store: UnstorageSessionStore, expiresAt: number, data: Record<string, unknown> = { a: 1 }): Promise<string> {
    const key = await sha256Hex(fakeSessionId())
    const record: SessionRecord = { createdAt: clock - 60 * SECOND, touchedAt: clock, expiresAt, data }
    expect(await store.set(key, record, { create: true, changed: Object.keys(data), removed: [], ttl: Math.max(1, Math.ceil((expiresAt - clock) / SECOND)) })).toBe(true)
    return key
  }

  it('sweep() removes records whose expiresAt is past and returns how many; live ones and one expiring exactly now stay', async () => {
    const store = newStore()
    const expired1 = await put(store, clock - 1)
    const expired2 = await put(store, clock - 3600 * SECOND)
    const live = await put(store, clock + 1)
    const exactlyNow = await put(store, clock)
    expect(await store.sweep()).toBe(2)
    expect(await store.get(expired1)).toBeUndefined()
    expect(await store.get(expired2)).toBeUndefined()
    expect(await store.get(live)).toBeDefined()
    expect(await store.get(exactlyNow)).toBeDefined()
    // Nothing left to sweep at the same instant; one millisecond later the exactly-now one goes.
    expect(await store.sweep()).toBe(0)
    clock += 1
    expect(await store.sweep()).toBe(1)
    expect(await store.get(exactlyNow)).toBeUndefined()
    expect(await store.get(live)).toBeDefined()
  })

  it('sweep() decides expiry on the injected clock, not on Date.now()', async () => {
    // Far in the real past, but live on the injected clock.
    clock = 100 * SECOND
    const store = newStore()
    const live = await put(store, 200 * SECOND)
    expect(await store.sweep()).toBe(0)
    expect(await store.get(live)).toBeDefined()
    clock = 200 * SECOND + 1
    expect(await store.sweep()).toBe(1)
  })

  it('sweep() removes corrupt records under the prefix too, and counts them', async () => {
    const store = newStore()
    const live = await put(store, clock + 3600 * SECOND)
    const corrupt = ['garbage', '[]', '123', '{"v":1,"createdAt":1', '{"createdAt":"x"}']
    const corruptKeys: string[] = []
    for (const text of corrupt) {
      const key = await sha256Hex(fakeSessionId())
      await storage.setItemRaw(`sess:${key}`, text)
      corruptKeys.push(key)
    }
    expect(await store.sweep()).toBe(corrupt.length)
    for (const key of corruptKeys) expect(await storage.hasItem(`sess:${key}`)).toBe(false)
    expect(await store.get(live)).toBeDefined()
  })

  it('sweep() leaves keys outside its prefix alone (another store\'s expired records, unrelated keys)', async () => {
    const store = newStore(60, 'sess')
    const neighbour = newStore(60, 'sess2')
    const mine = await put(store, clock - 1)
    const theirs = await put(neighbour, clock - 1)
    await storage.setItemRaw('unrelated:key', 'garbage')
    await storage.setItemRaw('sessx', 'garbage')
    expect(await store.sweep()).toBe(1)
    expect(await store.get(mine)).toBeUndefined()
    expect(await neighbour.get(theirs)).toBeDefined()
    expect(await storage.getItemRaw('unrelated:key')).toBeTruthy()
    expect(await storage.getItemRaw('sessx')).toBeTruthy()
  })

  it('until it is swept, an expired record is still returned by get (the caller checks timestamps) but cannot be updated', async () => {
    const store = newStore(0)
    const key = await put(store, clock + 10 * SECOND, { a: 1 })
    clock += 10 * SECOND // expiresAt === now: expired for the session engine
    const stored = await store.get(key)
    expect(stored?.data).toStrictEqual({ a: 1 })
    const next: SessionRecord = { ...stored!, touchedAt: clock, expiresAt: clock + 3600 * SECOND, data: { a: 2 } }
    expect(await store.set(key, next, { create: false, changed: ['a'], removed: [], ttl: 3600 })).toBe(false)
    expect((await store.get(key))?.data).toStrictEqual({ a: 1 })
  })

  it('the background sweep runs after a set once sweepInterval seconds have passed on the injected clock', async () => {
    const store = newStore(60)
    const expired = await put(store, clock + 10 * SECOND)
    const live = await put(store, clock + 3600 * SECOND)
    clock += 60 * SECOND
    // No write yet: nothing sweeps by time alone.
    await settle()
    expect(await store.get(expired)).toBeDefined()
    await put(store, clock + 3600 * SECOND)
    await vi.waitFor(async () => {
      expect(await store.get(expired)).toBeUndefined()
    }, { timeout: 3000, interval: 10 })
    expect(await store.get(live)).toBeDefined()
  })

  it('no background sweep before sweepInterval seconds have passed (59 s of 60)', async () => {
    const store = newStore(60)
    const expired = await put(store, clock + 10 * SECOND)
    clock += 59 * SECOND
    await put(store, clock + 3600 * SECOND)
    await settle()
    expect(await store.get(expired)).toBeDefined()
    // Control: it was sweepable all along.
    expect(await store.sweep()).toBe(1)
  })

  it('after a background sweep, the next one waits another sweepInterval', async () => {
    const store = newStore(60)
    const first = await put(store, clock + SECOND)
    clock += 60 * SECOND
    await put(store, clock + 3600 * SECOND)
    await vi.waitFor(async () => {
      expect(await store.get(first)).toBeUndefined()
    }, { timeout: 3000, interval: 10 })
    const second = await put(store, clock + SECOND)
    clock += 30 * SECOND
    await put(store, clock + 3600 * SECOND)
    await settle()
    expect(await store.get(second)).toBeDefined()
    clock += 30 * SECOND
    await put(store, clock + 3600 * SECOND)
    await vi.waitFor(async () => {
      expect(await store.get(second)).toBeUndefined()
    }, { timeout: 3000, interval: 10 })
  })

  it('an explicit sweep() restarts the interval of the background sweep', async () => {
    const store = newStore(60)
    clock += 50 * SECOND
    expect(await store.sweep()).toBe(0)
    const expired = await put(store, clock + SECOND)
    clock += 30 * SECOND // 80 s since the store was made, 30 s since the last sweep
    await put(store, clock + 3600 * SECOND)
    await settle()
    expect(await store.get(expired)).toBeDefined()
    clock += 30 * SECOND
    await put(store, clock + 3600 * SECOND)
    await vi.waitFor(async () => {
      expect(await store.get(expired)).toBeUndefined()
    }, { timeout: 3000, interval: 10 })
  })

  it('sweepInterval: 0 never sweeps automatically, however far the clock moves', async () => {
    const store = newStore(0)
    const expired = await put(store, clock + SECOND)
    for (const step of [60, 3600, 86_400, 365 * 86_400]) {
      clock += step * SECOND
      await put(store, clock + 3600 * SECOND)
    }
    await settle()
    expect(await store.get(expired)).toBeDefined()
    // Control: sweep() on demand still works, and removes the record and the other expired ones.
    expect(await store.sweep()).toBe(4)
    expect(await store.get(expired)).toBeUndefined()
  })
})
