import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildNitroApp, filesUnder } from '../support/nitro-build'
import { baseEnv, exitsOnSigterm, run, startServer, stopAll } from '../support/process'
import type { ServerProcess } from '../support/process'
import { itPassesTheRuntimeChecks } from '../support/runtime-checks'
import { Client, parseSetCookie } from '../support/server'
import { redisAddress } from '../support/services'

const SECRET = 'nitro-e2e-secret-0123456789-0123456789-0123'
const FIXTURE = fileURLToPath(new URL('../fixtures/nitro-basic', import.meta.url))

/** Builds the Nitro app in `rootDir` for node-server, all output under `tmp`; returns the server entry. */
async function buildNitro(rootDir: string, tmp: string): Promise<string> {
  return join(await buildNitroApp(rootDir, tmp), 'server/index.mjs')
}

describe('[nuxt-server-session] standalone Nitro module (node-server production build)', () => {
  let tmp: string
  let entry: string
  /** The working directory of the server: the default store is the SQLite database `<cwd>/.data/session/sessions.sqlite`. */
  let cwd: string
  let server: ServerProcess
  const client = () => new Client(server.url)

  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'nss-nitro-'))
    cwd = join(tmp, 'cwd')
    entry = await buildNitro(FIXTURE, tmp)
    await mkdir(cwd)
    server = await startServer(entry, { cwd, env: { NUXT_SESSION_SECRET: SECRET } })
  }, 120_000)

  afterAll(async () => {
    await stopAll()
    if (tmp) await rm(tmp, { recursive: true, force: true })
  })

  describe('[nuxt-server-session] standalone Nitro module on Node', () => {
    itPassesTheRuntimeChecks(() => server.url)
  })

  it('[nuxt-server-session] standalone Nitro module: a 4xx on a first visit still sends the cookie of the saved session', async () => {
    const c = client()
    const res = await c.fetch('/api/fail?status=401')
    expect(res.status).toBe(401)
    expect(c.jar.has('__Host-sid')).toBe(true)
    expect((await c.json('/api/me')).failedWith).toBe(401)
  })

  it('[nuxt-server-session] standalone Nitro module: useServerSession() without an event explains how to fix it (async context off)', async () => {
    const body = await client().json('/api/no-event')
    expect(body.ok).toBe(false)
    expect(body.message).toMatch(/useServerSession\(event\).*asyncContext: true/)
  })

  it('[nuxt-server-session] standalone Nitro module keeps sessions across a restart with zero configuration (SQLite under <cwd>/.data/session)', async () => {
    const c = client()
    await c.fetch('/api/login?name=erin')
    await c.json('/api/visits')
    expect(await filesUnder(join(cwd, '.data/session'))).toContain('sessions.sqlite')
    await server.stop()
    server = await startServer(entry, { cwd, env: { NUXT_SESSION_SECRET: SECRET } })
    // A new port: the jar goes along by hand, as a browser would keep it for the host.
    const again = new Client(server.url)
    again.jar.set('__Host-sid', c.jar.get('__Host-sid')!)
    expect(await again.json('/api/me')).toMatchObject({ user: 'erin', visits: 1 })
    expect(await again.json('/api/visits')).toMatchObject({ visits: 2, isNew: false })
  })

  it('[nuxt-server-session] standalone Nitro module reads the secret from NITRO_SESSION_SECRET too', async () => {
    const other = await startServer(entry, { cwd, env: { NITRO_SESSION_SECRET: SECRET } })
    try {
      const c = new Client(other.url)
      expect(await c.json('/api/visits')).toEqual({ visits: 1, isNew: true })
      expect(await c.json('/api/visits')).toEqual({ visits: 2, isNew: false })
      // Same secret, same store: a cookie of the main server (NUXT_SESSION_SECRET) opens the same session here.
      const main = client()
      await main.fetch('/api/login?name=frank')
      const shared = new Client(other.url)
      shared.jar.set('__Host-sid', main.jar.get('__Host-sid')!)
      expect(await shared.json('/api/me')).toMatchObject({ user: 'frank' })
    }
    finally {
      await other.stop()
    }
  })

  it('[nuxt-server-session] standalone Nitro module: a cookie signed with another secret gets a fresh session', async () => {
    const other = await startServer(entry, { cwd, env: { NUXT_SESSION_SECRET: `${SECRET}-other` } })
    try {
      const main = client()
      await main.fetch('/api/login?name=gina')
      const forged = new Client(other.url)
      forged.jar.set('__Host-sid', main.jar.get('__Host-sid')!)
      expect(await forged.json('/api/me')).toMatchObject({ user: null })
    }
    finally {
      await other.stop()
    }
  })

  it('[nuxt-server-session] standalone Nitro module: a server on the Redis store and the SQLite default exits on SIGTERM (graceful shutdown; the store\'s client closed in the close hook)', async () => {
    for (const env of [{ NUXT_SESSION_REDIS_URL: redisAddress().url, NUXT_SESSION_REDIS_PREFIX: `nss-exit-${process.pid}` }, {}] as Record<string, string>[]) {
      // TEST='': vitest's TEST=true would make Nitro skip its graceful shutdown.
      const server = await startServer(entry, { cwd: cwd, env: { NUXT_SESSION_SECRET: SECRET, TEST: '', ...env } })
      expect((await new Client(server.url).fetch('/api/visits')).status).toBe(200)
      expect(await exitsOnSigterm(server), JSON.stringify(env)).toBe(true)
    }
  }, 40_000)

  it.each([
    ['without a secret', {}],
    ['with a short NUXT_SESSION_SECRET', { NUXT_SESSION_SECRET: 'too-short-secret' }],
    ['with a short NITRO_SESSION_SECRET', { NITRO_SESSION_SECRET: 'too-short-secret' }],
    ['with a short secret in a JSON array', { NUXT_SESSION_SECRET: JSON.stringify([SECRET, 'too-short-secret']) }],
  ])('[nuxt-server-session] standalone Nitro module refuses to start %s, naming NUXT_SESSION_SECRET', async (_, env: Record<string, string>) => {
    const result = await run(process.execPath, [entry], {
      cwd: tmp,
      env: { ...baseEnv(), PORT: '0', HOST: '127.0.0.1', ...env },
      timeout: 15_000,
    })
    expect(result.code).not.toBe(0)
    expect(result.code).not.toBeNull()
    expect(result.output).toMatch(/Missing or short session secret\. Set NUXT_SESSION_SECRET/)
    expect(result.output).not.toContain('too-short-secret')
    expect(result.output).not.toContain(SECRET)
  })
})

describe('[nuxt-server-session] standalone Nitro module with options under the `session` key of nitro.config', () => {
  let tmp: string
  let entry: string

  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'nss-nitro-options-'))
    const app = join(tmp, 'app')
    await mkdir(join(app, 'routes'), { recursive: true })
    const modulePath = fileURLToPath(new URL('../../src/nitro', import.meta.url))
    await writeFile(join(app, 'nitro.config.ts'), `export default {
  modules: [${JSON.stringify(modulePath)}],
  session: { name: 'nitro-sid', cookie: { sameSite: 'strict', maxAge: 600 } },
  compatibilityDate: '2025-07-01',
}
`)
    await writeFile(join(app, 'routes/visits.ts'), `export default defineEventHandler(async (event) => {
  const session = await useServerSession(event)
  session.update(data => ({ ...data, visits: (data.visits ?? 0) + 1 }))
  return { visits: session.data.visits }
})
`)
    entry = await buildNitro(app, tmp)
  }, 120_000)

  afterAll(async () => {
    await stopAll()
    if (tmp) await rm(tmp, { recursive: true, force: true })
  })

  it('[nuxt-server-session] standalone Nitro module honours session.name and session.cookie from nitro.config', async () => {
    const server = await startServer(entry, { cwd: tmp, env: { NUXT_SESSION_SECRET: SECRET } })
    try {
      const c = new Client(server.url)
      const res = await c.fetch('/visits')
      expect(await res.json()).toEqual({ visits: 1 })
      const cookie = parseSetCookie(res.headers.getSetCookie()[0]!)
      expect(cookie.name).toBe('nitro-sid')
      expect(cookie.attributes).toMatchObject({ 'httponly': true, 'secure': true, 'samesite': 'Strict', 'path': '/', 'max-age': '600' })
      expect(await c.json('/visits')).toEqual({ visits: 2 })
    }
    finally {
      await server.stop()
    }
  })

  it('[nuxt-server-session] standalone Nitro module: NUXT_SESSION_* env vars override nitro.config at run time', async () => {
    const server = await startServer(entry, { cwd: tmp, env: { NUXT_SESSION_SECRET: SECRET, NUXT_SESSION_NAME: 'env-sid', NUXT_SESSION_COOKIE_SAME_SITE: 'lax' } })
    try {
      const c = new Client(server.url)
      const res = await c.fetch('/visits')
      const cookie = parseSetCookie(res.headers.getSetCookie()[0]!)
      expect(cookie.name).toBe('env-sid')
      expect(cookie.attributes).toMatchObject({ 'samesite': 'Lax', 'max-age': '600' })
      expect(await c.json('/visits')).toEqual({ visits: 2 })
    }
    finally {
      await server.stop()
    }
  })
})
