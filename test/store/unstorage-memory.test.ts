import { createStorage } from 'unstorage'
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
