import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateId, signCookieValue, storeKeyOf } from '../../src/runtime/server/core/crypto'
import { userKeyOf } from '../../src/runtime/server/core/session'
import { figure } from '../support/figure'
import { buildNitro3App } from '../support/nitro3-build'
import { buildNuxtApp } from '../support/nuxt-build'
import type { NuxtBuild } from '../support/nuxt-build'
import { baseEnv, exitsOnSigterm, run, startServer, stopAll } from '../support/process'
import type { ServerProcess } from '../support/process'
import { itPassesTheRuntimeChecks } from '../support/runtime-checks'
import { Client } from '../support/server'
import { postgresAddress, redisAddress } from '../support/services'
import { tcpProxy } from '../support/tcp-proxy'

/**
 * PostgresSessionStore chosen at run time: one production Nuxt 4 build of test/fixtures/postgres
 * (nothing about PostgreSQL in its config) and one Nitro 3 build of test/fixtures/nitro3-basic,
 * each started with NUXT_SESSION_POSTGRES_URL (the test run's private PostgreSQL) and
 * NUXT_SESSION_POSTGRES_SCHEMA (a schema of its own per group of tests, dropped afterwards).
 */

const SECRET = 'postgres-e2e-secret-0123456789-0123456789-0'
const COOKIE = '__Host-sid'
const NUXT_FIXTURE = fileURLToPath(new URL('../fixtures/postgres', import.meta.url))
const NITRO3_FIXTURE = fileURLToPath(new URL('../fixtures/nitro3-basic', import.meta.url))
/** What the modules log when the check at start fails (src/runtime/server/nitro/start.ts). */
/** The start check's line for a setting to fix (a wrong user, password or database). */
const CANNOT_WORK = 'PostgreSQL sessions cannot work: PostgreSQL '

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))

/** Waits (bounded in time) until `check` holds. */
async function until(check: () => boolean | Promise<boolean>, ms = 15_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} not met within ${ms} ms`)
    await sleep(100)
  }
}

/** The session id in a jar's cookie (`<id>.<signature>`). */
const idIn = (jar: Map<string, string>) => jar.get(COOKIE)!.split('.')[0]!

describe('[nuxt-server-session] PostgreSQL store chosen at run time (NUXT_SESSION_POSTGRES_URL)', () => {
  const admin = new pg.Pool({ connectionString: postgresAddress().url, max: 2 })
  admin.on('error', () => {})
  const schemas: string[] = []
  let tmp: string
  let cwd: string
  let nuxt: NuxtBuild

  /** A schema of its own (created here, dropped in afterAll). */
  async function newSchema(): Promise<string> {
    const name = `nss_e2e_${randomBytes(6).toString('hex')}`
    await admin.query(`CREATE SCHEMA "${name}"`)
    schemas.push(name)
    return name
  }

  /** The session rows of `schema`'s table, as stored. */
  async function rowsOf(schema: string): Promise<{ key: string, user_id: string | null, user_key: string | null, data: string }[]> {
    const { rows } = await admin.query(`SELECT key, user_id, user_key, data::text AS data FROM "${schema}".nss_sessions ORDER BY key`)
    return rows
  }

  /** A Nuxt server of the build on the test run's PostgreSQL, in `schema`. */
  const startNuxt = (schema: string, env: Record<string, string> = {}) => startServer(nuxt.entry, {
    cwd,
    env: { NUXT_SESSION_SECRET: SECRET, NUXT_SESSION_POSTGRES_URL: postgresAddress().url, NUXT_SESSION_POSTGRES_SCHEMA: schema, ...env },
  })

  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'nss-e2e-postgres-'))
    cwd = join(tmp, 'cwd')
    await mkdir(cwd)
    nuxt = await buildNuxtApp(NUXT_FIXTURE, 4, { outputDir: join(tmp, 'nuxt') })
  }, 240_000)

  afterAll(async () => {
    await stopAll()
    for (const schema of schemas) await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
    await admin.end()
    await nuxt?.remove()
    if (tmp) await rm(tmp, { recursive: true, force: true })
  })

  /** One visitor's cookie jar, sent to whichever server. */
  function visitor(jar = new Map<string, string>()) {
    const on = (server: ServerProcess) => Object.assign(new Client(server.url), { jar })
    return { jar, on }
  }

  describe('one production Nuxt 4 server', () => {
    let schema: string
    let server: ServerProcess

    beforeAll(async () => {
      expect(nuxt.version).toMatch(/^4\./)
      schema = await newSchema()
      server = await startNuxt(schema)
    })
    afterAll(async () => {
      await server?.stop()
    })

    itPassesTheRuntimeChecks(() => server.url)

    it('keeps its sessions as rows of <schema>.nss_sessions, keyed by the sha-256 hex of the id (never the id), and nothing under .data', async () => {
      const v = visitor()
      await v.on(server).json('/api/visits')
      await v.on(server).fetch('/api/login?name=zoe')
      expect(await v.on(server).json('/api/visits')).toMatchObject({ visits: 2, isNew: false })
      const id = idIn(v.jar)
      const key = await storeKeyOf(id)
      const rows = await rowsOf(schema)
      const row = rows.find(r => r.key === key)
      expect(row, 'the row under sha-256(id)').toBeDefined()
      expect(JSON.parse(row!.data)).toMatchObject({ user: 'zoe', visits: 2 })
      for (const r of rows) {
        expect(r.key).toMatch(/^[\da-f]{64}$/)
        expect(JSON.stringify(r)).not.toContain(id)
      }
      const { rows: [table] } = await admin.query('SELECT obj_description(to_regclass($1), \'pg_class\') AS comment', [`"${schema}".nss_sessions`])
      expect(table.comment).toBe('nuxt-server-session schema 1')
      // Not the SQLite default: the working directory stays empty.
      expect(existsSync(join(cwd, '.data'))).toBe(false)
      // Signing out deletes the row.
      await v.on(server).fetch('/api/logout')
      expect((await rowsOf(schema)).some(r => r.key === key)).toBe(false)
    })
  })

  describe('two Nuxt server processes on one database', () => {
    let schema: string
    let a: ServerProcess
    let b: ServerProcess

    beforeAll(async () => {
      schema = await newSchema()
      ;[a, b] = await Promise.all([startNuxt(schema), startNuxt(schema)])
      expect(a.child.pid).not.toBe(b.child.pid)
    })
    afterAll(async () => {
      await Promise.all([a?.stop(), b?.stop()])
    })

    it('a sign-in on A is seen on B, visits alternate between them, a sign-out on A ends the session on B at once (and the other way round)', async () => {
      for (const [first, second] of [[a, b], [b, a]] as const) {
        const v = visitor()
        for (let i = 1; i <= 6; i++) expect(await v.on(i % 2 ? first : second).json('/api/visits')).toMatchObject({ visits: i })
        expect((await v.on(first).fetch('/api/login?name=ada')).status).toBe(302)
        const signedIn = v.jar.get(COOKIE)!
        expect(await v.on(second).json('/api/me')).toMatchObject({ user: 'ada', visits: 6, isNew: false })
        expect((await v.on(first).fetch('/api/logout')).status).toBe(302)
        expect(v.jar.has(COOKIE)).toBe(false)
        // The very next request with the old cookie, on the other process: nobody.
        expect(await visitor(new Map([[COOKIE, signedIn]])).on(second).json('/api/me')).toMatchObject({ user: null, visits: 0, isNew: true })
      }
    })

    it('devices: signed in on A from three devices and listed on B; one revoked on B is anonymous on A at once; "everywhere else" on A and "everywhere" on B likewise', async () => {
      const device = (ua: string) => {
        const v = visitor()
        const on = (server: ServerProcess) => {
          const client = v.on(server)
          return { json: (path: string) => client.json(path, { headers: { 'user-agent': ua } }) }
        }
        return { jar: v.jar, on }
      }
      const user = `ada-${randomBytes(3).toString('hex')}`
      const [phone, laptop, tablet] = [device('Phone/1.0'), device('Laptop/2.0'), device('Tablet/3.0')]
      for (const d of [phone, laptop, tablet]) expect(await d.on(a).json(`/api/devices/sign-in?user=${user}`)).toEqual({ userId: user })
      const userKey = await userKeyOf(user)
      const rowsOfUser = async () => (await rowsOf(schema)).filter(r => r.user_key === userKey)
      expect(await rowsOfUser()).toHaveLength(3)
      expect(userKey).not.toContain(user)

      const list = await laptop.on(b).json('/api/devices/list')
      expect(list).toHaveLength(3)
      expect(list.filter((s: any) => s.current)).toHaveLength(1)
      for (const s of list) expect(s.handle).toMatch(/^[\da-f]{24}$/)
      const laptopHandle = list.find((s: any) => s.current).handle
      for (const d of [phone, laptop, tablet]) expect(JSON.stringify(list)).not.toContain(idIn(d.jar))

      // Revoke the phone from the laptop, on B: the phone's very next request, on A, is anonymous.
      const phoneKey = await storeKeyOf(idIn(phone.jar))
      const phoneHandle = list.find((s: any) => phoneKey.endsWith(s.handle))?.handle
      expect(phoneHandle, 'the phone\'s handle among those listed').toBeDefined()
      expect(await laptop.on(b).json(`/api/devices/revoke?handle=${phoneHandle}`)).toEqual({ ok: true })
      expect(await phone.on(a).json('/api/devices/me')).toEqual({ userId: null, isNew: true })
      expect(await tablet.on(a).json('/api/devices/me')).toEqual({ userId: user, isNew: false })
      expect(await rowsOfUser()).toHaveLength(2)

      // "Sign out everywhere else" from the laptop, on A: the tablet is anonymous on B at once.
      expect(await laptop.on(a).json('/api/devices/revoke-all?keepCurrent=1')).toEqual({ ok: true })
      expect(await tablet.on(b).json('/api/devices/me')).toEqual({ userId: null, isNew: true })
      expect(await laptop.on(b).json('/api/devices/me')).toEqual({ userId: user, isNew: false })
      expect((await laptop.on(b).json('/api/devices/list')).map((s: any) => s.handle)).toEqual([laptopHandle])

      // "Sign out everywhere" from B: the laptop is anonymous on A, nothing is left of the user.
      expect(await laptop.on(b).json('/api/devices/revoke-all')).toEqual({ ok: true })
      expect(await laptop.on(a).json('/api/devices/me')).toEqual({ userId: null, isNew: true })
      expect(await rowsOfUser()).toEqual([])
    })

    it('50 parallel requests of one session over both processes, each setting its own key: 50/50 kept', async () => {
      const v = visitor()
      await v.on(a).json('/api/visits')
      const results = await Promise.all(Array.from({ length: 50 }, (_, i) => v.on(i % 2 ? a : b).fetch(`/api/set/k${i}`)))
      expect(results.map(r => r.status)).toEqual(Array.from({ length: 50 }, () => 200))
      const { data } = await v.on(b).json('/api/me')
      const kept = Array.from({ length: 50 }, (_, i) => `k${i}`).filter(k => data[k] === true).length
      figure(`50 parallel disjoint writes through two Nuxt processes on PostgresSessionStore: ${kept}/50 kept`)
      expect(kept).toBe(50)
    })

    it('a signed-in session survives a restart of both processes', async () => {
      const v = visitor()
      await v.on(a).fetch('/api/login?name=kim')
      await v.on(b).json('/api/visits')
      await Promise.all([a.stop(), b.stop()])
      ;[a, b] = await Promise.all([startNuxt(schema), startNuxt(schema)])
      expect(await v.on(b).json('/api/me')).toMatchObject({ user: 'kim', visits: 1, isNew: false })
      expect(await v.on(a).json('/api/visits')).toMatchObject({ visits: 2, isNew: false })
    })
  })

  it('outage: while PostgreSQL is cut, session routes answer 503 (no cookie, no new session) and a route without the session 200; after the restore the same process recovers by itself', async () => {
    const schema = await newSchema()
    const proxy = await tcpProxy({ host: postgresAddress().host, port: postgresAddress().port })
    try {
      const url = new URL(postgresAddress().url)
      url.host = `127.0.0.1:${proxy.port}`
      const c = await startNuxt(schema, { NUXT_SESSION_POSTGRES_URL: url.href, NUXT_SESSION_STORE_TIMEOUT: '500' })
      const visitors = Array.from({ length: 5 }, () => visitor())
      for (const v of visitors) {
        await v.on(c).json('/api/visits')
        await v.on(c).json('/api/visits')
      }
      const cookies = visitors.map(v => v.jar.get(COOKIE))
      proxy.cut()
      const statuses = { session: new Map<number, number>(), lazy: new Map<number, number>(), fresh: new Map<number, number>() }
      const count = (map: Map<number, number>, status: number) => map.set(status, (map.get(status) ?? 0) + 1)
      let cookiesSent = 0
      const deadline = Date.now() + 2000
      for (let round = 0; round < 100 && Date.now() < deadline; round++) {
        for (const v of visitors) {
          for (const path of ['/api/visits', '/api/me']) {
            const res = await v.on(c).fetch(path)
            count(statuses.session, res.status)
            cookiesSent += res.headers.getSetCookie().length
          }
          count(statuses.lazy, (await v.on(c).fetch('/api/lazy')).status)
        }
        // A first visit: its new session cannot be saved, so no cookie either.
        const fresh = await new Client(c.url).fetch('/api/visits')
        count(statuses.fresh, fresh.status)
        cookiesSent += fresh.headers.getSetCookie().length
      }
      figure(`PostgreSQL cut: session routes ${JSON.stringify(Object.fromEntries(statuses.session))}, first visits ${JSON.stringify(Object.fromEntries(statuses.fresh))}, lazy route ${JSON.stringify(Object.fromEntries(statuses.lazy))}`)
      expect([...statuses.session.keys()]).toEqual([503])
      expect([...statuses.fresh.keys()]).toEqual([503])
      expect([...statuses.lazy.keys()]).toEqual([200])
      expect(cookiesSent).toBe(0)
      expect(visitors.map(v => v.jar.get(COOKIE))).toEqual(cookies)
      expect(c.child.exitCode).toBeNull()
      proxy.restore()
      const restored = Date.now()
      await until(async () => (await visitors[0]!.on(c).fetch('/api/me')).status === 200, 15_000, 'a 200 after the restore')
      figure(`PostgreSQL restored: the same Nuxt process answered 200 again after ${Date.now() - restored} ms`)
      expect(c.child.exitCode).toBeNull()
      for (const v of visitors) {
        expect(await v.on(c).json('/api/me')).toMatchObject({ visits: 2, isNew: false })
        expect(await v.on(c).json('/api/visits')).toMatchObject({ visits: 3, isNew: false })
      }
      expect(await new Client(c.url).json('/api/visits')).toEqual({ visits: 1, isNew: true })
      // Nothing landed from the cut: the five visitors' rows and the one first visit after it.
      expect(await rowsOf(schema)).toHaveLength(6)
      await c.stop()
    }
    finally {
      await proxy.close()
    }
  }, 40_000)

  describe('misconfiguration', () => {
    it('a URL naming a missing user and database: the server starts, says so in one line naming NUXT_SESSION_POSTGRES_URL (never the password), session routes answer 503', async () => {
      const { port } = postgresAddress()
      const password = 's3cret-pw'
      const urls = {
        user: `postgres://nobody:${password}@127.0.0.1:${port}/nss_missing_db`,
        database: `postgres://postgres:${password}@127.0.0.1:${port}/nss_missing_db`,
      }
      // A schema never created: were the URL to work after all, nothing would be created anywhere.
      const absent = `nss_e2e_absent_${randomBytes(6).toString('hex')}`
      const servers = await Promise.all(Object.values(urls).map(url => startNuxt(absent, { NUXT_SESSION_POSTGRES_URL: url })))
      // A cookie this secret signed, of a session that no store has: its read must fail, not start afresh.
      const cookie = await signCookieValue(SECRET, COOKIE, generateId())
      for (const [what, server] of Object.keys(urls).map((what, i) => [what, servers[i]!] as const)) {
        await until(() => server.output().includes(CANNOT_WORK), 10_000, `the ${what} line in the log`)
        const named = server.output().split('\n').filter(line => line.includes('NUXT_SESSION_POSTGRES_URL'))
        expect(named, server.output()).toHaveLength(1)
        expect(named[0]).toContain(CANNOT_WORK)
        // One tag, one full stop between the reason and what happens meanwhile.
        expect(named[0]!.match(/\[nuxt-server-session\]/g)).toHaveLength(1)
        expect(named[0]).toMatch(/[^.]\. Requests that need a session answer 503 until this is fixed\.$/)
        expect(named[0]).toMatch(what === 'user' ? /role "nobody"|user and password/ : /database "nss_missing_db"|database name/)
        const visits = await new Client(server.url).fetch('/api/visits')
        expect(visits.status).toBe(503)
        expect(visits.headers.getSetCookie()).toEqual([])
        const me = await new Client(server.url).fetch('/api/me', { headers: { cookie: `${COOKIE}=${cookie}` } })
        expect(me.status).toBe(503)
        expect(me.headers.getSetCookie()).toEqual([])
        expect((await new Client(server.url).fetch('/api/lazy')).status).toBe(200)
        expect(server.child.exitCode).toBeNull()
        expect(server.output()).not.toContain(password)
        figure(`NUXT_SESSION_POSTGRES_URL with a wrong ${what}: ${named[0]!.trim()}`)
        await server.stop()
      }
    })

    it('both NUXT_SESSION_REDIS_URL and NUXT_SESSION_POSTGRES_URL: the server refuses to start, saying to unset one (and never a password)', async () => {
      const result = await bothStores(nuxt.entry)
      expect(result.code, result.output).not.toBe(0)
      expect(result.output).toContain('Both a Redis address (NUXT_SESSION_REDIS_*) and NUXT_SESSION_POSTGRES_URL are set')
      expect(result.output).not.toMatch(/redis-pw|pg-pw/)
      // The reason, not a dump of bundle frames.
      expect(result.output).not.toMatch(/\n\s+at /)
    })
  })

  /** Runs `entry` with a Redis address and a PostgreSQL URL, each with a password, to its end (bounded). */
  const bothStores = (entry: string) => {
    const redis = new URL(redisAddress().url)
    redis.password = 'redis-pw'
    const postgres = new URL(postgresAddress().url)
    postgres.password = 'pg-pw'
    return run(process.execPath, [entry], {
      cwd,
      env: { ...baseEnv(), PORT: '0', HOST: '127.0.0.1', NUXT_SESSION_SECRET: SECRET, NUXT_SESSION_REDIS_URL: redis.href, NUXT_SESSION_POSTGRES_URL: postgres.href },
      timeout: 15_000,
    })
  }

  /**
   * Env of a server whose SIGTERM must end it by itself: TEST='' and CI='' (either makes srvx,
   * Nitro 3's server, skip its graceful shutdown), and for nitropack 2 no process.exit() after
   * the close hooks (NITRO_SHUTDOWN_NO_FORCE_EXIT), so that the process ends only once nothing
   * is left open: an open pool would keep it running.
   */
  const ENDS_BY_ITSELF = { TEST: '', CI: '', NITRO_SHUTDOWN_NO_FORCE_EXIT: '1' }

  /** Sends SIGTERM; whether the server ended by itself, with exit code 0, within 5 s (pg's idle connections live 10 s). */
  async function endsOnSigterm(server: ServerProcess): Promise<boolean> {
    const exited = await exitsOnSigterm(server, 5000)
    return exited && server.child.exitCode === 0
  }

  it('a PostgreSQL-backed Nuxt server exits on SIGTERM by itself (graceful shutdown; the pool closed in the close hook)', async () => {
    const schema = await newSchema()
    const server = await startNuxt(schema, ENDS_BY_ITSELF)
    const c = new Client(server.url)
    expect((await c.fetch('/api/visits')).status).toBe(200)
    expect((await c.fetch('/api/visits')).status).toBe(200)
    expect(await endsOnSigterm(server), server.output()).toBe(true)
  })

  describe('[Nitro 3 beta] standalone Nitro module (nitro3-basic) on PostgreSQL', () => {
    let entry: string
    let schema: string
    let server: ServerProcess
    const startNitro3 = (env: Record<string, string> = {}) => startServer(entry, {
      cwd,
      env: { NUXT_SESSION_SECRET: SECRET, NUXT_SESSION_POSTGRES_URL: postgresAddress().url, NUXT_SESSION_POSTGRES_SCHEMA: schema, ...env },
    })

    beforeAll(async () => {
      entry = join(await buildNitro3App(NITRO3_FIXTURE, join(tmp, 'nitro3')), 'server/index.mjs')
      schema = await newSchema()
      server = await startNitro3()
    }, 120_000)
    afterAll(async () => {
      await server?.stop()
    })

    itPassesTheRuntimeChecks(() => server.url)

    it('[Nitro 3 beta] takes PostgreSQL at run time: the session and the user\'s devices index are rows under sha-256 keys', async () => {
      const c = new Client(server.url)
      expect(await c.json('/api/sign-in?name=hank')).toEqual({ userId: 'hank' })
      expect(await c.json('/api/visits')).toMatchObject({ visits: 1, isNew: false })
      const key = await storeKeyOf(idIn(c.jar))
      const row = (await rowsOf(schema)).find(r => r.key === key)
      expect(row).toMatchObject({ user_id: 'hank', user_key: await userKeyOf('hank') })
      expect(JSON.parse(row!.data)).toMatchObject({ visits: 1 })
      expect(JSON.stringify(await rowsOf(schema))).not.toContain(idIn(c.jar))
      expect(existsSync(join(cwd, '.data'))).toBe(false)
    })

    it('[Nitro 3 beta] a PostgreSQL-backed server exits on SIGTERM by itself (the pool closed in the close hook)', async () => {
      const other = await startNitro3(ENDS_BY_ITSELF)
      expect((await new Client(other.url).fetch('/api/visits')).status).toBe(200)
      expect(await endsOnSigterm(other), other.output()).toBe(true)
    })

    it('[Nitro 3 beta] both NUXT_SESSION_REDIS_URL and NUXT_SESSION_POSTGRES_URL: the server refuses to start, saying to unset one', async () => {
      const result = await bothStores(entry)
      expect(result.code, result.output).not.toBe(0)
      expect(result.output).toContain('Both a Redis address (NUXT_SESSION_REDIS_*) and NUXT_SESSION_POSTGRES_URL are set')
      expect(result.output).not.toMatch(/redis-pw|pg-pw/)
      // The reason, not a dump of bundle frames.
      expect(result.output).not.toMatch(/\n\s+at /)
    })
  })
})
