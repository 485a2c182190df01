import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createStorage, prefixStorage } from 'unstorage'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sessionFsDriver, UnstorageSessionStore } from 'nuxt-server-session/h3'
import { recordingLogger, sessionApp } from '../support/app'
import { figure } from '../support/figure'
import { Client, serve } from '../support/server'
import { describeStoreConformance, unstorageRaw } from './conformance'

describeStoreConformance('UnstorageSessionStore over the module\'s own fs driver (the default mount on server presets)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nss-fs-'))
  const storage = createStorage({ driver: sessionFsDriver({ base: dir }) })
  return {
    store: new UnstorageSessionStore(storage, { prefix: 'sess' }),
    raw: unstorageRaw(storage),
    cleanup: async () => {
      await storage.dispose()
      await rm(dir, { recursive: true, force: true })
    },
  }
})

describe('[nuxt-server-session] the module\'s fs driver', () => {
  let dir: string
  const storage = () => createStorage({ driver: sessionFsDriver({ base: dir }) })

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'nss-fs-driver-'))
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('keeps one file per key, a:b:c at <base>/a/b/c, and lists, removes and clears them', async () => {
    const s = storage()
    await s.setItem('sess:aa', 'one')
    await s.setItem('sess:idx:bb', 'two')
    expect(await readdir(join(dir, 'sess'))).toEqual(expect.arrayContaining(['aa', 'idx']))
    expect((await s.getKeys()).sort()).toEqual(['sess:aa', 'sess:idx:bb'])
    expect(await s.getKeys('sess:idx')).toEqual(['sess:idx:bb'])
    expect(await s.hasItem('sess:aa')).toBe(true)
    await s.removeItem('sess:aa')
    await s.removeItem('sess:aa')
    expect(await s.hasItem('sess:aa')).toBe(false)
    expect(await s.getItem('sess:aa')).toBeNull()
    await s.clear()
    expect(await s.getKeys()).toEqual([])
  })

  it('updates a record in place: a shorter value leaves no trace of the longer one, a longer one is whole', async () => {
    const s = storage()
    const driver = sessionFsDriver({ base: dir })
    const long = JSON.stringify({ data: 'x'.repeat(500) })
    await s.setItem('sess:k1', long)
    const size = (await stat(join(dir, 'sess/k1'))).size
    const seen: (string | null)[] = []
    driver.updateItem('sess:k1', (current) => {
      seen.push(current)
      return '{"a":1}'
    })
    expect(seen).toEqual([long])
    expect(await s.getItem('sess:k1')).toEqual({ a: 1 })
    // Padded over the old bytes rather than truncated.
    expect((await stat(join(dir, 'sess/k1'))).size).toBe(size)
    const longer = JSON.stringify({ data: 'y'.repeat(900) })
    driver.updateItem('sess:k1', () => longer)
    expect(await s.getItem('sess:k1')).toEqual(JSON.parse(longer))
    // Far more slack than content: cut back to the content.
    driver.updateItem('sess:k1', () => JSON.stringify({ data: 'z'.repeat(9000) }))
    driver.updateItem('sess:k1', () => '{"b":2}')
    expect(await s.getItem('sess:k1')).toEqual({ b: 2 })
    expect((await stat(join(dir, 'sess/k1'))).size).toBeLessThan(100)
    // Nothing written when the change says so, and a missing key is null to it.
    driver.updateItem('sess:k1', () => undefined)
    expect(await s.getItem('sess:k1')).toEqual({ b: 2 })
    driver.updateItem('sess:missing', (current) => {
      seen.push(current)
      return undefined
    })
    expect(seen.at(-1)).toBeNull()
    expect(await s.hasItem('sess:missing')).toBe(false)
    // setItem writes a whole new value.
    await s.setItem('sess:k1', '{"c":3}')
    expect(await s.getItem('sess:k1')).toEqual({ c: 3 })
  })

  it('50 parallel requests that each change another key of one session keep all 50', async () => {
    const s = createStorage({ driver: sessionFsDriver({ base: join(dir, 'parallel') }) })
    const { app } = sessionApp({ store: new UnstorageSessionStore(s) })
    const server = await serve(app)
    try {
      const c = new Client(server.url)
      await c.json('/inc')
      const cookie = [...c.jar].map(([k, v]) => `${k}=${v}`).join('; ')
      const results = await Promise.all(Array.from({ length: 50 }, (_, i) => fetch(`${server.url}/set/k${i}/v${i}`, { headers: { cookie } })))
      expect(results.map(r => r.status)).toEqual(Array.from({ length: 50 }, () => 200))
      const { data } = await c.json('/read')
      const kept = Array.from({ length: 50 }, (_, i) => data[`k${i}`] === `v${i}`).filter(Boolean).length
      figure(`50 parallel writes to one session on the module's fs driver: ${kept}/50 kept`)
      expect(kept).toBe(50)
    }
    finally {
      await server.close()
    }
  })

  it('behind a prefixStorage, the store keeps, updates and deletes records where that storage puts them', async () => {
    const root = createStorage({ driver: sessionFsDriver({ base: join(dir, 'prefixed') }) })
    const store = new UnstorageSessionStore(prefixStorage(root, 'app'))
    const key = 'a'.repeat(64)
    const now = Date.now()
    const record = { createdAt: now, touchedAt: now, expiresAt: now + 60_000, data: { n: 0 } }
    expect(await store.set(key, record, { create: true, changed: ['n'], removed: [], ttl: 60 })).toBe(true)
    // Enough updates for the store to have settled how it reaches the driver.
    for (let n = 1; n <= 5; n++) {
      const next = { ...record, data: { n } }
      expect(await store.set(key, next, { create: false, changed: ['n'], removed: [], ttl: 60 })).toBe(true)
      await new Promise(resolve => setImmediate(resolve))
    }
    expect((await store.get(key))!.data).toEqual({ n: 5 })
    expect(await root.getKeys()).toEqual([`app:sess:${key}`])
    await store.delete(key)
    expect(await store.get(key)).toBeUndefined()
    expect(await root.getKeys()).toEqual([])
  })

  it('reads plain files as they are (as unstorage\'s fs drivers wrote them)', async () => {
    await writeFile(join(dir, 'plain'), '{"from":"fs-lite"}')
    expect(await storage().getItem('plain')).toEqual({ from: 'fs-lite' })
  })

  it('refuses keys that would leave the directory', async () => {
    const driver = sessionFsDriver({ base: dir })
    expect(() => driver.getItem('..:etc:passwd', {})).toThrow(/must not contain/)
    expect(() => driver.setItem!('a/b', 'x', {})).toThrow(/must not contain/)
  })

  it('a torn or damaged file is a corrupt record: a fresh session and a warning, never a 500', async () => {
    const sessions = join(dir, 'app')
    const logger = recordingLogger()
    const s = createStorage({ driver: sessionFsDriver({ base: sessions }) })
    const { app } = sessionApp({ store: new UnstorageSessionStore(s), logger })
    const server = await serve(app)
    try {
      const c = new Client(server.url)
      await c.json('/inc')
      expect(await c.json('/inc')).toMatchObject({ data: { n: 2 } })
      const [key] = await s.getKeys()
      const file = join(sessions, ...key!.split(':'))
      const text = await readFile(file, 'utf8')
      // Half of a write: the digits of the new value over the old ones, checksum unchanged.
      expect(text).toContain('"n":2')
      await writeFile(file, text.replace('"n":2', '"n":7'))
      const res = await c.fetch('/inc')
      expect(res.status).toBe(200)
      expect(await res.json()).toMatchObject({ isNew: true, data: { n: 1 } })
      expect(logger.lines.join('\n')).toMatch(/corrupt session record ignored/)
    }
    finally {
      await server.close()
    }
  })
})

describe('[nuxt-server-session] the fs driver\'s options', () => {
  it('needs a base directory', () => {
    expect(() => sessionFsDriver({ base: '' })).toThrow(/needs a `base` directory/)
  })
})
