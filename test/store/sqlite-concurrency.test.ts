/**
 * The default store, UnstorageSessionStore on the module's SQLite driver, holds what
 * RedisSessionStore holds, over real HTTP on a real database file: the concurrency scenarios of
 * the Redis tests (parallel disjoint writes, destroy racing a slow save, concurrent regenerates)
 * and the devices index (concurrent sign-ins listed, the cap under concurrent sign-ins), first
 * in one process, then across OS processes sharing the file: child servers of their own
 * (test/support/sqlite-child-server.ts), as node-cluster workers or two instances would.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { DatabaseSync } from 'node:sqlite'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createStorage } from 'unstorage'
import type { Storage } from 'unstorage'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { UnstorageSessionStore, sessionSqliteDriver } from 'nuxt-server-session/h3'
import type { SessionOptions } from 'nuxt-server-session/h3'
import { storeKeyOf } from '../../src/runtime/server/core/crypto'
import { userKeyOf } from '../../src/runtime/server/core/session'
import { SECRET } from '../support/app'
import { deviceOn, devicesServer } from '../support/devices-app'
import { figure } from '../support/figure'
import { startServer, stopAll } from '../support/process'
import type { ServerProcess } from '../support/process'
import { Client, serve } from '../support/server'
import type { TestServer } from '../support/server'
import { destroyRacingSave, gatedSessionApp, parallelWrites, racingRegenerates, sqliteBackend } from '../support/store-scenarios'
import type { GatedApp } from '../support/store-scenarios'

const dirs: string[] = []
afterAll(() => Promise.all(dirs.map(dir => rm(dir, { recursive: true, force: true }))))

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'nss-sqlite-concurrency-'))
  dirs.push(dir)
  return dir
}

/** The handle a session id is listed under: the tail of its store key. */
const handleOfId = async (id: string) => (await storeKeyOf(id)).slice(-24)

/** How many rows of the database name the user: its devices index, as stored. */
function indexRows(file: string, user: string): Promise<number> {
  return userKeyOf(user).then((userKey) => {
    const db = new DatabaseSync(file)
    try {
      return Number(db.prepare('SELECT count(*) AS n FROM nss_items WHERE user_key = ?').get(userKey)!.n)
    }
    finally {
      db.close()
    }
  })
}

/** `count` devices of `servers` (round robin) sign `user` in at once; their statuses, and how many are still signed in and listed after. */
async function concurrentSignIns(servers: readonly { url: string }[], path: string, user: string, count: number) {
  const devices = Array.from({ length: count }, (_, i) => deviceOn(servers[i % servers.length]!, `d${i}`))
  const statuses = (await Promise.all(devices.map(d => d.fetch(`${path}/sign-in/${user}`)))).map(r => r.status)
  const alive = (await Promise.all(devices.map(async d => (await d.get(`${path}/me`)).userId === user))).filter(Boolean).length
  const listed = (await devices[0]!.get(`${path}/list-of/${user}`)).length
  return { statuses, ok: statuses.filter(s => s === 200).length, alive, listed }
}

describe('[nuxt-server-session] SQLite store in one process over HTTP: the Redis concurrency scenarios', () => {
  let file: string
  let storage: Storage
  let store: UnstorageSessionStore
  let gated: GatedApp
  let server: TestServer
  let backend: ReturnType<typeof sqliteBackend>

  beforeAll(async () => {
    file = join(await tempDir(), 'sessions.sqlite')
    storage = createStorage({ driver: sessionSqliteDriver({ path: file }) })
    store = new UnstorageSessionStore(storage, { prefix: 'sess' })
    gated = gatedSessionApp(store)
    server = await serve(gated.app)
    backend = sqliteBackend(file)
  })
  afterAll(async () => {
    backend?.close()
    await server?.close()
    await storage?.dispose()
  })

  it('50 parallel requests with one session, each setting its own key: all 50 kept (the merge runs inside one transaction)', async () => {
    const kept = await parallelWrites(server.url, 50)
    figure(`50 parallel disjoint writes to one session, SQLite default store, one process: ${kept}/50 kept`)
    expect(kept).toBe(50)
    // The store found the database and uses it natively.
    expect(typeof store.move).toBe('function')
  })

  it('destroy racing a slow automatic save: the save answers 409, writes nothing, the session stays destroyed', async () => {
    await destroyRacingSave(server.url, gated, backend, 'auto')
  })

  it('destroy racing a slow explicit save(): save() throws SessionGoneError (409), nothing is written back', async () => {
    await destroyRacingSave(server.url, gated, backend, 'explicit')
  })

  it('two concurrent regenerates of one session (5 rounds): exactly one wins, the other gets 409, the old id is dead, exactly one row holds the data', async () => {
    for (let round = 0; round < 5; round++) await racingRegenerates(server.url, gated, backend)
  })
})

describe('[nuxt-server-session] SQLite store in one process: the devices index lives in the same database', () => {
  let file: string
  let storage: Storage
  const servers: TestServer[] = []
  let plain: TestServer
  let evicting: TestServer
  let refusing: TestServer
  let users = 0
  const newUser = (name: string) => `${name}-${++users}`

  beforeAll(async () => {
    file = join(await tempDir(), 'sessions.sqlite')
    storage = createStorage({ driver: sessionSqliteDriver({ path: file }) })
    const options: SessionOptions = { store: new UnstorageSessionStore(storage, { prefix: 'sess' }), secret: SECRET, devices: { userAgent: true } }
    plain = await devicesServer(options)
    evicting = await devicesServer({ ...options, maxSessionsPerUser: 2 })
    refusing = await devicesServer({ ...options, maxSessionsPerUser: 2, sessionLimit: 'refuse' })
    servers.push(plain, evicting, refusing)
  })
  afterAll(async () => {
    await Promise.all(servers.map(s => s.close()))
    await storage?.dispose()
  })

  it('two sign-ins of one user at the same time are both listed (10 rounds); the index is the rows naming the user', async () => {
    for (let round = 0; round < 10; round++) {
      const user = newUser('dave')
      const [a, b] = [deviceOn(plain, 'A'), deviceOn(plain, 'B')]
      const [ra, rb] = await Promise.all([a.fetch(`/sign-in/${user}`), b.fetch(`/sign-in/${user}`)])
      expect([ra.status, rb.status]).toEqual([200, 200])
      const listed = await a.get('/list')
      expect(listed.map((s: any) => s.device).sort()).toEqual(['A', 'B'])
      expect(listed.filter((s: any) => s.current).map((s: any) => s.device)).toEqual(['A'])
      expect(await indexRows(file, user)).toBe(2)
    }
  })

  it('a destroyed or regenerated session leaves the index with its own row, in the same statement', async () => {
    const user = newUser('erin')
    const [a, b] = [deviceOn(plain, 'A'), deviceOn(plain, 'B')]
    await a.get(`/sign-in/${user}`)
    const { id: idB } = await b.get(`/sign-in/${user}`)
    expect(await indexRows(file, user)).toBe(2)
    await a.get('/destroy')
    expect(await indexRows(file, user)).toBe(1)
    const { before, after } = await b.get('/regenerate')
    expect(before).toBe(idB)
    expect(await indexRows(file, user)).toBe(1)
    expect((await b.get('/list')).map((s: any) => s.handle)).toEqual([await handleOfId(after)])
  })

  it('regenerate() of a signed-in session keeps its sign-in time and device label (the row moves with them)', async () => {
    const user = newUser('grace')
    const laptop = deviceOn(plain, 'Laptop/2.0')
    // An anonymous visit first: the session begins before the sign-in.
    await laptop.get('/set/cart/1')
    await new Promise(resolve => setTimeout(resolve, 30))
    await laptop.get(`/sign-in/${user}`)
    const [before] = await laptop.get('/list')
    // The browser updated itself meanwhile: the listed device stays what it signed in as.
    const regenerated = await laptop.c.json('/regenerate', { headers: { 'user-agent': 'Laptop/3.0' } })
    const [after] = await laptop.get('/list')
    expect(after.handle).toBe(await handleOfId(regenerated.after))
    expect({ createdAt: after.createdAt, device: after.device }).toEqual({ createdAt: before.createdAt, device: 'Laptop/2.0' })
  })

  it('\'evict-oldest\' ends the session signed in longest ago, not the one whose anonymous visit began first; re-signing in the current session does not count', async () => {
    const user = newUser('lou')
    const [early, second, third] = ['early', 'second', 'third'].map(ua => deviceOn(evicting, ua))
    await early!.get('/set/cart/1')
    for (const d of [second!, early!, third!]) {
      await new Promise(resolve => setTimeout(resolve, 20))
      await d.get(`/sign-in/${user}`)
    }
    expect((await second!.get('/me')).isNew).toBe(true)
    expect((await third!.get('/list')).map((s: any) => s.device)).toEqual(['early', 'third'])
    // The newest signs in again: still two, the same two.
    expect((await third!.fetch(`/sign-in/${user}`)).status).toBe(200)
    expect((await early!.get('/me')).isNew).toBe(false)
    expect((await third!.get('/list')).map((s: any) => s.device)).toEqual(['early', 'third'])
    expect(await indexRows(file, user)).toBe(2)
  })

  it('\'refuse\': a third sign-in answers 409 and leaves the device\'s anonymous session and the two others as they were', async () => {
    const user = newUser('jack')
    const third = deviceOn(refusing, 'third')
    const { id: anonymousId } = await third.get('/set/cart/3')
    for (const d of ['first', 'second'].map(ua => deviceOn(refusing, ua))) expect((await d.fetch(`/sign-in/${user}`)).status).toBe(200)
    expect((await third.fetch(`/sign-in/${user}`)).status).toBe(409)
    expect(await third.get('/me')).toMatchObject({ isNew: false, id: anonymousId, data: { cart: '3' }, userId: null })
    expect((await third.get(`/list-of/${user}`)).map((s: any) => s.device)).toEqual(['first', 'second'])
    expect(await indexRows(file, user)).toBe(2)
  })

  it('\'refuse\' holds the cap under concurrent sign-ins: of 4 at once, 2 succeed and 2 get a 409 (10 rounds)', async () => {
    const rounds = []
    for (let round = 0; round < 10; round++) {
      const { statuses, ok, alive, listed } = await concurrentSignIns([refusing], '', newUser('max'), 4)
      expect(statuses.filter(s => s !== 200 && s !== 409)).toEqual([])
      rounds.push({ ok, alive, listed })
    }
    expect(rounds).toEqual(Array.from({ length: 10 }, () => ({ ok: 2, alive: 2, listed: 2 })))
  })

  it('\'evict-oldest\' under concurrent sign-ins keeps the cap\'s worth of sessions: of 4 at once, 2 remain (10 rounds)', async () => {
    const rounds = []
    for (let round = 0; round < 10; round++) {
      const user = newUser('ned')
      const { statuses, alive, listed } = await concurrentSignIns([evicting], '', user, 4)
      expect(statuses).toEqual([200, 200, 200, 200])
      rounds.push({ alive, listed, rows: await indexRows(file, user) })
    }
    expect(rounds).toEqual(Array.from({ length: 10 }, () => ({ alive: 2, listed: 2, rows: 2 })))
  })
})

describe('[nuxt-server-session] SQLite store: a user\'s sign-ins are ordered as they reach the database', () => {
  it('an entry added after another lists after it, even when its clock was behind (another process, a slow request): the cap\'s order is the order of commits', async () => {
    const file = join(await tempDir(), 'sessions.sqlite')
    const storage = createStorage({ driver: sessionSqliteDriver({ path: file }) })
    const store = new UnstorageSessionStore(storage, { prefix: 'sess' })
    try {
      const now = Date.now()
      const userKey = await userKeyOf('olga')
      const keys = await Promise.all([0, 1, 2].map(i => storeKeyOf(`id-${i}-${now}`)))
      for (const key of keys) await store.set(key, { createdAt: now, touchedAt: now, expiresAt: now + 60_000, data: {}, userId: 'olga' }, { create: true, changed: [], removed: [], ttl: 60 })
      // Sign-in clocks read before the writes, the writes landing in another order.
      await store.indexAdd(userKey, keys[0]!.slice(-24), { key: keys[0]!, createdAt: now + 20 }, 60)
      await store.indexAdd(userKey, keys[1]!.slice(-24), { key: keys[1]!, createdAt: now + 10 }, 60)
      await store.indexAdd(userKey, keys[2]!.slice(-24), { key: keys[2]!, createdAt: now + 30 }, 60)
      const entries = Object.values(await store.indexList(userKey)).sort((x, y) => x.createdAt - y.createdAt)
      expect(entries.map(e => e.key)).toEqual(keys)
      // Within a few ms of the clocks that made them.
      expect(entries.map(e => e.createdAt)).toEqual([now + 20, now + 21, now + 30])
      // Adding an entry again for the same user (after a move) keeps its sign-in time.
      await store.indexAdd(userKey, keys[0]!.slice(-24), { key: keys[0]!, createdAt: now + 99 }, 60)
      expect((await store.indexList(userKey))[keys[0]!.slice(-24)]!.createdAt).toBe(now + 20)
    }
    finally {
      await storage.dispose()
    }
  })
})

const CHILD = fileURLToPath(new URL('../support/sqlite-child-server.ts', import.meta.url))
const JITI_REGISTER = new URL('../../node_modules/jiti/lib/jiti-register.mjs', import.meta.url).href
const H3_SOURCES = fileURLToPath(new URL('../../src/runtime/h3.ts', import.meta.url))

describe('[nuxt-server-session] SQLite store across OS processes sharing one database file', () => {
  let dir: string
  let file: string
  let a: ServerProcess
  let b: ServerProcess
  let reader: ServerProcess
  let users = 0
  const newUser = (name: string) => `${name}-${++users}`

  /** A child server of its own process on the shared file, run from the sources through jiti. */
  const child = () => startServer(CHILD, {
    cwd: dir,
    command: [process.execPath, '--import', JITI_REGISTER],
    env: { NSS_SQLITE_FILE: file, JITI_ALIAS: JSON.stringify({ 'nuxt-server-session/h3': H3_SOURCES }) },
    timeout: 60_000,
  })

  beforeAll(async () => {
    dir = await tempDir()
    file = join(dir, 'sessions.sqlite')
    // One first, so that the others open a database that exists (they would also create it together).
    a = await child()
    ;[b, reader] = await Promise.all([child(), child()])
  }, 120_000)
  afterAll(async () => {
    await stopAll()
  })

  it('the three servers are three OS processes on the one file', async () => {
    const pids = await Promise.all([a, b, reader].map(async s => (await new Client(s.url).json('/pid')).pid))
    expect(new Set([process.pid, ...pids]).size).toBe(4)
  })

  it('two processes signing one user in 200 times each: 400 of 400 listed, and a third process listing meanwhile never sees an empty or shorter index', async () => {
    const user = newUser('ada')
    // A first session, so that the index is never legitimately empty while the others come.
    await deviceOn(a, 'first').get(`/plain/sign-in/${user}`)
    const PER_PROCESS = 200
    const IN_FLIGHT = 8
    const ids: string[] = []
    let writing = true

    /** `PER_PROCESS` sign-ins on `server`, `IN_FLIGHT` at a time, each a new device. */
    const signIns = async (server: ServerProcess) => {
      let next = 0
      await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
        while (next < PER_PROCESS) {
          const i = next++
          const res = await deviceOn(server, `${server.port}-${i}`).fetch(`/plain/sign-in/${user}`)
          expect(res.status).toBe(200)
          ids.push((await res.json()).id)
        }
      }))
    }

    const reads = { total: 0, empty: 0, shorter: 0, smallest: Infinity, largest: 0 }
    const watching = (async () => {
      const watcher = new Client(reader.url)
      const deadline = Date.now() + 120_000
      let last = 0
      while (writing && reads.total < 20_000 && Date.now() < deadline) {
        const res = await watcher.fetch(`/plain/list-of/${user}`)
        expect(res.status).toBe(200)
        const count = (await res.json()).length
        reads.total++
        if (count === 0) reads.empty++
        if (count < last) reads.shorter++
        reads.smallest = Math.min(reads.smallest, count)
        reads.largest = Math.max(reads.largest, count)
        last = count
      }
    })()

    const started = performance.now()
    try {
      await Promise.all([signIns(a), signIns(b)])
    }
    finally {
      writing = false
    }
    const took = performance.now() - started
    await watching

    const listed = await deviceOn(b, 'check').get(`/plain/list-of/${user}`)
    const handles = new Set(listed.map((s: any) => s.handle))
    const kept = (await Promise.all(ids.map(handleOfId))).filter(h => handles.has(h)).length
    figure(`two processes signing one user in ${PER_PROCESS} times each (${IN_FLIGHT} at a time each, ${Math.round(took)} ms), SQLite default store: ${kept}/${2 * PER_PROCESS} listed; a third process listing the index meanwhile: ${reads.total} reads, ${reads.empty} empty, ${reads.shorter} shorter than the one before (sizes ${reads.smallest} to ${reads.largest})`)
    expect(ids).toHaveLength(2 * PER_PROCESS)
    expect(kept).toBe(2 * PER_PROCESS)
    expect(listed).toHaveLength(2 * PER_PROCESS + 1)
    expect(await indexRows(file, user)).toBe(2 * PER_PROCESS + 1)
    expect(reads.total).toBeGreaterThan(10)
    expect(reads.empty).toBe(0)
    expect(reads.shorter).toBe(0)
  }, 180_000)

  it('50 parallel disjoint writes to one session, split across the two processes: 50/50 kept', async () => {
    const kept = await parallelWrites([a.url, b.url], 50)
    figure(`50 parallel disjoint writes to one session split across two processes, SQLite default store: ${kept}/50 kept`)
    expect(kept).toBe(50)
  }, 60_000)

  it('maxSessionsPerUser: 2 holds across the processes under 10 parallel sign-ins (\'refuse\': 2 succeed; \'evict-oldest\': 2 remain), 30 rounds each', async () => {
    const ROUNDS = 30
    const refused = []
    const evicted = []
    for (let round = 0; round < ROUNDS; round++) {
      const r = await concurrentSignIns([a, b], '/refuse', newUser('max'), 10)
      expect(r.statuses.filter(s => s !== 200 && s !== 409)).toEqual([])
      refused.push({ ok: r.ok, alive: r.alive, listed: r.listed })
      const user = newUser('ned')
      const e = await concurrentSignIns([a, b], '/evict', user, 10)
      expect(e.statuses).toEqual(Array.from({ length: 10 }, () => 200))
      evicted.push({ alive: e.alive, listed: e.listed, rows: await indexRows(file, user) })
    }
    const over = (rounds: { alive: number }[]) => rounds.filter(r => r.alive > 2).length
    figure(`maxSessionsPerUser 2, 10 parallel sign-ins of one user over two processes, ${ROUNDS} rounds per limit, SQLite default store: 'refuse' let more than 2 in in ${over(refused)} rounds (most ${Math.max(...refused.map(r => r.alive))}); 'evict-oldest' left more than 2 in ${over(evicted)} rounds (most ${Math.max(...evicted.map(r => r.alive))})`)
    expect(refused).toEqual(Array.from({ length: ROUNDS }, () => ({ ok: 2, alive: 2, listed: 2 })))
    expect(evicted).toEqual(Array.from({ length: ROUNDS }, () => ({ alive: 2, listed: 2, rows: 2 })))
  }, 120_000)
})
