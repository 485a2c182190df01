import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildNitro3App } from '../support/nitro3-build'
import { filesUnder } from '../support/nitro-build'
import { baseEnv, exitsOnSigterm, run, startServer, stopAll } from '../support/process'
import type { ServerProcess } from '../support/process'
import { deleteKeys, scanKeys } from '../support/redis'
import { itPassesTheRuntimeChecks } from '../support/runtime-checks'
import { Client } from '../support/server'
import { redisAddress } from '../support/services'

/**
 * The standalone Nitro module on the Nitro 3 beta (`nitro` 3.0.260903-beta, h3 2.0.8, unstorage
 * 2 beta): the fixture test/fixtures/nitro3-basic, built for node-server with nitro/builder.
 */

const SECRET = 'nitro3-e2e-secret-0123456789-0123456789-01'
const FIXTURE = fileURLToPath(new URL('../fixtures/nitro3-basic', import.meta.url))

describe('[Nitro 3 beta] standalone Nitro module (node-server production build)', () => {
  let tmp: string
  let entry: string
  let cwd: string
  let server: ServerProcess
  const client = () => new Client(server.url)

  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'nss-nitro3-'))
    cwd = join(tmp, 'cwd')
    entry = join(await buildNitro3App(FIXTURE, tmp), 'server/index.mjs')
    await mkdir(cwd)
    server = await startServer(entry, { cwd, env: { NUXT_SESSION_SECRET: SECRET } })
  }, 120_000)

  afterAll(async () => {
    await stopAll()
    if (tmp) await rm(tmp, { recursive: true, force: true })
  })

  describe('[Nitro 3 beta] the runtime checks', () => {
    itPassesTheRuntimeChecks(() => server.url)
  })

  it('[Nitro 3 beta] the session:* Nitro hooks see a sign-in (created, sign-in, the user) and its sign-out, by ref only', async () => {
    const c = client()
    const before = (await c.json('/api/lifecycle')).length
    await c.json('/api/visits')
    await c.json('/api/sign-in?name=gus')
    await c.fetch('/api/logout')
    const events = (await c.json('/api/lifecycle')).slice(before)
    expect(events.map((e: { type: string, reason: string, userId?: string }) => [e.type, e.reason, e.userId])).toEqual([['created', 'first write', undefined], ['regenerated', 'sign-in', 'gus'], ['destroyed', 'destroy()', 'gus']])
    expect(events[1].from).toBe(events[0].ref)
    expect(events.every((e: { ref: string }) => /^[\da-f]{8}$/.test(e.ref))).toBe(true)
  })

  it('[Nitro 3 beta] a session the scheduled sweep deletes is session:expired with reason sweep (nobody read it)', async () => {
    const own = join(tmp, 'cwd-sweep')
    await mkdir(own)
    const swept = await startServer(entry, { cwd: own, env: { NUXT_SESSION_SECRET: SECRET, NUXT_SESSION_TTL: '1', NUXT_SESSION_SWEEP_INTERVAL: '1' } })
    try {
      const c = new Client(swept.url)
      await c.json('/api/sign-in?name=ivy')
      const [signedIn] = await c.json('/api/lifecycle')
      expect(signedIn).toMatchObject({ type: 'created', reason: 'sign-in', userId: 'ivy' })
      // The lifecycle route reads no session: only the sweep can find this one expired.
      let events: { type: string, reason: string, ref: string, userId?: string }[] = []
      for (const started = Date.now(); Date.now() - started < 10_000;) {
        events = await c.json('/api/lifecycle')
        if (events.some(e => e.type === 'expired')) break
        await new Promise(resolve => setTimeout(resolve, 200))
      }
      expect(events.filter(e => e.type === 'expired')).toEqual([{ type: 'expired', ref: signedIn.ref, userId: 'ivy', reason: 'sweep', at: expect.any(Number) }])
    }
    finally {
      await swept.stop()
    }
  })

  it('[Nitro 3 beta] requireServerSession: a 401 for a visitor or an anonymous session, the account for a signed-in user', async () => {
    const visitor = client()
    const res = await visitor.fetch('/api/account')
    expect(res.status).toBe(401)
    expect(res.headers.getSetCookie()).toEqual([])
    expect(await res.json()).toMatchObject({ status: 401, message: 'Sign-in required' })
    await visitor.json('/api/visits')
    expect((await visitor.fetch('/api/account')).status).toBe(401)
    await visitor.json('/api/sign-in?name=hal')
    expect(await visitor.json('/api/account')).toEqual({ account: 'HAL' })
  })

  it('[Nitro 3 beta] keeps sessions across a restart with zero configuration (SQLite under <cwd>/.data/session)', async () => {
    const c = client()
    await c.fetch('/api/login?name=erin')
    expect(await filesUnder(join(cwd, '.data/session'))).toContain('sessions.sqlite')
    await server.stop()
    server = await startServer(entry, { cwd, env: { NUXT_SESSION_SECRET: SECRET } })
    const again = new Client(server.url)
    again.jar.set('__Host-sid', c.jar.get('__Host-sid')!)
    expect(await again.json('/api/me')).toMatchObject({ user: 'erin' })
  })

  it('[Nitro 3 beta] two instances on one SQLite database: a sign-in on one is read on the other, a sign-out on the other ends it on both', async () => {
    const other = await startServer(entry, { cwd, env: { NUXT_SESSION_SECRET: SECRET } })
    try {
      const a = client()
      await a.fetch('/api/login?name=olga')
      const b = new Client(other.url)
      b.jar.set('__Host-sid', a.jar.get('__Host-sid')!)
      expect(await b.json('/api/visits')).toMatchObject({ visits: 1, isNew: false })
      expect(await a.json('/api/me')).toMatchObject({ user: 'olga', visits: 1 })
      expect((await b.fetch('/api/logout')).status).toBe(302)
      expect(await a.json('/api/me')).toMatchObject({ user: null })
    }
    finally {
      await other.stop()
    }
  })

  it('[Nitro 3 beta] a cache route rule: the handler gets an anonymous session, the response no cookie, the next visitor the same cached body', async () => {
    const alice = client()
    await alice.fetch('/api/login?name=alice')
    const first = await alice.fetch('/api/cached-rule')
    expect(await first.json()).toMatchObject({ user: null, isNew: true })
    expect(first.headers.getSetCookie()).toEqual([])
    const bob = await client().fetch('/api/cached-rule')
    expect(bob.headers.getSetCookie()).toEqual([])
    expect((await bob.json()).user).toBeNull()
    // Alice's own session is untouched.
    expect(await alice.json('/api/me')).toMatchObject({ user: 'alice' })
  })

  it('[Nitro 3 beta] defineCachedHandler after a middleware mounted the visitor\'s session on the same event: never the visitor\'s data, in the body or on event.context', async () => {
    const carol = client()
    await carol.fetch('/api/login?name=carol')
    const res = await carol.fetch('/api/cached-handler')
    expect(await res.json()).toMatchObject({ user: null, contextUser: null })
    const replay = await client().fetch('/api/cached-handler')
    expect(await replay.json()).toMatchObject({ user: null, contextUser: null })
    expect(replay.headers.getSetCookie()).toEqual([])
  })

  it('[Nitro 3 beta] defineCachedHandler: the devices helpers there see the anonymous session too, never the visitor\'s devices', async () => {
    const dora = client()
    expect(await dora.json('/api/sign-in?name=dora')).toEqual({ userId: 'dora' })
    // A fresh cache entry: the first request that fills it is Dora's.
    await server.stop()
    server = await startServer(entry, { cwd, env: { NUXT_SESSION_SECRET: SECRET } })
    const again = new Client(server.url)
    again.jar.set('__Host-sid', dora.jar.get('__Host-sid')!)
    expect(await again.json('/api/cached-handler')).toMatchObject({ user: null, contextUser: null, devices: 0 })
  })

  it('[Nitro 3 beta] useServerSession() without an event explains how to fix it (async context off)', async () => {
    const body = await client().json('/api/no-event')
    expect(body.ok).toBe(false)
    expect(body.message).toMatch(/useServerSession\(event\).*asyncContext: true/)
  })

  it('[Nitro 3 beta] reads the secret from NITRO_SESSION_SECRET too; a cookie signed with another secret gets a fresh session', async () => {
    const other = await startServer(entry, { cwd, env: { NITRO_SESSION_SECRET: `${SECRET}-other` } })
    try {
      const main = client()
      await main.fetch('/api/login?name=gina')
      const forged = new Client(other.url)
      forged.jar.set('__Host-sid', main.jar.get('__Host-sid')!)
      expect(await forged.json('/api/me')).toMatchObject({ user: null })
      expect(await forged.json('/api/visits')).toMatchObject({ visits: 1, isNew: true })
    }
    finally {
      await other.stop()
    }
  })

  it('[Nitro 3 beta] refuses to start without a proper secret, naming NUXT_SESSION_SECRET and never the value', async () => {
    const result = await run(process.execPath, [entry], { cwd: tmp, env: { ...baseEnv(), PORT: '0', HOST: '127.0.0.1', NUXT_SESSION_SECRET: 'too-short-secret' }, timeout: 15_000 })
    expect(result.code).not.toBe(0)
    expect(result.output).toMatch(/Missing or short session secret\. Set NUXT_SESSION_SECRET/)
    expect(result.output).not.toContain('too-short-secret')
  })

  it('[Nitro 3 beta] a server on the Redis store and the SQLite default exits on SIGTERM (graceful shutdown; the store\'s client closed in the close hook)', async () => {
    for (const env of [{ NUXT_SESSION_REDIS_URL: redisAddress().url, NUXT_SESSION_REDIS_PREFIX: `nss-exit-${process.pid}` }, {}] as Record<string, string>[]) {
      // TEST='': vitest's TEST=true would make Nitro skip its graceful shutdown.
      const server = await startServer(entry, { cwd: cwd, env: { NUXT_SESSION_SECRET: SECRET, TEST: '', ...env } })
      expect((await new Client(server.url).fetch('/api/visits')).status).toBe(200)
      expect(await exitsOnSigterm(server), JSON.stringify(env)).toBe(true)
    }
  }, 40_000)

  it('[Nitro 3 beta] takes the Redis store at run time from NUXT_SESSION_REDIS_URL, nothing about Redis at build time', async () => {
    const prefix = `nss-nitro3-${process.pid}`
    const redis = new Redis(redisAddress().url)
    const onRedis = await startServer(entry, { cwd, env: { NUXT_SESSION_SECRET: SECRET, NUXT_SESSION_REDIS_URL: redisAddress().url, NUXT_SESSION_REDIS_PREFIX: prefix } })
    try {
      const c = new Client(onRedis.url)
      await c.fetch('/api/login?name=hank')
      expect(await c.json('/api/visits')).toMatchObject({ visits: 1 })
      expect(await scanKeys(redis, `${prefix}:*`)).not.toEqual([])
      expect(await c.json('/api/me')).toMatchObject({ user: 'hank', visits: 1 })
    }
    finally {
      await onRedis.stop()
      await deleteKeys(redis, `${prefix}:*`)
      await redis.quit()
    }
  })
})

describe('[Nitro 3 beta] standalone Nitro module with experimental.asyncContext', () => {
  let tmp: string
  let server: ServerProcess

  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'nss-nitro3-async-'))
    const entry = join(await buildNitro3App(FIXTURE, tmp, { experimental: { asyncContext: true } }), 'server/index.mjs')
    server = await startServer(entry, { cwd: tmp, env: { NUXT_SESSION_SECRET: SECRET } })
  }, 120_000)

  afterAll(async () => {
    await stopAll()
    if (tmp) await rm(tmp, { recursive: true, force: true })
  })

  it('[Nitro 3 beta] useServerSession() without an event finds the request\'s session (nitro/context useRequest)', async () => {
    const c = new Client(server.url)
    await c.fetch('/api/login?name=ivy')
    expect(await c.json('/api/no-event')).toEqual({ ok: true, user: 'ivy' })
  })
})
