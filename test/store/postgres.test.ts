/**
 * PostgresSessionStore on a real PostgreSQL: the conformance suite (a store-owned pool from a
 * postgres:// URL, and the app's own pg.Pool), the table's layout and its checks, the statements
 * and round trips each operation costs (counted at the wire, by a proxy that reads the frontend
 * protocol), the concurrency scenarios over real HTTP in one process and across two OS
 * processes sharing one schema, failures (a cut network, a statement held past storeTimeout, a
 * wrong password, a missing database, a server that comes up late), and the batched sweep.
 *
 * The test run's PostgreSQL (postgresAddress(): the global setup's private server, or the one
 * NSS_TEST_POSTGRES_URL names, which may be shared) is only ever touched in schemas of random
 * names this file creates, and only those are dropped afterwards. Anything that needs another
 * server's configuration (a password) or its absence runs on a private server of its own.
 */
import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PostgresSessionStore, SessionConfigError, SessionRecordError } from 'nuxt-server-session/h3'
import type { SessionOptions, SessionRecord, SessionWrite } from 'nuxt-server-session/h3'
import { storeKeyOf } from '../../src/runtime/server/core/crypto'
import { userKeyOf } from '../../src/runtime/server/core/session'
import { SECRET, recordingLogger, sessionApp } from '../support/app'
import { deviceOn, devicesServer } from '../support/devices-app'
import { figure } from '../support/figure'
import { pgWireProxy } from '../support/pg-wire'
import type { PgWireProxy, PgWireTally } from '../support/pg-wire'
import { startPostgresServer } from '../support/postgres'
import type { PostgresProcess } from '../support/postgres'
import { startServer, stopAll } from '../support/process'
import type { ServerProcess } from '../support/process'
import { freePort } from '../support/redis'
import { Client, serve } from '../support/server'
import type { TestServer } from '../support/server'
import { postgresAddress } from '../support/services'
import { cloneClient, destroyRacingSave, gatedSessionApp, parallelWrites, postgresBackend, racingRegenerates, randomToken } from '../support/store-scenarios'
import type { GatedApp } from '../support/store-scenarios'
import { tcpProxy } from '../support/tcp-proxy'
import { describeStoreConformance, fakeSessionId, sha256Hex } from './conformance'

const PG = postgresAddress()
const HOUR = 3_600_000
const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))

// The test's own pool on the run's PostgreSQL: to make and drop schemas and look below the store.
const admin = new pg.Pool({ connectionString: PG.url, max: 6 })
admin.on('error', () => {})

/** Every schema this file made (or may have made): dropped, and only those, at the end. */
const schemas: string[] = []
/** Stores made from a URL, closed at the end (a test closes its own too). */
const stores: PostgresSessionStore[] = []

afterAll(async () => {
  await Promise.all(stores.map(store => store.close()))
  for (const schema of schemas) await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
  const { rows } = await admin.query('SELECT nspname FROM pg_namespace WHERE nspname = ANY($1::text[])', [schemas])
  await admin.end()
  expect(rows).toStrictEqual([])
})

/** A schema of a random name, made now unless `create` is false (its name is kept for the drop either way). */
async function freshSchema(create = true): Promise<string> {
  const name = `nss_test_${randomBytes(6).toString('hex')}`
  schemas.push(name)
  if (create) await admin.query(`CREATE SCHEMA "${name}"`)
  return name
}

/** A store with its own pool from `url` (the run's PostgreSQL by default), closed at the end. */
function urlStore(options: ConstructorParameters<typeof PostgresSessionStore>[1], url = PG.url): PostgresSessionStore {
  const store = new PostgresSessionStore(url, options)
  stores.push(store)
  return store
}

/** `check()` until it resolves, at most `ms`; how many tries it took. */
async function until(check: () => Promise<boolean>, ms = 15_000): Promise<number> {
  const deadline = Date.now() + ms
  for (let tries = 1; ; tries++) {
    if (await check()) return tries
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms (${tries} tries)`)
    await sleep(100)
  }
}

function liveRecord(data: Record<string, unknown>, overrides: Partial<SessionRecord> = {}): SessionRecord {
  const now = Date.now()
  return { createdAt: now - 60_000, touchedAt: now, expiresAt: now + HOUR, data, ...overrides }
}

function createWrite(record: SessionRecord): SessionWrite {
  return { create: true, changed: Object.keys(record.data), removed: [], ttl: 3600 }
}

function updateWrite(changed: string[], removed: string[] = []): SessionWrite {
  return { create: false, changed, removed, ttl: 3600 }
}

/** A fresh session id and its store key (the sha-256 hex of the id). */
async function newKey(): Promise<{ id: string, key: string }> {
  const id = fakeSessionId()
  return { id, key: await sha256Hex(id) }
}

/** One row of `store`'s table, as node-postgres returns it (bigint columns as strings), or undefined. */
async function rowOf(store: PostgresSessionStore, key: string): Promise<Record<string, any> | undefined> {
  return (await admin.query(`SELECT * FROM ${store.tableName} WHERE key = $1`, [key])).rows[0]
}

/** How many rows of the store's table match `where` (the row is `t` in it). */
async function countRows(store: PostgresSessionStore, where = 'true', values: unknown[] = []): Promise<number> {
  return Number((await admin.query(`SELECT count(*) AS n FROM ${store.tableName} AS t WHERE ${where}`, values)).rows[0].n)
}

/** The rows of the store's table that name the user: its devices index, as stored. */
async function indexRows(store: PostgresSessionStore, user: string): Promise<number> {
  return countRows(store, 'user_key = $1', [await userKeyOf(user)])
}

/** The message of what `promise` rejected with (it must reject). */
async function rejection(promise: Promise<unknown>): Promise<Error> {
  const error = await promise.then(() => undefined, (e: unknown) => e)
  expect(error).toBeInstanceOf(Error)
  return error as Error
}

/** The handle a session id is listed under: the tail of its store key. */
const handleOfId = async (id: string) => (await storeKeyOf(id)).slice(-24)

/** `count` devices of `servers` (round robin) sign `user` in at once; their statuses, and how many are still signed in and listed after. */
async function concurrentSignIns(servers: readonly { url: string }[], path: string, user: string, count: number) {
  const devices = Array.from({ length: count }, (_, i) => deviceOn(servers[i % servers.length]!, `d${i}`))
  const statuses = (await Promise.all(devices.map(d => d.fetch(`${path}/sign-in/${user}`)))).map(r => r.status)
  const alive = (await Promise.all(devices.map(async d => (await d.get(`${path}/me`)).userId === user))).filter(Boolean).length
  const listed = (await devices[0]!.get(`${path}/list-of/${user}`)).length
  return { statuses, ok: statuses.filter(s => s === 200).length, alive, listed }
}

describe('[nuxt-server-session] PostgresSessionStore conformance', () => {
  describeStoreConformance('PostgresSessionStore from a postgres:// URL (store-owned pool, real PostgreSQL)', async () => {
    const store = urlStore({ schema: await freshSchema() })
    return { store, cleanup: () => store.close() }
  }, { raw: false })

  describeStoreConformance('PostgresSessionStore on the app\'s own pg.Pool (real PostgreSQL)', async () => {
    const pool = new pg.Pool({ connectionString: PG.url, max: 4 })
    const store = new PostgresSessionStore(pool, { schema: await freshSchema() })
    return {
      store,
      cleanup: async () => {
        await store.close()
        // close() leaves the app's pool open: it still answers.
        expect((await pool.query('SELECT 1 AS one')).rows).toStrictEqual([{ one: 1 }])
        await pool.end()
      },
    }
  }, { raw: false })

  describeStoreConformance('PostgresSessionStore without prepared statements (prepare: false)', async () => {
    const store = urlStore({ schema: await freshSchema(), prepare: false })
    return { store, cleanup: () => store.close() }
  }, { raw: false })
})

describe('[nuxt-server-session] PostgresSessionStore: the table, its layout and its checks', () => {
  it('the table: the columns and their types (jsonb data, double precision times: any JS number exactly), the primary key on key, the index on expires_at, the partial index on user_key, the sign-in function, the comment "nuxt-server-session schema 1"', async () => {
    const schema = await freshSchema()
    const store = new PostgresSessionStore(admin, { schema })
    expect(store.tableName).toBe(`"${schema}"."nss_sessions"`)
    await store.check()
    const { rows: columns } = await admin.query('SELECT column_name AS name, data_type AS type, is_nullable AS nullable FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position', [schema, 'nss_sessions'])
    expect(columns).toStrictEqual([
      { name: 'key', type: 'text', nullable: 'NO' },
      { name: 'created_at', type: 'double precision', nullable: 'NO' },
      { name: 'touched_at', type: 'double precision', nullable: 'NO' },
      { name: 'expires_at', type: 'double precision', nullable: 'NO' },
      { name: 'user_id', type: 'text', nullable: 'YES' },
      { name: 'data', type: 'jsonb', nullable: 'NO' },
      { name: 'user_key', type: 'text', nullable: 'YES' },
      { name: 'signed_in_at', type: 'double precision', nullable: 'YES' },
      { name: 'label', type: 'text', nullable: 'YES' },
    ])
    const { rows: primary } = await admin.query(`SELECT a.attname AS name FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
      WHERE i.indrelid = to_regclass($1) AND i.indisprimary`, [store.tableName])
    expect(primary).toStrictEqual([{ name: 'key' }])
    const { rows: indexes } = await admin.query('SELECT indexname AS name, indexdef AS def FROM pg_indexes WHERE schemaname = $1 AND tablename = $2 ORDER BY indexname', [schema, 'nss_sessions'])
    expect(indexes.map(i => i.name)).toStrictEqual(['nss_sessions_expires_at', 'nss_sessions_pkey', 'nss_sessions_user_key'])
    expect(indexes[0].def).toMatch(/USING btree \(expires_at\)$/)
    expect(indexes[2].def).toMatch(/USING btree \(user_key\) WHERE \(user_key IS NOT NULL\)$/)
    const { rows: [comment] } = await admin.query('SELECT obj_description(to_regclass($1), \'pg_class\') AS text', [store.tableName])
    expect(comment.text).toBe('nuxt-server-session schema 1')
    // indexAdd's function (the per-user lock, then the UPDATE in a snapshot taken after it).
    const { rows: functions } = await admin.query(`SELECT p.proname AS name, l.lanname AS language, p.provolatile AS volatility, pg_get_function_identity_arguments(p.oid) AS args
      FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace JOIN pg_language l ON l.oid = p.prolang WHERE n.nspname = $1`, [schema])
    expect(functions).toStrictEqual([{ name: 'nss_sessions_sign_in', language: 'plpgsql', volatility: 'v', args: 'p_key text, p_user text, p_at double precision, p_label text, p_now double precision' }])
    // A fractional time is kept exactly.
    const { key } = await newKey()
    const record = liveRecord({ a: 1 }, { touchedAt: Date.now() - 0.25, expiresAt: Date.now() + HOUR + 0.5 })
    await store.set(key, record, createWrite(record))
    expect(await rowOf(store, key)).toMatchObject({ touched_at: record.touchedAt, expires_at: record.expiresAt })
    // schemaSql() is the same layout, for a migration; another table name names its indexes.
    expect(PostgresSessionStore.schemaSql({ schema, table: 'auth_sessions' })).toContain(`CREATE INDEX IF NOT EXISTS "auth_sessions_user_key" ON "${schema}"."auth_sessions" (user_key) WHERE user_key IS NOT NULL;`)
  })

  it('the schema and table options name the table; names that are not plain identifiers, and URLs that are not postgres://, are refused', async () => {
    const schema = await freshSchema()
    const store = new PostgresSessionStore(admin, { schema, table: 'auth_sessions' })
    const { key } = await newKey()
    const record = liveRecord({ a: 1 })
    expect(await store.set(key, record, createWrite(record))).toBe(true)
    expect(await rowOf(store, key)).toMatchObject({ key })
    const { rows } = await admin.query('SELECT indexname FROM pg_indexes WHERE schemaname = $1 ORDER BY indexname', [schema])
    expect(rows.map(r => r.indexname)).toStrictEqual(['auth_sessions_expires_at', 'auth_sessions_pkey', 'auth_sessions_user_key'])
    for (const bad of [{ schema: 'a;b' }, { table: 'x"y' }, { table: '1abc' }, { schema: 'a'.repeat(64) }, { table: 'drop table x' }]) {
      expect(() => new PostgresSessionStore(admin, bad)).toThrow(SessionConfigError)
    }
    expect(() => new PostgresSessionStore('mysql://localhost/db')).toThrow(/NUXT_SESSION_POSTGRES_URL/)
    for (const source of [undefined, null, {}, 42]) expect(() => new PostgresSessionStore(source as any)).toThrow(TypeError)
    expect(new PostgresSessionStore(admin)).toMatchObject({ ttl: 86_400, tableName: '"public"."nss_sessions"' })
  })

  it('over HTTP, a session\'s row is keyed by the sha-256 hex of its id, and no column of it holds the id', async () => {
    const store = new PostgresSessionStore(admin, { schema: await freshSchema() })
    const server = await serve(sessionApp({ store }).app)
    try {
      const client = new Client(server.url)
      const { id, createdAt, expiresAt } = await client.json('/set/note/hello')
      const key = await sha256Hex(id)
      const row = (await rowOf(store, key))!
      expect(row).toMatchObject({ key, data: { note: 'hello' }, user_id: null })
      expect(Number(row.created_at)).toBe(createdAt)
      // (The response's expiresAt is computed when the view is made, a moment after the write's.)
      expect(Math.abs(Number(row.expires_at) - expiresAt)).toBeLessThanOrEqual(100)
      expect(await countRows(store)).toBe(1)
      expect(await countRows(store, 'strpos(t::text, $1) > 0', [id])).toBe(0)
      expect(await countRows(store, 'key = $1', [id])).toBe(0)
    }
    finally {
      await server.close()
    }
  })

  it('NUL (U+0000) and lone surrogates, which jsonb cannot hold, and U+F8FF (the escape\'s mark) round-trip in keys and values, through create, update (changed and removed keys) and move', async () => {
    const store = new PostgresSessionStore(admin, { schema: await freshSchema() })
    const data: Record<string, unknown> = {
      'nul\u0000key': 'nul\u0000value',
      '\u0000': 'a lone NUL key',
      '\uF8FF0': 'the mark then 0: not a NUL',
      '\uF8FF1': '\uF8FF1\u0000\uF8FF0',
      '\uF8FF': '\uF8FF',
      'escaped': '\\u0000 is six characters here, \\\\u0000 too, and \\\u0000 is a backslash then NUL',
      'nested': { 'k\u0000': ['\u0000', '\uF8FF0\uF8FF1', { '\uF8FF\u0000': '\u0000\u0000' }] },
      'lone \uD800 key': 'lone \uDFFF value, \\ud800 as text, \uF8FFud800 as the mark',
    }
    const { key } = await newKey()
    const record = liveRecord(data)
    expect(await store.set(key, record, createWrite(record))).toBe(true)
    expect((await store.get(key))!.data).toStrictEqual(data)
    // Stored escaped: the eight keys are eight distinct jsonb keys, none of them with a NUL.
    const stored = (await admin.query(`SELECT (SELECT count(*) FROM jsonb_object_keys(data)) AS keys, data::text AS text FROM ${store.tableName} WHERE key = $1`, [key])).rows[0]
    expect(Number(stored.keys)).toBe(8)
    // (Escaped backslashes taken out first: `\\u0000` there is a backslash, then the text u0000.)
    expect(stored.text.replaceAll('\\\\', '')).not.toContain('\\u0000')

    // An update that changes a NUL key and removes two keys spelt with NUL and with the mark.
    const next: SessionRecord = { ...record, touchedAt: record.touchedAt + 1, data: { ...data, '\u0000': 'changed\u0000', 'added\uF8FF0': '\u0000' } }
    delete next.data['nul\u0000key']
    delete next.data['\uF8FF0']
    delete next.data['lone \uD800 key']
    expect(await store.set(key, next, updateWrite(['\u0000', 'added\uF8FF0'], ['nul\u0000key', '\uF8FF0', 'lone \uD800 key']))).toBe(true)
    expect((await store.get(key))!.data).toStrictEqual(next.data)

    // A move (regenerate) that removes the mark key and sets a NUL one.
    const { key: to } = await newKey()
    const moved: SessionRecord = { ...next, data: { ...next.data, 'moved\u0000': true } }
    delete moved.data['\uF8FF']
    expect(await store.move(key, to, moved, updateWrite(['moved\u0000'], ['\uF8FF']))).toBe(true)
    expect(await store.get(key)).toBeUndefined()
    expect((await store.get(to))!.data).toStrictEqual(moved.data)
  })

  it('a row whose columns cannot be a record (data not an object, a negative time) reads as SessionRecordError; getMany reads it as undefined; __proto__ in stored data is dropped', async () => {
    const store = new PostgresSessionStore(admin, { schema: await freshSchema() })
    const keys: string[] = []
    for (const [column, value] of [['data', '[]'], ['data', '"text"'], ['data', 'null'], ['created_at', '-1']] as const) {
      const { key } = await newKey()
      const record = liveRecord({ a: 1 })
      await store.set(key, record, createWrite(record))
      await admin.query(`UPDATE ${store.tableName} SET ${column} = $2 WHERE key = $1`, [key, value])
      const error = await rejection(store.get(key))
      expect(error, `${column} = ${value}`).toBeInstanceOf(SessionRecordError)
      keys.push(key)
    }
    expect(await store.getMany!(keys)).toStrictEqual([undefined, undefined, undefined, undefined])
    const { key } = await newKey()
    const record = liveRecord({ a: 1 })
    await store.set(key, record, createWrite(record))
    await admin.query(`UPDATE ${store.tableName} SET data = $2::jsonb WHERE key = $1`, [key, '{"__proto__":{"polluted":"yes"},"c":{"constructor":{"prototype":{"polluted":"yes"}}},"ok":1}'])
    const { data } = (await store.get(key))!
    expect(data).toStrictEqual({ c: {}, ok: 1 })
    expect(Object.getPrototypeOf(data)).toBe(Object.prototype)
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  })

  it('createTable: false on a missing table fails with a message naming PostgresSessionStore.schemaSql(), creating nothing; after running schemaSql() yourself, the same store works', async () => {
    const schema = await freshSchema()
    const store = new PostgresSessionStore(admin, { schema, createTable: false })
    const error = await rejection(store.check())
    expect(error).toBeInstanceOf(SessionConfigError)
    expect(error.message).toContain('PostgresSessionStore.schemaSql()')
    expect(error.message).toContain(`"${schema}"."nss_sessions"`)
    const { key } = await newKey()
    expect(await rejection(store.get(key))).toBeInstanceOf(SessionConfigError)
    expect((await admin.query('SELECT to_regclass($1) AS t', [store.tableName])).rows[0].t).toBeNull()

    await admin.query(PostgresSessionStore.schemaSql({ schema }))
    await store.check()
    const record = liveRecord({ migrated: true })
    expect(await store.set(key, record, createWrite(record))).toBe(true)
    expect((await store.get(key))!.data).toStrictEqual({ migrated: true })
    // schemaSql() can run again (a migration re-run): it changes nothing.
    await admin.query(PostgresSessionStore.schemaSql({ schema }))
    expect(await countRows(store)).toBe(1)
    // A table whose sign-in function is missing (a partial migration): a sign-in names schemaSql().
    await admin.query(`DROP FUNCTION "${schema}"."nss_sessions_sign_in"`)
    const missing = await rejection(store.indexAdd(await userKeyOf('u'), key.slice(-24), { key, createdAt: Date.now() }, 60))
    expect(missing).toBeInstanceOf(SessionConfigError)
    expect(missing.message).toContain('PostgresSessionStore.schemaSql()')
  })

  it('a table of the same name with another layout\'s comment, or someone else\'s table, is refused with a clear message and left as it was', async () => {
    const later = await freshSchema()
    await admin.query(PostgresSessionStore.schemaSql({ schema: later }))
    await admin.query(`COMMENT ON TABLE "${later}"."nss_sessions" IS 'nuxt-server-session schema 2'`)
    const newer = await rejection(new PostgresSessionStore(admin, { schema: later }).check())
    expect(newer).toBeInstanceOf(SessionConfigError)
    expect(newer.message).toMatch(/has layout 2; this release of nuxt-server-session reads layout 1/)

    const foreign = await freshSchema()
    await admin.query(`CREATE TABLE "${foreign}"."nss_sessions" (id integer PRIMARY KEY, name text)`)
    await admin.query(`INSERT INTO "${foreign}"."nss_sessions" VALUES (1, 'theirs')`)
    const store = new PostgresSessionStore(admin, { schema: foreign })
    const error = await rejection(store.check())
    expect(error).toBeInstanceOf(SessionConfigError)
    expect(error.message).toMatch(/is not a nuxt-server-session sessions table/)
    expect(error.message).toContain('PostgresSessionStore.schemaSql()')
    const record = liveRecord({ a: 1 })
    expect(await rejection(store.set((await newKey()).key, record, createWrite(record)))).toBeInstanceOf(SessionConfigError)
    const { rows } = await admin.query(`SELECT * FROM "${foreign}"."nss_sessions"`)
    expect(rows).toStrictEqual([{ id: 1, name: 'theirs' }])
    expect((await admin.query('SELECT obj_description(to_regclass($1), \'pg_class\') AS c', [`"${later}"."nss_sessions"`])).rows[0].c).toBe('nuxt-server-session schema 2')
  })

  it('a schema that does not exist: a message naming the schema setting', async () => {
    const schema = await freshSchema(false)
    const error = await rejection(new PostgresSessionStore(admin, { schema }).check())
    expect(error).toBeInstanceOf(SessionConfigError)
    expect(error.message).toMatch(/no such schema/)
    expect(error.message).toContain('NUXT_SESSION_POSTGRES_SCHEMA')
  })

  it('four stores (four pools) making the table at the same moment all succeed, and make it once (the advisory lock), 5 rounds', async () => {
    const rounds = []
    for (let round = 0; round < 5; round++) {
      const schema = await freshSchema()
      const racing = Array.from({ length: 4 }, () => urlStore({ schema, poolSize: 1 }))
      // Four first operations at once: each connects, finds no table, and creates it.
      const results = await Promise.allSettled(racing.map(store => store.check()))
      rounds.push(results.map(r => r.status === 'fulfilled' ? 'ok' : String((r.reason as Error).message)))
      const { rows } = await admin.query('SELECT count(*) AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1', [schema])
      // The table, its two indexes and its primary key's; and one sign-in function.
      expect(Number(rows[0].n)).toBe(4)
      expect(Number((await admin.query('SELECT count(*) AS n FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = $1', [schema])).rows[0].n)).toBe(1)
      await Promise.all(racing.map(store => store.close()))
    }
    expect(rounds).toStrictEqual(Array.from({ length: 5 }, () => ['ok', 'ok', 'ok', 'ok']))
  })
})

describe('[nuxt-server-session] PostgresSessionStore: one statement per operation, counted at the wire', () => {
  let proxy: PgWireProxy
  let store: PostgresSessionStore
  let unprepared: PostgresSessionStore

  beforeAll(async () => {
    proxy = await pgWireProxy(PG)
    const schema = await freshSchema()
    store = urlStore({ schema, poolSize: 4 }, proxy.via(PG.url))
    unprepared = urlStore({ schema, poolSize: 4, prepare: false }, proxy.via(PG.url))
  })
  afterAll(async () => {
    await store?.close()
    await unprepared?.close()
    await proxy?.close()
  })

  /** What `run` sent to PostgreSQL. */
  async function measure(run: () => Promise<unknown>): Promise<PgWireTally> {
    proxy.take()
    await run()
    return proxy.take()
  }

  it('the first operation of a store also checks the table (and creates it): one lookup, one simple query under the advisory lock, the lookup again, then the operation', async () => {
    const first = await measure(() => store.get('0'.repeat(64)))
    const names = first.statements.map(s => s.startsWith('nss_') ? s.split(' ')[0] : s.startsWith('SELECT d.description AS comment') ? 'table lookup' : 'advisory lock + CREATE TABLE')
    figure(`PostgreSQL, a store's first operation: ${first.statements.length} statements in ${first.roundTrips} round trips (${names.join(', ')})`)
    expect(first.statements).toHaveLength(4)
    expect(first.statements[0]).toMatch(/^SELECT d\.description AS comment, c\.oid IS NOT NULL AS present FROM \(SELECT to_regclass\(\$1\)/)
    expect(first.statements[2]).toBe(first.statements[0])
    expect(first.statements[1]).toMatch(/^SELECT pg_advisory_xact_lock\(.*CREATE TABLE IF NOT EXISTS/s)
    expect(first.statements[3]).toBe(`nss_get ${store.tableName}`)
    expect(first.roundTrips).toBe(4)
    // The table is there now: the second store only looks it up.
    const second = await measure(() => unprepared.get('0'.repeat(64)))
    expect(second.statements).toHaveLength(2)
    expect(second.queries).toBe(0)
    // And after that, only the operation.
    expect((await measure(() => store.get('1'.repeat(64)))).statements).toStrictEqual([`nss_get ${store.tableName}`])
    expect(proxy.errors).toBe(0)
  })

  it('each operation is one statement in one round trip: get, getMany, create, update, touch, move, delete, indexAdd, indexList, indexRemove, sweep (prepared and not)', async () => {
    const report: string[] = []
    for (const s of [store, unprepared]) {
      await s.check()
      // Prepared: the statement's name; not: its text, by its first words.
      const VERBS: Record<string, RegExp> = {
        nss_create: /^INSERT INTO /,
        nss_get: /^SELECT key, created_at/,
        nss_get_many: /^SELECT key, created_at.*ANY/s,
        nss_update: /^UPDATE .* SET touched_at = \$2, expires_at = \$3, user_id = \$4, data = /s,
        nss_touch: /^UPDATE .* SET touched_at = \$2, expires_at = \$3, user_id = \$4 WHERE/s,
        nss_index_add: /^SELECT "[^"]+"\."nss_sessions_sign_in"\(\$1, \$2, \$3, \$4, \$5\)$/,
        nss_index_list: /^SELECT key, signed_in_at, label/,
        nss_move: /^WITH old AS \(DELETE /,
        nss_index_remove: /^UPDATE .* SET user_key = NULL/s,
        nss_delete: /^DELETE FROM \S+ WHERE key = \$1$/,
        nss_sweep: /^DELETE FROM .* FOR UPDATE SKIP LOCKED\) RETURNING key, user_id$/s,
      }
      const { key } = await newKey()
      const { key: to } = await newKey()
      const record = liveRecord({ a: 1, b: 1 })
      const userKey = await userKeyOf(`u-${randomToken()}`)
      const ops: [string, () => Promise<unknown>][] = [
        ['nss_create', () => s.set(key, record, createWrite(record))],
        ['nss_get', () => s.get(key)],
        ['nss_get', () => s.get('f'.repeat(64))],
        ['nss_get_many', () => s.getMany([key, 'f'.repeat(64), to])],
        ['nss_update', () => s.set(key, { ...record, data: { a: 2 } }, updateWrite(['a'], ['b']))],
        ['nss_touch', () => s.set(key, { ...record, touchedAt: record.touchedAt + 1 }, updateWrite([]))],
        ['nss_index_add', () => s.indexAdd(userKey, key.slice(-24), { key, createdAt: Date.now(), label: 'L' })],
        ['nss_index_list', () => s.indexList(userKey)],
        ['nss_move', () => s.move(key, to, record, updateWrite(['c']))],
        ['nss_index_remove', () => s.indexRemove(userKey, [to.slice(-24)])],
        ['nss_update', () => s.set(key, record, updateWrite(['a']))], // gone: false, still one statement
        ['nss_delete', () => s.delete(to)],
        ['nss_sweep', () => s.sweep()],
      ]
      for (const [op, run] of ops) {
        const t = await measure(run)
        expect({ op, statements: t.statements.length, roundTrips: t.roundTrips, queries: t.queries }).toStrictEqual({ op, statements: 1, roundTrips: 1, queries: 0 })
        if (s === store) {
          expect(t.statements[0]).toBe(`${op} ${s.tableName}`)
          expect(t.parses, op).toBeLessThanOrEqual(1)
        }
        else {
          expect(t.statements[0], op).toMatch(VERBS[op]!)
          expect(t.parses, op).toBe(1)
        }
      }
      // The move took the index entry with it, so indexRemove of the moved key's handle emptied it.
      expect(await s.indexList(userKey)).toStrictEqual({})
      report.push(`${s === store ? 'prepared' : 'prepare: false'}: ${ops.length} operations, ${ops.length} statements`)
    }
    figure(`PostgreSQL statements per store operation, counted at the wire: 1 each (${report.join('; ')})`)
    expect(proxy.errors).toBe(0)
    expect(proxy.cancels).toBe(0)
  })

  it('over HTTP: a read of an existing session is 1 statement, a request that changes it 2 (the read + one write), a new session 1, a route without the session 0', async () => {
    const server = await serve(sessionApp({ store }).app)
    try {
      const browser = new Client(server.url)
      const ok = async (client: Client, path: string) => {
        const res = await client.fetch(path)
        expect(res.status, path).toBe(200)
        return res.json()
      }
      const created = await measure(() => ok(browser, '/set/a/1'))
      const read = await measure(() => ok(browser, '/read'))
      const changed = await measure(() => ok(browser, '/set/b/2'))
      const touched = await measure(() => ok(browser, '/touch'))
      const never = await measure(() => ok(browser, '/never'))
      const anonymous = await measure(() => ok(new Client(server.url), '/read'))
      const regenerated = await measure(() => ok(browser, '/regenerate'))
      const destroyed = await measure(() => ok(browser, '/destroy'))
      const names = (t: PgWireTally) => t.statements.map(s => s.split(' ')[0])
      figure(`PostgreSQL statements per HTTP request: new session ${created.statements.length} (${names(created)}), read ${read.statements.length} (${names(read)}), change ${changed.statements.length} (${names(changed)}), touch ${touched.statements.length} (${names(touched)}), regenerate ${regenerated.statements.length} (${names(regenerated)}), destroy ${destroyed.statements.length} (${names(destroyed)}), no session ${never.statements.length}, no cookie ${anonymous.statements.length}; one round trip each`)
      expect(names(created)).toStrictEqual(['nss_create'])
      expect(names(read)).toStrictEqual(['nss_get'])
      expect(names(changed)).toStrictEqual(['nss_get', 'nss_update'])
      expect(names(touched)).toStrictEqual(['nss_get', 'nss_touch'])
      expect(names(destroyed)).toStrictEqual(['nss_get', 'nss_delete'])
      // The route changes the data after regenerate(): the move, then that write.
      expect(names(regenerated)).toStrictEqual(['nss_get', 'nss_move', 'nss_update'])
      expect(never.statements).toStrictEqual([])
      expect(anonymous.statements).toStrictEqual([])
      for (const t of [created, read, changed, touched, regenerated, destroyed]) expect(t.roundTrips).toBe(t.statements.length)
      expect(await ok(browser, '/read')).toMatchObject({ isNew: true, data: {} })

      // regenerate() alone (the devices app's route changes nothing after it): the read, then one move.
      const devices = await devicesServer({ store, secret: SECRET })
      try {
        const device = deviceOn(devices, 'd')
        await device.get('/set/a/1')
        const alone = await measure(() => device.get('/regenerate'))
        expect(names(alone)).toStrictEqual(['nss_get', 'nss_move'])
      }
      finally {
        await devices.close()
      }
    }
    finally {
      await server.close()
    }
  })
})

describe('[nuxt-server-session] PostgresSessionStore in one process over HTTP: the concurrency scenarios', () => {
  let store: PostgresSessionStore
  let gated: GatedApp
  let server: TestServer

  beforeAll(async () => {
    store = urlStore({ schema: await freshSchema(), poolSize: 20 })
    gated = gatedSessionApp(store)
    server = await serve(gated.app)
  })
  afterAll(async () => {
    await server?.close()
    await store?.close()
  })

  it('50 parallel requests with one session, each setting its own key: all 50 kept (the UPDATE merges the changed keys into the stored jsonb)', async () => {
    const kept = await parallelWrites(server.url, 50)
    figure(`50 parallel disjoint writes to one session, PostgresSessionStore, one process: ${kept}/50 kept`)
    expect(kept).toBe(50)
  })

  it('destroy racing a slow automatic save: the save answers 409, writes nothing, the session stays destroyed', async () => {
    await destroyRacingSave(server.url, gated, postgresBackend(admin, store), 'auto')
  })

  it('destroy racing a slow explicit save(): save() throws SessionGoneError (409), nothing is written back', async () => {
    await destroyRacingSave(server.url, gated, postgresBackend(admin, store), 'explicit')
  })

  it('two concurrent regenerates of one session (5 rounds): exactly one wins, the other gets 409, the old id is dead, exactly one row holds the data', async () => {
    for (let round = 0; round < 5; round++) await racingRegenerates(server.url, gated, postgresBackend(admin, store))
  })

  it('of two moves of one row straight on the store, exactly one succeeds (20 rounds)', async () => {
    const results = []
    for (let round = 0; round < 20; round++) {
      const { key } = await newKey()
      const record = liveRecord({ a: 1 })
      await store.set(key, record, createWrite(record))
      const targets = [(await newKey()).key, (await newKey()).key]
      const moved = await Promise.all(targets.map(t => store.move(key, t, record, updateWrite([]))))
      const exist = await Promise.all(targets.map(async t => (await rowOf(store, t)) !== undefined))
      results.push({ moved: [...moved].sort(), exist: [...exist].sort(), old: (await rowOf(store, key)) !== undefined })
    }
    expect(results).toStrictEqual(Array.from({ length: 20 }, () => ({ moved: [false, true], exist: [false, true], old: false })))
  })
})

describe('[nuxt-server-session] PostgresSessionStore in one process: the devices index is the rows naming the user', () => {
  let store: PostgresSessionStore
  const servers: TestServer[] = []
  let plain: TestServer
  let evicting: TestServer
  let refusing: TestServer
  let users = 0
  const newUser = (name: string) => `${name}-${++users}`

  beforeAll(async () => {
    store = urlStore({ schema: await freshSchema(), poolSize: 20 })
    const options: SessionOptions = { store, secret: SECRET, devices: { userAgent: true } }
    plain = await devicesServer(options)
    evicting = await devicesServer({ ...options, maxSessionsPerUser: 2 })
    refusing = await devicesServer({ ...options, maxSessionsPerUser: 2, sessionLimit: 'refuse' })
    servers.push(plain, evicting, refusing)
  })
  afterAll(async () => {
    await Promise.all(servers.map(s => s.close()))
    await store?.close()
  })

  it('two sign-ins of one user at the same time are both listed (10 rounds)', async () => {
    for (let round = 0; round < 10; round++) {
      const user = newUser('dave')
      const [a, b] = [deviceOn(plain, 'A'), deviceOn(plain, 'B')]
      const [ra, rb] = await Promise.all([a.fetch(`/sign-in/${user}`), b.fetch(`/sign-in/${user}`)])
      expect([ra.status, rb.status]).toStrictEqual([200, 200])
      const listed = await a.get('/list')
      expect(listed.map((s: any) => s.device).sort()).toStrictEqual(['A', 'B'])
      expect(await indexRows(store, user)).toBe(2)
    }
  })

  it('a destroyed or regenerated session leaves the index with its own row; regenerate keeps the sign-in time and the label', async () => {
    const user = newUser('erin')
    const [a, b] = [deviceOn(plain, 'A'), deviceOn(plain, 'B/1')]
    await a.get(`/sign-in/${user}`)
    await b.get(`/sign-in/${user}`)
    expect(await indexRows(store, user)).toBe(2)
    const [before] = (await b.get('/list')).filter((s: any) => s.current)
    await a.get('/destroy')
    expect(await indexRows(store, user)).toBe(1)
    const regenerated = await b.c.json('/regenerate', { headers: { 'user-agent': 'B/2' } })
    expect(await indexRows(store, user)).toBe(1)
    const [after] = await b.get('/list')
    expect(after.handle).toBe(await handleOfId(regenerated.after))
    expect({ createdAt: after.createdAt, device: after.device }).toStrictEqual({ createdAt: before.createdAt, device: 'B/1' })
  })

  it('\'refuse\' holds the cap under concurrent sign-ins: of 4 at once, 2 succeed and 2 get a 409 (30 rounds)', async () => {
    const rounds = []
    for (let round = 0; round < 30; round++) {
      const { statuses, ok, alive, listed } = await concurrentSignIns([refusing], '', newUser('max'), 4)
      expect(statuses.filter(s => s !== 200 && s !== 409)).toStrictEqual([])
      rounds.push({ ok, alive, listed })
    }
    figure(`maxSessionsPerUser 2 'refuse', 4 parallel sign-ins of one user, one process, PostgresSessionStore: more than 2 let in in ${rounds.filter(r => r.alive > 2).length}/30 rounds`)
    expect(rounds).toStrictEqual(Array.from({ length: 30 }, () => ({ ok: 2, alive: 2, listed: 2 })))
  })

  it('\'evict-oldest\' under concurrent sign-ins keeps the cap\'s worth of sessions: of 4 at once, 2 remain (10 rounds)', async () => {
    const rounds = []
    for (let round = 0; round < 10; round++) {
      const user = newUser('ned')
      const { statuses, alive, listed } = await concurrentSignIns([evicting], '', user, 4)
      expect(statuses).toStrictEqual([200, 200, 200, 200])
      rounds.push({ alive, listed, rows: await indexRows(store, user) })
    }
    expect(rounds).toStrictEqual(Array.from({ length: 10 }, () => ({ alive: 2, listed: 2, rows: 2 })))
  })

  it('10 parallel indexAdds of one user (20 rounds): 10 distinct sign-in times, so that concurrent sign-ins agree on one order (a tie lets a later sign-in rank before one that already counted itself in)', async () => {
    const rounds: number[] = []
    for (let round = 0; round < 20; round++) {
      const now = Date.now()
      const userKey = await userKeyOf(newUser('tia'))
      const keys = await Promise.all(Array.from({ length: 10 }, () => sha256Hex(fakeSessionId())))
      for (const key of keys) await store.set(key, { createdAt: now, touchedAt: now, expiresAt: now + 60_000, data: {} }, { create: true, changed: [], removed: [], ttl: 60 })
      await Promise.all(keys.map(key => store.indexAdd(userKey, key.slice(-24), { key, createdAt: now })))
      const stamps = Object.values(await store.indexList(userKey)).map(e => e.createdAt)
      expect(stamps).toHaveLength(10)
      rounds.push(new Set(stamps).size)
    }
    figure(`PostgresSessionStore, 10 parallel indexAdds of one user, 20 rounds: distinct sign-in times per round ${rounds.join(', ')}`)
    expect(rounds).toStrictEqual(Array.from({ length: 20 }, () => 10))
  })

  it('an entry added after another lists after it, even when its clock was behind: the cap\'s order is the order the database saw', async () => {
    const now = Date.now()
    const userKey = await userKeyOf(newUser('olga'))
    const keys = await Promise.all([0, 1, 2].map(i => storeKeyOf(`id-${i}-${now}-${randomToken()}`)))
    for (const key of keys) await store.set(key, { createdAt: now, touchedAt: now, expiresAt: now + 60_000, data: {}, userId: 'olga' }, { create: true, changed: [], removed: [], ttl: 60 })
    await store.indexAdd(userKey, keys[0]!.slice(-24), { key: keys[0]!, createdAt: now + 20 })
    await store.indexAdd(userKey, keys[1]!.slice(-24), { key: keys[1]!, createdAt: now + 10 })
    await store.indexAdd(userKey, keys[2]!.slice(-24), { key: keys[2]!, createdAt: now + 30 })
    const entries = Object.values(await store.indexList(userKey)).sort((x, y) => x.createdAt - y.createdAt)
    expect(entries.map(e => e.key)).toStrictEqual(keys)
    expect(entries.map(e => e.createdAt)).toStrictEqual([now + 20, now + 21, now + 30])
    // Added again (after a move) it keeps its sign-in time.
    await store.indexAdd(userKey, keys[0]!.slice(-24), { key: keys[0]!, createdAt: now + 99 })
    expect((await store.indexList(userKey))[keys[0]!.slice(-24)]!.createdAt).toBe(now + 20)
  })
})

const CHILD = fileURLToPath(new URL('../support/postgres-child-server.ts', import.meta.url))
const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const JITI_REGISTER = new URL('../../node_modules/jiti/lib/jiti-register.mjs', import.meta.url).href
const H3_SOURCES = fileURLToPath(new URL('../../src/runtime/h3.ts', import.meta.url))

describe('[nuxt-server-session] PostgresSessionStore across two OS processes sharing one schema', () => {
  let schema: string
  let a: ServerProcess
  let b: ServerProcess
  let inspect: PostgresSessionStore
  let users = 0
  const newUser = (name: string) => `${name}-${++users}`

  /** A child server of its own process, with its own store and pool on the shared schema. */
  const child = () => startServer(CHILD, {
    cwd: ROOT,
    command: [process.execPath, '--import', JITI_REGISTER],
    env: { NSS_POSTGRES_URL: PG.url, NSS_POSTGRES_SCHEMA: schema, JITI_ALIAS: JSON.stringify({ 'nuxt-server-session/h3': H3_SOURCES }) },
    timeout: 60_000,
  })

  /** Resolves once `count` requests wait at the gate of `token` in `server`; throws after `ms`. */
  async function arrivals(server: ServerProcess, token: string, count: number, ms = 10_000): Promise<void> {
    const deadline = Date.now() + ms
    for (;;) {
      const { arrived } = await new Client(server.url).json(`/gate/${token}`)
      if (arrived >= count) return
      if (Date.now() > deadline) throw new Error(`only ${arrived}/${count} requests reached the gate of ${server.url} within ${ms} ms`)
      await sleep(10)
    }
  }
  const openGate = (server: ServerProcess, token: string) => new Client(server.url).json(`/gate/${token}/open`)

  beforeAll(async () => {
    schema = await freshSchema()
    // Both at once: they make the table together, too.
    ;[a, b] = await Promise.all([child(), child()])
    // Only to name the table; the test looks through its own pool.
    inspect = new PostgresSessionStore(admin, { schema, createTable: false })
  }, 120_000)
  afterAll(async () => {
    await stopAll()
  })

  it('the two servers are two OS processes, each with its own pool on the one table', async () => {
    const pids = await Promise.all([a, b].map(async s => (await new Client(s.url).json('/pid')).pid))
    expect(new Set([process.pid, ...pids]).size).toBe(3)
    // (A request without a cookie reads nothing: each process writes a session, so its pool connects.)
    await Promise.all([a, b].map(s => new Client(s.url).json('/set/probe/1')))
    const { rows } = await admin.query('SELECT count(DISTINCT pid) AS n FROM pg_stat_activity WHERE application_name = $1 AND client_port IS NOT NULL AND backend_type = \'client backend\'', ['nuxt-server-session'])
    expect(Number(rows[0].n)).toBeGreaterThanOrEqual(2)
  })

  it('50 parallel disjoint writes to one session, split across the two processes: 50/50 kept', async () => {
    const kept = await parallelWrites([a.url, b.url], 50)
    figure(`50 parallel disjoint writes to one session split across two processes, PostgresSessionStore: ${kept}/50 kept`)
    expect(kept).toBe(50)
  }, 60_000)

  for (const mode of ['auto', 'explicit'] as const) {
    it(`destroy in one process racing a slow ${mode} save in the other: the save is refused (409), nothing comes back`, async () => {
      const backend = postgresBackend(admin, inspect)
      const owner = new Client(a.url)
      const created = await owner.fetch(`/set/marker/${randomToken()}`)
      expect(created.status).toBe(200)
      const oldId: string = (await created.json()).id
      const key = await backend.keyOfId(oldId)
      expect(await backend.exists(key)).toBe(true)

      const token = randomToken()
      const slowTab = Object.assign(new Client(a.url), { jar: owner.jar })
      const slow = slowTab.fetch(`/slow/${mode}/${token}`)
      await arrivals(a, token, 1)
      const destroyTab = cloneClient(Object.assign(new Client(b.url), { jar: owner.jar }))
      expect((await destroyTab.fetch('/destroy')).status).toBe(200)
      expect(await backend.exists(key)).toBe(false)
      await openGate(a, token)
      const res = await slow
      const body = await res.json()
      if (mode === 'auto') {
        expect(res.status).toBe(409)
      }
      else {
        expect(res.status).toBe(200)
        expect(body).toStrictEqual({ saved: false, code: 'ERR_SESSION_GONE', statusCode: 409 })
      }
      expect(await backend.exists(key)).toBe(false)
      expect(await backend.holding('slow', token)).toStrictEqual([])
      const stale = cloneClient(Object.assign(new Client(b.url), { jar: owner.jar }))
      expect(await stale.json('/read')).toMatchObject({ isNew: true, data: {} })
    })
  }

  it('two concurrent regenerates of one session, one in each process (5 rounds): exactly one wins, the other gets 409, exactly one row holds the data', async () => {
    const backend = postgresBackend(admin, inspect)
    const winners: number[] = []
    for (let round = 0; round < 5; round++) {
      const marker = `m${randomToken()}`
      const owner = new Client(a.url)
      const { id: oldId } = await owner.json(`/set/marker/${marker}`)
      const token = randomToken()
      const tabs = [a, b].map(s => Object.assign(new Client(s.url), { jar: new Map(owner.jar) }))
      const pending = tabs.map(tab => tab.fetch(`/regen/${token}`))
      await Promise.all([arrivals(a, token, 1), arrivals(b, token, 1)])
      await Promise.all([openGate(a, token), openGate(b, token)])
      const responses = await Promise.all(pending)
      const bodies = await Promise.all(responses.map(r => r.json()))
      expect(responses.map(r => r.status).sort()).toStrictEqual([200, 409])
      const w = responses.findIndex(r => r.status === 200)
      winners.push(w)
      const { before, after } = bodies[w]
      expect(before).toBe(oldId)
      expect(after).not.toBe(oldId)
      expect(await tabs[w]!.json('/read')).toMatchObject({ id: after, isNew: false, data: { marker, regenerated: token } })
      expect(await backend.exists(await backend.keyOfId(oldId))).toBe(false)
      expect(await backend.holding('marker', marker)).toStrictEqual([await backend.keyOfId(after)])
    }
    figure(`two concurrent regenerates across two processes, PostgresSessionStore, 5 rounds: one winner each round (process ${winners.map(w => 'ab'[w]).join(', ')})`)
  }, 60_000)

  it('maxSessionsPerUser: 2 holds across the processes under 10 parallel sign-ins (\'refuse\': 2 succeed; \'evict-oldest\': 2 remain), 20 rounds each', async () => {
    const ROUNDS = 20
    const refused = []
    const evicted = []
    for (let round = 0; round < ROUNDS; round++) {
      const r = await concurrentSignIns([a, b], '/refuse', newUser('max'), 10)
      expect(r.statuses.filter(s => s !== 200 && s !== 409)).toStrictEqual([])
      refused.push({ ok: r.ok, alive: r.alive, listed: r.listed })
      const user = newUser('ned')
      const e = await concurrentSignIns([a, b], '/evict', user, 10)
      expect(e.statuses).toStrictEqual(Array.from({ length: 10 }, () => 200))
      evicted.push({ alive: e.alive, listed: e.listed, rows: await indexRows(inspect, user) })
    }
    const over = (rounds: { alive: number }[]) => rounds.filter(r => r.alive > 2).length
    figure(`maxSessionsPerUser 2, 10 parallel sign-ins of one user over two processes, ${ROUNDS} rounds per limit, PostgresSessionStore: 'refuse' let more than 2 in in ${over(refused)} rounds (most ${Math.max(...refused.map(r => r.alive))}); 'evict-oldest' left more than 2 in ${over(evicted)} rounds (most ${Math.max(...evicted.map(r => r.alive))})`)
    expect(refused).toStrictEqual(Array.from({ length: ROUNDS }, () => ({ ok: 2, alive: 2, listed: 2 })))
    expect(evicted).toStrictEqual(Array.from({ length: ROUNDS }, () => ({ alive: 2, listed: 2, rows: 2 })))
  }, 120_000)
})

describe('[nuxt-server-session] PostgresSessionStore: a cut network, behind a proxy', () => {
  let proxy: Awaited<ReturnType<typeof tcpProxy>>
  let store: PostgresSessionStore
  let server: TestServer
  const logger = recordingLogger()
  const STORE_TIMEOUT = 1000

  beforeAll(async () => {
    proxy = await tcpProxy(PG)
    const url = new URL(PG.url)
    url.hostname = '127.0.0.1'
    url.port = String(proxy.port)
    store = urlStore({ schema: await freshSchema(), timeout: STORE_TIMEOUT }, url.href)
    server = await serve(sessionApp({ store, storeTimeout: STORE_TIMEOUT, logger }).app)
  })
  afterAll(async () => {
    await server?.close()
    await store?.close()
    await proxy?.close()
  })

  it('while cut, requests that need the session answer 503 within about storeTimeout and a route without it 200; after restore() the pool recovers by itself', async () => {
    const client = new Client(server.url)
    const { id } = await client.json('/inc')
    expect((await client.json('/inc')).data).toStrictEqual({ n: 2 })

    proxy.cut()
    for (const path of ['/inc', '/read', '/save']) {
      const started = performance.now()
      const res = await client.fetch(path)
      const took = performance.now() - started
      expect(res.status, path).toBe(503)
      const body = await res.json()
      expect(body).toMatchObject({ statusCode: 503, statusMessage: 'Session store unavailable' })
      expect(JSON.stringify(body)).not.toContain(id)
      expect(took, path).toBeLessThan(STORE_TIMEOUT + 1000)
    }
    expect((await client.fetch('/never')).status).toBe(200)
    expect(await client.json('/optional')).toStrictEqual({ anonymous: true })
    expect(logger.lines.some(l => /Session store failed \(ERR_SESSION_STORE_UNAVAILABLE\)/.test(l))).toBe(true)

    proxy.restore()
    const tries = await until(async () => (await client.fetch('/read')).status === 200, 10_000)
    figure(`PostgresSessionStore after a cut network comes back: the ${tries === 1 ? 'first' : `${tries}th`} request answered 200 (the same store and pool)`)
    expect(await client.json('/read')).toMatchObject({ id, isNew: false, data: { n: 2 } })
    expect((await client.json('/inc')).data).toStrictEqual({ n: 3 })
    expect(tries).toBeLessThanOrEqual(3)
  })
})

describe('[nuxt-server-session] PostgresSessionStore: a statement held past storeTimeout', () => {
  it('a write that waits on a row lock answers 503 within about storeTimeout, the server cancels it, and it does not land after the lock is released', async () => {
    const STORE_TIMEOUT = 600
    const store = urlStore({ schema: await freshSchema(), timeout: STORE_TIMEOUT })
    const logger = recordingLogger()
    const server = await serve(sessionApp({ store, storeTimeout: STORE_TIMEOUT, logger }).app)
    const locker = new pg.Client({ connectionString: PG.url })
    await locker.connect()
    try {
      const client = new Client(server.url)
      const { id } = await client.json('/set/a/1')
      const key = await sha256Hex(id)
      await locker.query('BEGIN')
      expect((await locker.query(`SELECT key FROM ${store.tableName} WHERE key = $1 FOR UPDATE`, [key])).rows).toHaveLength(1)

      /** The store's statements on this table that wait for a lock now. */
      const waiting = async () => Number((await admin.query(`SELECT count(*) AS n FROM pg_stat_activity WHERE state = 'active' AND wait_event_type = 'Lock' AND strpos(query, $1) > 0 AND application_name = 'nuxt-server-session'`, [store.tableName])).rows[0].n)
      let sawWaiting = false
      let watching = true
      const watcher = (async () => {
        for (let i = 0; watching && i < 200; i++) {
          if (await waiting() > 0) sawWaiting = true
          await sleep(20)
        }
      })()
      const started = performance.now()
      const res = await client.fetch('/set/late/yes')
      const took = performance.now() - started
      watching = false
      await watcher
      expect(res.status).toBe(503)
      // Answered within storeTimeout (the server's lock_timeout may end it first), not when the lock went.
      expect(took).toBeLessThan(STORE_TIMEOUT + 500)
      // The UPDATE did reach the server and wait on the row...
      expect(sawWaiting).toBe(true)
      // ...and the server gives it up (lock_timeout / statement_timeout = storeTimeout).
      await until(async () => await waiting() === 0, 5000)
      // Held well past that, then released: nothing lands.
      await sleep(STORE_TIMEOUT)
      await locker.query('COMMIT')
      await sleep(300)
      const row = (await rowOf(store, key))!
      expect(row.data).toStrictEqual({ a: '1' })
      expect(await client.json('/read')).toMatchObject({ id, isNew: false, data: { a: '1' } })
      figure(`PostgresSessionStore, a write held on a row lock: 503 after ${Math.round(took)} ms (storeTimeout ${STORE_TIMEOUT}), cancelled by the server, nothing written after the lock went`)
    }
    finally {
      await locker.query('ROLLBACK').catch(() => {})
      await locker.end()
      await server.close()
      await store.close()
    }
  })
})

describe('[nuxt-server-session] PostgresSessionStore: wrong credentials, a missing database, a server that comes up late', () => {
  let secured: PostgresProcess | undefined
  let late: PostgresProcess | undefined
  const PASSWORD = `pw-${randomBytes(9).toString('base64url')}`

  afterAll(async () => {
    await secured?.stop()
    await late?.stop()
  })

  it('a wrong password: check() rejects with a message naming NUXT_SESSION_POSTGRES_URL that does not contain the password; the right one works; a request gets 503 and the log holds no password', async () => {
    secured = await startPostgresServer(await freePort(), { password: PASSWORD, settings: { fsync: 'off' } })
    const right = urlStore({}, secured.url)
    await right.check()
    await right.close()

    const wrongPassword = `wrong-${randomBytes(9).toString('base64url')}`
    const wrong = new URL(secured.url)
    wrong.password = wrongPassword
    const store = urlStore({}, wrong.href)
    const error = await rejection(store.check())
    expect(error).toBeInstanceOf(SessionConfigError)
    expect(error.message).toContain('NUXT_SESSION_POSTGRES_URL')
    expect(error.message).toMatch(/password/)
    for (const secret of [wrongPassword, PASSWORD]) {
      expect(error.message).not.toContain(secret)
      expect(String(error.stack)).not.toContain(secret)
    }
    // No password at all (the server requires one): a message naming the setting too.
    const none = new URL(secured.url)
    none.password = ''
    const noPassword = await rejection(urlStore({}, none.href).check())
    expect(noPassword.message).toContain('NUXT_SESSION_POSTGRES_URL')

    const logger = recordingLogger()
    const server = await serve(sessionApp({ store, logger }).app)
    try {
      const client = new Client(server.url)
      expect((await client.fetch('/set/a/1')).status).toBe(503)
      expect((await client.fetch('/never')).status).toBe(200)
      expect(logger.lines.join('\n')).toContain('NUXT_SESSION_POSTGRES_URL')
      for (const secret of [wrongPassword, PASSWORD]) expect(logger.lines.join('\n')).not.toContain(secret)
    }
    finally {
      await server.close()
      await store.close()
    }
  }, 60_000)

  it('a database that does not exist: check() rejects with a message naming the database setting', async () => {
    const url = new URL(PG.url)
    url.pathname = `/nss_test_missing_${randomBytes(6).toString('hex')}`
    const error = await rejection(urlStore({}, url.href).check())
    expect(error).toBeInstanceOf(SessionConfigError)
    expect(error.message).toMatch(/no such database/)
    expect(error.message).toMatch(/database name in NUXT_SESSION_POSTGRES_URL/)
  })

  it('PostgreSQL down when the store is first used, then up: the same store works, without being made again', async () => {
    const port = await freePort()
    const store = urlStore({ timeout: 2000 }, `postgres://postgres@127.0.0.1:${port}/postgres`)
    const { key } = await newKey()
    const record = liveRecord({ late: true })
    await rejection(store.check())
    await rejection(store.set(key, record, createWrite(record)))
    late = await startPostgresServer(port, { settings: { fsync: 'off' } })
    await store.check()
    expect(await store.set(key, record, createWrite(record))).toBe(true)
    expect((await store.get(key))!.data).toStrictEqual({ late: true })
  }, 60_000)
})

describe('[nuxt-server-session] PostgresSessionStore: the sweep', () => {
  /** `count` expired rows (their expiry 1 s to `count` ms + 1 s ago) in `store`'s table, by one INSERT. */
  async function insertExpired(store: PostgresSessionStore, count: number, tag: string): Promise<void> {
    const past = Date.now() - 1000
    await admin.query(`INSERT INTO ${store.tableName} (key, created_at, touched_at, expires_at, data)
      SELECT encode(sha256(($3 || i)::bytea), 'hex'), $1::bigint - i - 1000, $1::bigint - i - 1000, $1::bigint - i, '{"n":1}'::jsonb FROM generate_series(1, $2::int) AS i`, [past, count, tag])
  }

  async function insertLive(store: PostgresSessionStore, count: number): Promise<string[]> {
    const keys: string[] = []
    for (let i = 0; i < count; i++) {
      const { key } = await newKey()
      const record = liveRecord({ live: i })
      await store.set(key, record, createWrite(record))
      keys.push(key)
    }
    return keys
  }

  it('2500 expired rows and 10 live ones: sweep() removes the 2500 in batches of at most 1000 and keeps the live ones', async () => {
    const store = new PostgresSessionStore(admin, { schema: await freshSchema() })
    await store.check()
    await insertExpired(store, 2500, 'e')
    const live = await insertLive(store, 10)
    const batches: number[] = []
    const removed = await store.sweep(n => batches.push(n))
    figure(`PostgresSessionStore sweep of 2500 expired rows: batches of ${batches.join(', ')}`)
    expect(removed).toBe(2500)
    expect(batches.reduce((sum, n) => sum + n, 0)).toBe(2500)
    expect(Math.max(...batches)).toBeLessThanOrEqual(1000)
    expect(batches.length).toBeGreaterThanOrEqual(3)
    expect(await countRows(store)).toBe(10)
    expect(await countRows(store, 'expires_at < $1', [Date.now()])).toBe(0)
    for (const [i, key] of live.entries()) expect((await store.get(key))!.data).toStrictEqual({ live: i })
    const again: number[] = []
    expect(await store.sweep(n => again.push(n))).toBe(0)
    expect(again).toStrictEqual([0])
  })

  it('reads keep answering while a sweep of 30,000 expired rows runs', async () => {
    const store = urlStore({ schema: await freshSchema(), poolSize: 4 })
    await store.check()
    await insertExpired(store, 30_000, 'r')
    const [live] = await insertLive(store, 1)
    let sweeping = true
    const batches: number[] = []
    const started = performance.now()
    const sweep = store.sweep(n => batches.push(n)).finally(() => {
      sweeping = false
    })
    const reads: number[] = []
    while (sweeping && reads.length < 10_000) {
      const t = performance.now()
      expect((await store.get(live!))!.data).toStrictEqual({ live: 0 })
      if (sweeping) reads.push(performance.now() - t)
    }
    expect(await sweep).toBe(30_000)
    const took = performance.now() - started
    figure(`PostgresSessionStore sweep of 30,000 expired rows: ${batches.length} batches in ${Math.round(took)} ms; ${reads.length} reads answered meanwhile, the slowest in ${Math.max(...reads).toFixed(1)} ms`)
    expect(Math.max(...batches)).toBeLessThanOrEqual(1000)
    expect(reads.length).toBeGreaterThan(0)
    expect(await countRows(store)).toBe(1)
  }, 60_000)

  it('two sweeps at once on one table (two stores, two pools) skip each other\'s rows: together they remove each expired row once, without an error', async () => {
    const schema = await freshSchema()
    const [one, two] = [urlStore({ schema }), urlStore({ schema })]
    await one.check()
    await insertExpired(one, 6000, 't')
    await insertLive(one, 3)
    const counts = await Promise.all([one.sweep(), two.sweep()])
    expect(counts[0]! + counts[1]!).toBe(6000)
    expect(await countRows(one)).toBe(3)
  }, 60_000)
})
