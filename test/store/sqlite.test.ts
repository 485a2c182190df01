/**
 * The module's SQLite driver and UnstorageSessionStore on it: the conformance suite (with raw
 * access to the rows through a connection of the test's own), the schema, the storage API, files
 * and their modes, native expiry and the batched sweep.
 */
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { DatabaseSync } from 'node:sqlite'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createStorage } from 'unstorage'
import { afterAll, describe, expect, it } from 'vitest'
import { UnstorageSessionStore, sessionSqliteDriver } from 'nuxt-server-session/h3'
import type { SessionRecord } from 'nuxt-server-session/h3'
import { SqliteSessionStore } from '../../src/runtime/server/stores/sqlite'
import { figure } from '../support/figure'
import { run } from '../support/process'
import { describeStoreConformance, fakeSessionId, sha256Hex } from './conformance'

const dirs: string[] = []
afterAll(() => Promise.all(dirs.map(dir => rm(dir, { recursive: true, force: true }))))

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'nss-sqlite-'))
  dirs.push(dir)
  return dir
}

const HOUR = 3_600_000
function record(data: Record<string, unknown>, expiresAt = Date.now() + HOUR): SessionRecord {
  return { createdAt: Date.now(), touchedAt: Date.now(), expiresAt, data }
}

describeStoreConformance('UnstorageSessionStore on the module\'s SQLite driver (a real database file)', async () => {
  const file = join(await tempDir(), 'sessions.sqlite')
  const driver = sessionSqliteDriver({ path: file })
  const storage = createStorage({ driver })
  const store = new UnstorageSessionStore(storage, { prefix: 'sess' })
  // Opened by the store's first call; the test's own connection then looks at the rows.
  await store.get('0'.repeat(64))
  const raw = new DatabaseSync(file)
  return {
    store,
    raw: {
      keys: async () => raw.prepare('SELECT key FROM nss_items').all().map(row => row.key as string),
      get: async fullKey => (raw.prepare('SELECT value FROM nss_items WHERE key = ?').get(fullKey)?.value as string | undefined) ?? null,
      put: async (fullKey, value) => {
        raw.prepare('UPDATE nss_items SET value = ? WHERE key = ?').run(value, fullKey)
      },
    },
    cleanup: async () => {
      raw.close()
      await storage.dispose()
    },
  }
})

describe('[nuxt-server-session] sessionSqliteDriver: the database, its schema and its files', () => {
  it('creates the folder 0700 and the database, its WAL and shared-memory files 0600, in WAL mode with schema version 1', async () => {
    const dir = join(await tempDir(), 'deep', 'session')
    const file = join(dir, 'sessions.sqlite')
    const storage = createStorage({ driver: sessionSqliteDriver({ path: file, createFolder: true }) })
    const store = new UnstorageSessionStore(storage, { prefix: 'sess' })
    const key = await sha256Hex(fakeSessionId())
    expect(await store.set(key, record({ a: 1 }), { create: true, changed: ['a'], removed: [], ttl: 60 })).toBe(true)
    expect((await stat(dir)).mode & 0o777).toBe(0o700)
    const files = (await readdir(dir)).sort()
    expect(files).toEqual(['sessions.sqlite', 'sessions.sqlite-shm', 'sessions.sqlite-wal'])
    for (const name of files) expect({ name, mode: (await stat(join(dir, name))).mode & 0o777 }).toEqual({ name, mode: 0o600 })
    const raw = new DatabaseSync(file)
    expect(raw.prepare('PRAGMA journal_mode').get()).toMatchObject({ journal_mode: 'wal' })
    expect(raw.prepare('SELECT value FROM nss_meta WHERE key = \'schema\'').get()).toMatchObject({ value: '1' })
    const row = raw.prepare('SELECT key, value, expires_at FROM nss_items').get()!
    expect(row.key).toBe(`sess:${key}`)
    expect(JSON.parse(row.value as string)).toMatchObject({ data: { a: 1 } })
    expect(typeof row.expires_at).toBe('number')
    raw.close()
    await storage.dispose()
  })

  it('a configured path whose folder does not exist is an error naming the path, and creates nothing', async () => {
    const dir = await tempDir()
    const file = join(dir, 'not-mounted', 'sessions.sqlite')
    const driver = sessionSqliteDriver({ path: file })
    expect(() => driver.open()).toThrow(/folder of the session database .*not-mounted.* does not exist/)
    expect(await readdir(dir)).toEqual([])
  })

  it('works as a plain unstorage driver: useStorage(\'session\') keeps any key, with ttl, keys and clear', async () => {
    const storage = createStorage()
    storage.mount('session', sessionSqliteDriver({ path: join(await tempDir(), 's.sqlite') }))
    await storage.setItem('session:a:b', { x: 1 })
    await storage.setItem('session:c', 'text', { ttl: 1 })
    expect(await storage.getItem('session:a:b')).toEqual({ x: 1 })
    expect(await storage.hasItem('session:c')).toBe(true)
    expect((await storage.getKeys('session')).sort()).toEqual(['session:a:b', 'session:c'])
    await new Promise(resolve => setTimeout(resolve, 1100))
    expect(await storage.getItem('session:c')).toBeNull()
    await storage.removeItem('session:a:b')
    expect(await storage.getKeys('session')).toEqual([])
    await storage.setItem('session:d', 1)
    await storage.clear('session')
    expect(await storage.getKeys('session')).toEqual([])
    await storage.dispose()
  })

  it('offers move (regenerate() is atomic: of two moves of one row, one wins)', async () => {
    const store = new UnstorageSessionStore(createStorage({ driver: sessionSqliteDriver({ path: join(await tempDir(), 's.sqlite') }) }))
    const [from, to, other] = await Promise.all([0, 1, 2].map(() => sha256Hex(fakeSessionId())))
    await store.set(from!, record({ a: 1 }), { create: true, changed: ['a'], removed: [], ttl: 60 })
    expect(typeof store.move).toBe('function')
    const write = { create: false, changed: ['b'], removed: [], ttl: 60 }
    const results = await Promise.all([store.move!(from!, to!, record({ a: 1, b: 2 }), write), store.move!(from!, other!, record({ a: 1, b: 3 }), write)])
    expect(results.sort()).toEqual([false, true])
    expect(await store.get(from!)).toBeUndefined()
    const moved = [await store.get(to!), await store.get(other!)].filter(Boolean)
    expect(moved).toHaveLength(1)
  })

  it('the sweep deletes 100,000 expired sessions in batches with the event loop running between them, and keeps live ones', async () => {
    const file = join(await tempDir(), 's.sqlite')
    const storage = createStorage({ driver: sessionSqliteDriver({ path: file }) })
    const store = new UnstorageSessionStore(storage, { prefix: 'sess', sweepInterval: 0 })
    await store.get('0'.repeat(64))
    const raw = new DatabaseSync(file)
    const past = Date.now() - 1000
    const text = JSON.stringify({ v: 1, createdAt: past - 1000, touchedAt: past - 1000, expiresAt: past, data: { n: 1 } })
    raw.exec('BEGIN')
    const insert = raw.prepare('INSERT INTO nss_items (key, value, expires_at) VALUES (?, ?, ?)')
    for (let i = 0; i < 100_000; i++) insert.run(`sess:${i.toString(16).padStart(64, '0')}`, text, past)
    raw.exec('COMMIT')
    const live = await sha256Hex(fakeSessionId())
    await store.set(live, record({ live: true }), { create: true, changed: ['live'], removed: [], ttl: 3600 })

    // A ticker on the event loop: its longest gap is the longest the sweep held the loop.
    let last = performance.now()
    let longest = 0
    let ticks = 0
    const ticker = setInterval(() => {
      const t = performance.now()
      longest = Math.max(longest, t - last)
      last = t
      ticks++
    }, 1)
    const started = performance.now()
    const removed = await store.sweep()
    const total = performance.now() - started
    clearInterval(ticker)
    expect(removed).toBe(100_000)
    expect(ticks).toBeGreaterThan(100)
    expect(raw.prepare('SELECT count(*) AS n FROM nss_items').get()).toMatchObject({ n: 1 })
    expect((await store.get(live))?.data).toEqual({ live: true })
    figure(`SQLite sweep of 100,000 expired sessions: ${Math.round(total)} ms in all, longest event-loop block ${longest.toFixed(1)} ms (ticker at 1 ms, ${ticks} ticks)`)
    raw.close()
    await storage.dispose()
  })

  it('without the maintenance thread, the sweep goes page by page on the event loop (1,000 rows a statement) and keeps live rows and rows of other prefixes', async () => {
    const file = join(await tempDir(), 's.sqlite')
    const driver = sessionSqliteDriver({ path: file })
    driver.open()
    const past = Date.now() - 1000
    const text = JSON.stringify({ v: 1, createdAt: past - 1000, touchedAt: past - 1000, expiresAt: past, data: {} })
    for (let i = 0; i < 5000; i++) driver.sessions.create(`sess:${i.toString(16).padStart(64, '0')}`, text, past)
    driver.sessions.create(`sess:${'f'.repeat(64)}`, text, Date.now() + HOUR)
    driver.sessions.create(`other:${'0'.repeat(64)}`, text, past)
    const pages: number[] = []
    const removed = await new SqliteSessionStore(driver.sessions, { prefix: 'sess' }).sweep(n => pages.push(n))
    expect(removed).toBe(5000)
    expect(pages.length).toBeGreaterThanOrEqual(5)
    expect(Math.max(...pages)).toBeLessThanOrEqual(1000)
    expect(driver.sessions.get(`sess:${'f'.repeat(64)}`)).toBe(text)
    expect(driver.sessions.get(`other:${'0'.repeat(64)}`)).toBe(text)
    await driver.dispose?.()
  })
})

describe('[nuxt-server-session] sessionSqliteDriver keeps no process alive', () => {
  it('a process that opened the database (its maintenance thread running) and wrote to it exits by itself', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'nss-sqlite-exit-'))
    try {
      const script = join(dir, 'open.ts')
      const source = new URL('../../src/runtime/server/storage/sqlite.ts', import.meta.url).pathname
      await writeFile(script, `import sessionSqliteDriver from ${JSON.stringify(source)}
const driver = sessionSqliteDriver({ path: ${JSON.stringify(join(dir, 'db.sqlite'))}, createFolder: true })
driver.open()
await driver.setItem('sess:a', '{"x":1}', {})
console.log('written')
`)
      // A server's graceful shutdown closes its sockets and waits for the loop to empty: a
      // maintenance thread that holds the loop would keep it running for ever.
      const result = await run(process.execPath, ['--import', 'jiti/register', script], { cwd: fileURLToPath(new URL('../..', import.meta.url)), timeout: 15_000 })
      expect(result.output).toContain('written')
      expect(result.code).toBe(0)
    }
    finally {
      await rm(dir, { recursive: true, force: true })
    }
  }, 20_000)
})
