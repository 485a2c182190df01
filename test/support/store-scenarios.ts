/**
 * Concurrency scenarios over real HTTP, shared by the tests of every store that promises no lost
 * update, no resurrection and an atomic `regenerate()` (RedisSessionStore on one node and on a
 * Cluster, UnstorageSessionStore on unstorage's redis driver and on the module's SQLite
 * database): `sessionApp()` plus gated routes that let a test hold a request after it loaded its
 * session, run another request meanwhile, then let the first one go on. The scenarios look below
 * the store through a small `BackendInspector`, one per backend.
 */
import { randomBytes } from 'node:crypto'
import { DatabaseSync } from 'node:sqlite'
import { createRouter, defineEventHandler, getRouterParam } from 'h3'
import type { App } from 'h3'
import type { Cluster, Redis } from 'ioredis'
import { expect } from 'vitest'
import { useSession } from 'nuxt-server-session/h3'
import type { PostgresQueryable, PostgresSessionStore, RedisSessionStore, SessionOptions, SessionStore } from 'nuxt-server-session/h3'
import { sha256Hex } from '../store/conformance'
import { sessionApp } from './app'
import { Client } from './server'
import { scanKeys } from './redis'

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))

export const randomToken = () => randomBytes(6).toString('hex')

/** Requests arrive (having loaded their session) and wait until the test opens the gate. */
export class Gate {
  arrived = 0
  opened: Promise<void>
  open!: () => void
  constructor() {
    this.opened = new Promise<void>((resolve) => {
      this.open = resolve
    })
  }

  /** Resolves once `count` requests have arrived; throws after `ms`. */
  async waitForArrivals(count: number, ms = 10_000): Promise<void> {
    const deadline = Date.now() + ms
    while (this.arrived < count) {
      if (Date.now() > deadline) throw new Error(`only ${this.arrived}/${count} requests reached the gate within ${ms} ms`)
      await sleep(10)
    }
  }
}

export interface GatedApp {
  app: App
  options: SessionOptions
  /** The gate of `token`, made on first use. */
  gate: (token: string) => Gate
}

/**
 * `sessionApp({ store, ...options })` plus two gated routes:
 * - `/slow/:mode/:token`: loads the session, waits at the gate, then sets `slow=<token>`; with
 *   mode `explicit` it calls `save()` and answers `{ saved, code, statusCode }`, with mode
 *   `auto` it leaves the write to the automatic save.
 * - `/regen/:token`: loads the session, waits at the gate, then `regenerate()`s it and sets
 *   `regenerated=<token>`; answers `{ before, after }` (or the error, 409 when it lost).
 */
export function gatedSessionApp(store: SessionStore, options: Partial<SessionOptions> = {}): GatedApp {
  const { app, options: sessionOptions } = sessionApp({ ...options, store })
  const gates = new Map<string, Gate>()
  const gate = (token: string) => {
    let g = gates.get(token)
    if (!g) gates.set(token, g = new Gate())
    return g
  }
  const router = createRouter()
    .get('/slow/:mode/:token', defineEventHandler(async (event) => {
      const token = getRouterParam(event, 'token')!
      const session = await useSession(event, sessionOptions)
      const g = gate(token)
      g.arrived++
      await g.opened
      session.update({ slow: token } as any)
      if (getRouterParam(event, 'mode') !== 'explicit') return { ok: true }
      try {
        await session.save()
        return { saved: true }
      }
      catch (error) {
        return { saved: false, code: (error as { code?: string }).code, statusCode: (error as { statusCode?: number }).statusCode }
      }
    }))
    .get('/regen/:token', defineEventHandler(async (event) => {
      const token = getRouterParam(event, 'token')!
      const session = await useSession(event, sessionOptions)
      const g = gate(token)
      g.arrived++
      await g.opened
      const before = session.id
      await session.regenerate()
      session.update({ regenerated: token } as any)
      return { before, after: session.id }
    }))
  app.use(router)
  return { app, options: sessionOptions, gate }
}

/** A client that sends the same cookies as `client` (a second tab of one browser). */
export function cloneClient(client: Client): Client {
  const copy = new Client(client.base)
  for (const [name, value] of client.jar) copy.jar.set(name, value)
  return copy
}

/**
 * One session, then `n` parallel requests with its cookie, each setting its own key
 * (`/set/k<i>/v<i>`), then a read. With several `urls` (servers sharing one store), request `i`
 * goes to `urls[i % urls.length]`, one cookie jar for all. Returns how many of the `n` keys
 * survived.
 */
export async function parallelWrites(urls: string | readonly string[], n = 50): Promise<number> {
  const bases = typeof urls === 'string' ? [urls] : urls
  const jar = new Map<string, string>()
  const clients = bases.map(base => Object.assign(new Client(base), { jar }))
  const client = clients[0]!
  expect((await client.fetch('/set/init/1')).status).toBe(200)
  const responses = await Promise.all(Array.from({ length: n }, (_, i) => clients[i % clients.length]!.fetch(`/set/k${i}/v${i}`)))
  expect(responses.map(r => r.status)).toStrictEqual(Array.from({ length: n }, () => 200))
  await Promise.all(responses.map(r => r.arrayBuffer()))
  const { data, isNew } = await clients.at(-1)!.json('/read')
  expect(isNew).toBe(false)
  expect(data.init).toBe('1')
  return Array.from({ length: n }, (_, i) => i).filter(i => data[`k${i}`] === `v${i}`).length
}

/**
 * A look below a store, for the scenarios: the backend's own key of a session id, whether a
 * backend key exists, and which session records hold a data field with a value.
 */
export interface BackendInspector {
  /** The backend's key of the session with this id (a Redis key, an SQLite row's key). */
  keyOfId: (id: string) => Promise<string>
  exists: (backendKey: string) => Promise<boolean>
  /** The backend keys of the session records whose data field `field` holds the string `value`. */
  holding: (field: string, value: string) => Promise<string[]>
}

/** The inspector of a RedisSessionStore's records (one hash per session), through `redis`. */
export function redisBackend(redis: Redis | Cluster, store: RedisSessionStore): BackendInspector {
  return {
    keyOfId: id => redisKeyOfId(store, id),
    exists: async key => await redis.exists(key) === 1,
    holding: (field, value) => hashesHolding(redis, store, field, value),
  }
}

/**
 * The inspector of the session rows in the module's SQLite database `file` (the store's records
 * under `<prefix>:<sha-256 of the id>`), through a connection of the test's own; `close()` ends it.
 */
export function sqliteBackend(file: string, prefix = 'sess'): BackendInspector & { close: () => void } {
  let db: DatabaseSync | undefined
  const open = () => (db ??= new DatabaseSync(file))
  return {
    keyOfId: async id => `${prefix}:${await sha256Hex(id)}`,
    exists: async key => open().prepare('SELECT 1 AS found FROM nss_items WHERE key = ?').get(key) !== undefined,
    holding: async (field, value) => open().prepare('SELECT key, value FROM nss_items WHERE substr(key, 1, ?) = ?').all(prefix.length + 1, `${prefix}:`)
      .filter(row => (JSON.parse(row.value as string) as { data?: Record<string, unknown> }).data?.[field] === value)
      .map(row => row.key as string),
    close: () => {
      db?.close()
      db = undefined
    },
  }
}

/**
 * The inspector of a PostgresSessionStore's rows (one per session, keyed by the sha-256 hex of
 * the id, the data in a jsonb column), through `db`, a client of the test's own (not the store's).
 */
export function postgresBackend(db: PostgresQueryable, store: PostgresSessionStore): BackendInspector {
  return {
    keyOfId: id => sha256Hex(id),
    exists: async key => (await db.query({ text: `SELECT 1 FROM ${store.tableName} WHERE key = $1`, values: [key] })).rows.length === 1,
    holding: async (field, value) => (await db.query({ text: `SELECT key FROM ${store.tableName} WHERE data ->> $1 = $2 ORDER BY key`, values: [field, value] })).rows.map(row => row.key as string),
  }
}

/** The Redis key of a session id in `store`. */
export async function redisKeyOfId(store: RedisSessionStore, id: string): Promise<string> {
  return store.keyOf(await sha256Hex(id))
}

/** The session hashes under the store's prefix whose field `d:<field>` holds the JSON of `value`. */
export async function hashesHolding(redis: Redis | Cluster, store: RedisSessionStore, field: string, value: string): Promise<string[]> {
  const found: string[] = []
  for (const key of await scanKeys(redis, `${store.prefix}:*`)) {
    if (await redis.hget(key, `d:${field}`) === JSON.stringify(value)) found.push(key)
  }
  return found
}

export interface RegenerateRace {
  oldId: string
  newId: string
  oldKey: string
  newKey: string
}

/**
 * Two requests with one session cookie both load the session, then both `regenerate()` it at
 * once. Checks that exactly one wins (200, new id valid and holding the data), the other gets
 * 409, the old id is dead, and exactly one record holds the session's data.
 */
export async function racingRegenerates(url: string, app: GatedApp, backend: BackendInspector): Promise<RegenerateRace> {
  const marker = `m${randomToken()}`
  const owner = new Client(url)
  const created = await owner.fetch(`/set/marker/${marker}`)
  expect(created.status).toBe(200)
  const oldId: string = (await created.json()).id
  const oldKey = await backend.keyOfId(oldId)
  expect(await backend.exists(oldKey)).toBe(true)

  const token = randomToken()
  const gate = app.gate(token)
  const tabs = [cloneClient(owner), cloneClient(owner)]
  const pending = tabs.map(tab => tab.fetch(`/regen/${token}`))
  await gate.waitForArrivals(2)
  gate.open()
  const responses = await Promise.all(pending)
  const bodies = await Promise.all(responses.map(r => r.json()))
  expect(responses.map(r => r.status).sort()).toStrictEqual([200, 409])
  const w = responses.findIndex(r => r.status === 200)
  const winner = tabs[w]!
  const { before, after } = bodies[w] as { before: string, after: string }
  const loserBody = bodies[1 - w] as { statusCode: number, statusMessage: string }
  expect(loserBody.statusCode).toBe(409)
  expect(before).toBe(oldId)
  expect(after).not.toBe(oldId)

  // The new id is valid and holds the data, plus the winner's change.
  expect(await winner.json('/read')).toMatchObject({ id: after, isNew: false, data: { marker, regenerated: token } })
  // The original id names nothing any more.
  const stale = cloneClient(owner)
  const staleRead = await stale.json('/read')
  expect(staleRead.isNew).toBe(true)
  expect(staleRead.id).not.toBe(oldId)
  expect(staleRead.id).not.toBe(after)
  expect(await backend.exists(oldKey)).toBe(false)

  // Exactly one session record holds the data: the new id's.
  const newKey = await backend.keyOfId(after)
  expect(await backend.holding('marker', marker)).toStrictEqual([newKey])
  return { oldId, newId: after, oldKey, newKey }
}

/**
 * Request A loads the session and waits; request B destroys it; then A saves (automatically,
 * or with an explicit `save()`). A's save must fail with 409 / SessionGoneError, the session
 * must stay gone in the backend, and the old cookie must be anonymous afterwards.
 */
export async function destroyRacingSave(url: string, app: GatedApp, backend: BackendInspector, mode: 'auto' | 'explicit'): Promise<void> {
  const owner = new Client(url)
  const created = await owner.fetch(`/set/marker/${randomToken()}`)
  expect(created.status).toBe(200)
  const oldId: string = (await created.json()).id
  const key = await backend.keyOfId(oldId)
  expect(await backend.exists(key)).toBe(true)

  const token = randomToken()
  const gate = app.gate(token)
  const slowTab = cloneClient(owner)
  const slow = slowTab.fetch(`/slow/${mode}/${token}`)
  await gate.waitForArrivals(1)

  const destroyTab = cloneClient(owner)
  const destroyed = await destroyTab.fetch('/destroy')
  expect(destroyed.status).toBe(200)
  expect(await backend.exists(key)).toBe(false)

  gate.open()
  const res = await slow
  const body = await res.json()
  if (mode === 'auto') {
    expect(res.status).toBe(409)
    expect(body).toMatchObject({ statusCode: 409 })
  }
  else {
    expect(res.status).toBe(200)
    expect(body).toStrictEqual({ saved: false, code: 'ERR_SESSION_GONE', statusCode: 409 })
  }
  // Nothing came back: not the old key, nor any record with A's change.
  expect(await backend.exists(key)).toBe(false)
  expect(await backend.holding('slow', token)).toStrictEqual([])
  const stale = cloneClient(owner)
  const read = await stale.json('/read')
  expect(read.isNew).toBe(true)
  expect(read.id).not.toBe(oldId)
  expect(read.data).toStrictEqual({})
  expect(await backend.exists(key)).toBe(false)
}
