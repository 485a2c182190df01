/**
 * PostgresSessionStore behind a real PgBouncer (Debian's, 1.18) in TRANSACTION pooling mode, in
 * front of the test run's PostgreSQL: what fails with the store's defaults (PgBouncer refuses the
 * startup parameters the store's pool sends; named prepared statements break once server
 * connections are shared), and the setup that works (`prepare: false`, the three timeouts in
 * `ignore_startup_parameters`, the timeouts set on the role instead), proved by the conformance
 * suite and the concurrency scenarios over real HTTP, with more client connections than
 * PgBouncer's `default_pool_size` so that server connections really are shared.
 *
 * Everything runs as a role of this file's own (random name, dropped at the end) whose
 * `statement_timeout`, `lock_timeout` and `idle_in_transaction_session_timeout` are set on the
 * role, each test in a schema of a random name that role owns; only those are dropped. The
 * bouncers are private ones (test/support/pgbouncer.ts), stopped at the end.
 */
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PostgresSessionStore, SessionConfigError } from 'nuxt-server-session/h3'
import type { SessionRecord } from 'nuxt-server-session/h3'
import { recordingLogger, sessionApp } from '../support/app'
import { figure } from '../support/figure'
import { startPgBouncer } from '../support/pgbouncer'
import type { PgBouncerProcess } from '../support/pgbouncer'
import { serve } from '../support/server'
import type { TestServer } from '../support/server'
import { postgresAddress } from '../support/services'
import { destroyRacingSave, gatedSessionApp, parallelWrites, racingRegenerates } from '../support/store-scenarios'
import type { BackendInspector, GatedApp } from '../support/store-scenarios'
import { describeStoreConformance, fakeSessionId, sha256Hex } from './conformance'

const PG = postgresAddress()
const RUN = randomBytes(5).toString('hex')
/** The role everything here runs as, through the bouncers (trust auth there; its password for the server). */
const ROLE = `nss_test_pgb_${RUN}`
const ROLE_PASSWORD = randomBytes(12).toString('hex')
/** PgBouncer's server connections per user and database: fewer than the store's pool (10). */
const SERVER_CONNECTIONS = 3
/** Set on the role (the store's own startup parameters are dropped by PgBouncer). */
const ROLE_TIMEOUTS = { statement_timeout: '1500ms', lock_timeout: '500ms', idle_in_transaction_session_timeout: '1500ms' }
const TIMEOUT_PARAMETERS = 'statement_timeout, lock_timeout, idle_in_transaction_session_timeout'
const HOUR = 3_600_000

// The test's own pool on the run's PostgreSQL (not through a bouncer): to make and drop the role
// and the schemas, and to look below the store.
const admin = new pg.Pool({ connectionString: PG.url, max: 4 })
admin.on('error', () => {})

/** Started in beforeAll: transaction mode, nothing else configured; and the same with the timeouts ignored. */
let plain: PgBouncerProcess
let tuned: PgBouncerProcess
const bouncers: PgBouncerProcess[] = []
/** Every schema this file made: dropped, and only those, at the end. */
const schemas: string[] = []
const stores: PostgresSessionStore[] = []

/** A PgBouncer in transaction mode in front of the run's PostgreSQL, for ROLE (also its admin). */
async function bouncer(settings: Record<string, string | number> = {}): Promise<PgBouncerProcess> {
  const started = await startPgBouncer(PG.url, {
    users: { [ROLE]: ROLE_PASSWORD },
    settings: { pool_mode: 'transaction', default_pool_size: SERVER_CONNECTIONS, admin_users: ROLE, ...settings },
  })
  bouncers.push(started)
  return started
}

async function stopBouncer(b: PgBouncerProcess): Promise<void> {
  bouncers.splice(bouncers.indexOf(b), 1)
  await b.stop()
}

beforeAll(async () => {
  await admin.query(`CREATE ROLE "${ROLE}" LOGIN PASSWORD '${ROLE_PASSWORD}'`)
  for (const [name, value] of Object.entries(ROLE_TIMEOUTS)) await admin.query(`ALTER ROLE "${ROLE}" SET ${name} = '${value}'`)
  plain = await bouncer()
  tuned = await bouncer({ ignore_startup_parameters: TIMEOUT_PARAMETERS })
})

afterAll(async () => {
  await Promise.all(stores.map(store => store.close()))
  for (const b of [...bouncers]) await stopBouncer(b)
  for (const schema of schemas) await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
  const { rows } = await admin.query('SELECT nspname FROM pg_namespace WHERE nspname = ANY($1::text[])', [schemas])
  // The bouncers are stopped; a server connection of the role may take a moment to end.
  await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1', [ROLE])
  await admin.query(`DROP ROLE IF EXISTS "${ROLE}"`)
  const roles = await admin.query('SELECT rolname FROM pg_roles WHERE rolname = $1', [ROLE])
  await admin.end()
  expect(rows).toStrictEqual([])
  expect(roles.rows).toStrictEqual([])
})

/** A schema of a random name, owned by ROLE. */
async function freshSchema(): Promise<string> {
  const name = `nss_test_${randomBytes(6).toString('hex')}`
  schemas.push(name)
  await admin.query(`CREATE SCHEMA "${name}" AUTHORIZATION "${ROLE}"`)
  return name
}

/** A store from the URL of `through` (as ROLE) in a fresh schema, closed at the end. */
async function storeBehind(through: PgBouncerProcess, options: ConstructorParameters<typeof PostgresSessionStore>[1] = {}): Promise<PostgresSessionStore> {
  const store = new PostgresSessionStore(through.url(ROLE), { schema: await freshSchema(), ...options })
  stores.push(store)
  return store
}

/** The store's own pool (a pg.Pool through the bouncer). */
async function poolOf(store: PostgresSessionStore): Promise<pg.Pool> {
  return await store.pool() as unknown as pg.Pool
}

/** The inspector of the store's rows, read directly on PostgreSQL (not through a bouncer). */
function rowsBackend(store: PostgresSessionStore): BackendInspector {
  return {
    keyOfId: id => sha256Hex(id),
    exists: async key => (await admin.query(`SELECT 1 FROM ${store.tableName} WHERE key = $1`, [key])).rows.length === 1,
    holding: async (field, value) => (await admin.query(`SELECT key FROM ${store.tableName} WHERE data ->> $1 = $2 ORDER BY key`, [field, value])).rows.map(row => row.key as string),
  }
}

/** Rows of a SHOW command on the admin console of `through` (simple queries only there). */
async function adminConsole(through: PgBouncerProcess, command: string): Promise<Record<string, unknown>[]> {
  const client = new pg.Client({ connectionString: through.url(ROLE, 'pgbouncer'), connectionTimeoutMillis: 5000 })
  client.on('error', () => {})
  await client.connect()
  try {
    return (await client.query(command)).rows
  }
  finally {
    await client.end()
  }
}

/** What a rejection carried: the fields the README states. */
async function failure(pending: Promise<unknown>): Promise<{ name: string, code?: string, severity?: string, message: string, error: unknown }> {
  try {
    await pending
  }
  catch (error) {
    const e = error as { name: string, code?: string, severity?: string, message: string }
    return { name: e.name, code: e.code, severity: e.severity, message: e.message, error }
  }
  throw new Error('expected a rejection')
}

function liveRecord(data: Record<string, unknown>): SessionRecord {
  const now = Date.now()
  return { createdAt: now - 60_000, touchedAt: now, expiresAt: now + HOUR, data }
}

describe('[nuxt-server-session] PostgresSessionStore behind PgBouncer 1.18 in transaction mode: the store\'s defaults fail', () => {
  it('PgBouncer refuses the pool\'s startup parameter statement_timeout: every operation fails at connect with FATAL 08P01 "unsupported startup parameter: statement_timeout" (prepare on or off), which the store explains (a SessionConfigError naming ignore_startup_parameters, the role\'s timeouts and prepare), and a request answers 503', async () => {
    const advice = /unsupported startup parameter: statement_timeout\): behind PgBouncer in transaction mode, add statement_timeout, lock_timeout, idle_in_transaction_session_timeout to its ignore_startup_parameters, set those timeouts on the role instead \(ALTER ROLE \.\.\. SET statement_timeout = \.\.\.\), and set NUXT_SESSION_POSTGRES_PREPARE=false/
    for (const prepare of [true, false]) {
      const store = await storeBehind(plain, { prepare })
      const first = await failure(store.check())
      expect(first.error).toBeInstanceOf(SessionConfigError)
      expect(first.message).toMatch(advice)
      expect((first.error as Error).cause).toMatchObject({ code: '08P01', severity: 'FATAL', message: 'unsupported startup parameter: statement_timeout' })
      // It is not a first-use hiccup: the next operation fails the same way.
      const next = await failure(store.get(await sha256Hex(fakeSessionId())))
      expect((next.error as Error).cause).toMatchObject({ code: '08P01', message: 'unsupported startup parameter: statement_timeout' })
      expect((await admin.query('SELECT to_regclass($1) AS t', [store.tableName])).rows[0].t).toBeNull()
    }
    const logger = recordingLogger()
    const server = await serve(sessionApp({ store: await storeBehind(plain, { prepare: false }), logger }).app)
    try {
      const res = await fetch(`${server.url}/set/a/1`)
      expect(res.status).toBe(503)
      await res.arrayBuffer()
      expect(logger.lines).toHaveLength(1)
      expect(logger.lines[0]).toMatch(/^Session store failed \(ERR_SESSION_STORE_UNAVAILABLE\): A connection pooler refused a setting the store sends \(/)
      expect(logger.lines[0]).toMatch(advice)
    }
    finally {
      await server.close()
    }
  })

  it('all three timeouts must be in ignore_startup_parameters: with only some, PgBouncer refuses the next one (lock_timeout, then idle_in_transaction_session_timeout); application_name is never refused', async () => {
    const cases = [
      ['statement_timeout', 'lock_timeout'],
      ['statement_timeout, lock_timeout', 'idle_in_transaction_session_timeout'],
    ] as const
    for (const [ignored, refused] of cases) {
      const b = await bouncer({ ignore_startup_parameters: ignored })
      try {
        const store = await storeBehind(b, { prepare: false })
        const failed = await failure(store.check())
        expect((failed.error as Error).cause, `ignore_startup_parameters = ${ignored}`).toMatchObject({ code: '08P01', severity: 'FATAL', message: `unsupported startup parameter: ${refused}` })
        expect(failed.message).toContain('ignore_startup_parameters')
        await store.close()
      }
      finally {
        await stopBouncer(b)
      }
    }
  })

  it('with the three ignored but prepare left on (named prepared statements), operations fail once the bouncer\'s server connections are shared: 42P05 "prepared statement ... already exists" (and 26000 "... does not exist"); the same load with prepare: false has no failure', async () => {
    const run = async (store: PostgresSessionStore) => {
      await store.check()
      const failures = new Map<string, number>()
      let ok = 0
      // 5 rounds of 40 operations at once (creates, reads, updates) on the store's pool of 10.
      for (let round = 0; round < 5; round++) {
        const keys = await Promise.all(Array.from({ length: 10 }, () => sha256Hex(fakeSessionId())))
        const record = liveRecord({ a: 1 })
        const ops = keys.flatMap(key => [
          () => store.set(key, record, { create: true, changed: ['a'], removed: [], ttl: 3600 }),
          () => store.get(key),
          () => store.set(key, { ...record, data: { a: 2 } }, { create: false, changed: ['a'], removed: [], ttl: 3600 }),
          () => store.getMany([key]),
        ])
        await Promise.all(ops.map(op => op().then(() => ok++, (error: { code?: string, message: string }) => {
          const kind = `${error.code} ${error.message.replace(/^prepared statement ".*"/, 'prepared statement "<name>"')}`
          failures.set(kind, (failures.get(kind) ?? 0) + 1)
        })))
      }
      return { ok, failures: Object.fromEntries(failures) }
    }
    const prepared = await run(await storeBehind(tuned))
    const unprepared = await run(await storeBehind(tuned, { prepare: false }))
    figure(`PgBouncer 1.18 transaction mode, default_pool_size ${SERVER_CONNECTIONS}, store pool 10, 200 operations (40 at once): prepare on: ${prepared.ok} ok, failures ${JSON.stringify(prepared.failures)}; prepare: false: ${unprepared.ok} ok, failures ${JSON.stringify(unprepared.failures)}`)
    const kinds = Object.keys(prepared.failures)
    expect(kinds.length).toBeGreaterThan(0)
    expect(kinds.filter(k => k !== '42P05 prepared statement "<name>" already exists' && k !== '26000 prepared statement "<name>" does not exist')).toStrictEqual([])
    expect(kinds).toContain('42P05 prepared statement "<name>" already exists')
    expect(unprepared).toStrictEqual({ ok: 200, failures: {} })
  })
})

describe('[nuxt-server-session] PostgresSessionStore behind PgBouncer 1.18 in transaction mode: the setup that works (prepare: false, the three timeouts in ignore_startup_parameters, the timeouts on the role)', () => {
  describeStoreConformance('PostgresSessionStore behind PgBouncer (transaction mode, prepare: false)', async () => {
    // The suite's raw access stores one value per record; a row is not one. See test/store/postgres.test.ts.
    const store = await storeBehind(tuned, { prepare: false })
    return { store, cleanup: () => store.close() }
  }, { raw: false })

  it('the timeouts the store\'s pool asks for never reach the server (PgBouncer drops them): the role\'s apply; application_name arrives', async () => {
    const store = await storeBehind(tuned, { prepare: false, timeout: 5000 })
    await store.check()
    const pool = await poolOf(store)
    const show = async (name: string) => (await pool.query(`SHOW ${name}`)).rows[0][name] as string
    // Directly on PostgreSQL these would be 2500ms each (half of `timeout`).
    expect(await show('statement_timeout')).toBe(ROLE_TIMEOUTS.statement_timeout)
    expect(await show('lock_timeout')).toBe(ROLE_TIMEOUTS.lock_timeout)
    expect(await show('idle_in_transaction_session_timeout')).toBe(ROLE_TIMEOUTS.idle_in_transaction_session_timeout)
    expect(await show('application_name')).toBe('nuxt-server-session')
  })

  it('the role\'s statement_timeout cancels a statement held past it, through the bouncer (57014), and the store goes on', async () => {
    const store = await storeBehind(tuned, { prepare: false })
    await store.check()
    const started = performance.now()
    const held = await failure((await poolOf(store)).query('SELECT pg_sleep(10)'))
    const took = performance.now() - started
    expect(held).toMatchObject({ code: '57014', message: 'canceling statement due to statement timeout' })
    expect(took).toBeGreaterThanOrEqual(1400)
    expect(took).toBeLessThan(6000)
    const key = await sha256Hex(fakeSessionId())
    const record = liveRecord({ a: 1 })
    expect(await store.set(key, record, { create: true, changed: ['a'], removed: [], ttl: 3600 })).toBe(true)
    expect(await store.get(key)).toStrictEqual(record)
  })

  it('the role\'s lock_timeout cancels a store write blocked by a row lock (55P03), and that write does not land once the lock goes', async () => {
    const store = await storeBehind(tuned, { prepare: false })
    const key = await sha256Hex(fakeSessionId())
    const record = liveRecord({ a: 1 })
    expect(await store.set(key, record, { create: true, changed: ['a'], removed: [], ttl: 3600 })).toBe(true)
    const locker = await admin.connect()
    try {
      await locker.query('BEGIN')
      await locker.query(`SELECT 1 FROM ${store.tableName} WHERE key = $1 FOR UPDATE`, [key])
      const started = performance.now()
      const blocked = await failure(store.set(key, { ...record, data: { a: 2 } }, { create: false, changed: ['a'], removed: [], ttl: 3600 }))
      const took = performance.now() - started
      expect(blocked).toMatchObject({ code: '55P03', message: 'canceling statement due to lock timeout' })
      expect(took).toBeGreaterThanOrEqual(400)
      expect(took).toBeLessThan(5000)
      await locker.query('COMMIT')
    }
    finally {
      locker.release()
    }
    expect(await store.get(key)).toStrictEqual(record)
  })

  describe('over HTTP, with 10 client connections sharing 3 server connections', () => {
    /** A gated app on a fresh store behind `through` (its own schema), served; `close()` ends both. */
    async function httpStore(through: PgBouncerProcess, options: ConstructorParameters<typeof PostgresSessionStore>[1] = {}) {
      const store = await storeBehind(through, { prepare: false, poolSize: 10, ...options })
      const gated: GatedApp = gatedSessionApp(store)
      const server: TestServer = await serve(gated.app)
      return { store, gated, server, close: async () => {
        await server.close()
        await store.close()
      } }
    }

    it('50 parallel disjoint writes to one session: 50/50 kept; the store\'s pool opened more clients than the bouncer\'s 3 server connections, and the bouncer opened no more than those 3', async () => {
      const { store, server, close } = await httpStore(tuned)
      try {
        const kept = await parallelWrites(server.url, 50)
        const clients = (await poolOf(store)).totalCount
        // A server connection stays open (server_idle_timeout 600 s): those listed now are all it opened.
        const servers = (await adminConsole(tuned, 'SHOW SERVERS')).filter(row => row.user === ROLE && row.database === 'postgres').length
        const peers = (await adminConsole(tuned, 'SHOW CLIENTS')).filter(row => row.user === ROLE && row.database === 'postgres').length
        figure(`50 parallel disjoint writes to one session, PostgresSessionStore (prepare: false) behind PgBouncer 1.18 in transaction mode: ${kept}/50 kept; store pool ${clients} clients, bouncer ${peers} clients on ${servers} server connections (default_pool_size ${SERVER_CONNECTIONS})`)
        expect(kept).toBe(50)
        expect(clients).toBeGreaterThan(SERVER_CONNECTIONS)
        expect(peers).toBeGreaterThanOrEqual(clients)
        expect(servers).toBeGreaterThan(0)
        expect(servers).toBeLessThanOrEqual(SERVER_CONNECTIONS)
      }
      finally {
        await close()
      }
    }, 60_000)

    it('two concurrent regenerates of one session (5 rounds): exactly one wins, the other gets 409, the old id is dead, exactly one row holds the data', async () => {
      const { store, gated, server, close } = await httpStore(tuned)
      try {
        for (let round = 0; round < 5; round++) await racingRegenerates(server.url, gated, rowsBackend(store))
      }
      finally {
        await close()
      }
    }, 60_000)

    it('destroy racing a slow save (automatic, then explicit): the save answers 409, the session stays destroyed', async () => {
      const { store, gated, server, close } = await httpStore(tuned)
      try {
        await destroyRacingSave(server.url, gated, rowsBackend(store), 'auto')
        await destroyRacingSave(server.url, gated, rowsBackend(store), 'explicit')
      }
      finally {
        await close()
      }
    }, 60_000)

    it('or, with PgBouncer left as it is (transaction mode, nothing ignored): prepare: false and poolOptions { statement_timeout: 0, lock_timeout: 0, idle_in_transaction_session_timeout: 0 } (not sent) work too: 50/50 parallel writes kept, one regenerate race won once', async () => {
      const { store, gated, server, close } = await httpStore(plain, { poolOptions: { statement_timeout: 0, lock_timeout: 0, idle_in_transaction_session_timeout: 0 } })
      try {
        await store.check()
        expect((await (await poolOf(store)).query('SHOW statement_timeout')).rows[0].statement_timeout).toBe(ROLE_TIMEOUTS.statement_timeout)
        expect(await parallelWrites(server.url, 50)).toBe(50)
        await racingRegenerates(server.url, gated, rowsBackend(store))
      }
      finally {
        await close()
      }
    }, 60_000)
  })
})
