/**
 * A sweep tells who it deleted (`onSwept`, which the modules turn into `session:expired` with
 * reason 'sweep'): the store key and the user of each expired session, on the SQLite default (in
 * its maintenance thread and page by page on the event loop), on a memory mount and on
 * PostgreSQL; live sessions are neither deleted nor reported.
 */
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { createStorage } from 'unstorage'
import memoryDriver from 'unstorage/drivers/memory'
import { afterAll, describe, expect, it } from 'vitest'
import { PostgresSessionStore, UnstorageSessionStore, sessionSqliteDriver } from 'nuxt-server-session/h3'
import type { SessionRecord, SessionStore } from 'nuxt-server-session/h3'
import { postgresAddress } from '../support/services'
import { fakeSessionId, sha256Hex } from './conformance'

const HOUR = 3_600_000

/** Three expired sessions (two of them signed in) and two live ones; the expected report. */
async function fill(store: SessionStore): Promise<{ expired: [string, string | undefined][], live: string[] }> {
  const now = Date.now()
  const record = (expiresAt: number, userId?: string): SessionRecord => ({ createdAt: now - HOUR, touchedAt: now - HOUR, expiresAt, data: { n: 1 }, ...(userId ? { userId } : {}) })
  const expired: [string, string | undefined][] = []
  for (const userId of ['ada', undefined, 'bob']) {
    const key = await sha256Hex(fakeSessionId())
    await store.set(key, record(now - 1000, userId), { create: true, changed: ['n'], removed: [], ttl: 1 })
    expired.push([key, userId])
  }
  const live: string[] = []
  for (let i = 0; i < 2; i++) {
    const key = await sha256Hex(fakeSessionId())
    await store.set(key, record(now + HOUR, 'cleo'), { create: true, changed: ['n'], removed: [], ttl: 3600 })
    live.push(key)
  }
  return { expired, live }
}

const sorted = (list: [string, string | undefined][]) => [...list].sort(([a], [b]) => a.localeCompare(b))

describe('[nuxt-server-session] a sweep reports the sessions it deleted (onSwept)', () => {
  const cleanups: (() => Promise<void>)[] = []
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup()
  })

  for (const mode of ['maintenance thread', 'event loop, page by page'] as const) {
    it(`the SQLite default (${mode}): each expired session's key and user, the live ones kept`, async () => {
      const dir = await mkdtemp(join(tmpdir(), 'nss-sweep-report-'))
      const driver = sessionSqliteDriver({ path: join(dir, 'sessions.sqlite') })
      const storage = createStorage({ driver })
      cleanups.push(async () => {
        await storage.dispose()
        await rm(dir, { recursive: true, force: true })
      })
      const store = new UnstorageSessionStore(storage)
      const { expired, live } = await fill(store)
      const reported: [string, string | undefined][] = []
      const report = (key: string, userId: string | undefined) => reported.push([key, userId])
      if (mode === 'maintenance thread') {
        store.onSwept = report
        expect(await store.sweep()).toBe(3)
      }
      else {
        // The SQLite store under the mount sweeps on the event loop when it is given batches to tell.
        const sqlite = (store as unknown as { backend: { store: { sweep: (onBatch: (n: number) => void, onExpired: typeof report) => Promise<number> } } }).backend.store
        const batches: number[] = []
        expect(await sqlite.sweep(n => batches.push(n), report)).toBe(3)
        expect(batches.reduce((a, b) => a + b, 0)).toBe(3)
      }
      expect(sorted(reported)).toEqual(sorted(expired))
      for (const key of live) expect(await store.get(key)).toBeDefined()
      for (const [key] of expired) expect(await store.get(key)).toBeUndefined()
    })
  }

  it('a memory mount: each expired session\'s key and user', async () => {
    const storage = createStorage({ driver: memoryDriver() })
    cleanups.push(() => storage.dispose())
    const store = new UnstorageSessionStore(storage)
    const { expired, live } = await fill(store)
    const reported: [string, string | undefined][] = []
    store.onSwept = (key, userId) => reported.push([key, userId])
    await store.sweep()
    expect(sorted(reported)).toEqual(sorted(expired))
    for (const key of live) expect(await store.get(key)).toBeDefined()
  })

  it('PostgreSQL: each expired session\'s key and user, in the sweep\'s own statements', async () => {
    const schema = `nss_sweep_report_${randomBytes(6).toString('hex')}`
    const admin = new pg.Client({ connectionString: postgresAddress().url })
    await admin.connect()
    await admin.query(`CREATE SCHEMA ${schema}`)
    const store = new PostgresSessionStore(postgresAddress().url, { schema })
    cleanups.push(async () => {
      await store.close()
      await admin.query(`DROP SCHEMA ${schema} CASCADE`)
      await admin.end()
    })
    const { expired, live } = await fill(store)
    const reported: [string, string | undefined][] = []
    expect(await store.sweep(undefined, (key, userId) => reported.push([key, userId]))).toBe(3)
    expect(sorted(reported)).toEqual(sorted(expired))
    for (const key of live) expect(await store.get(key)).toBeDefined()
  })
})
