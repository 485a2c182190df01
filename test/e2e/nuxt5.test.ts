import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { filesUnder } from '../support/nitro-build'
import { buildNuxtApp } from '../support/nuxt-build'
import type { NuxtBuild } from '../support/nuxt-build'
import { baseEnv, run, startServer, stopAll } from '../support/process'
import type { ServerProcess } from '../support/process'
import { itPassesTheRuntimeChecks } from '../support/runtime-checks'
import { Client, parseSetCookie } from '../support/server'

/**
 * The Nuxt module on Nuxt 5 nightly (the `nuxt-v5` alias of nuxt-nightly 5.0.0-29830089.dc519522,
 * on Nitro 3 and h3 2): test/fixtures/nuxt5-basic, a production build for node-server.
 */

const SECRET = 'nuxt5-e2e-secret-0123456789-0123456789-0123'
const FIXTURE = fileURLToPath(new URL('../fixtures/nuxt5-basic', import.meta.url))

describe('[Nuxt 5 nightly] Nuxt module (production build on Nitro 3)', () => {
  let tmp: string
  let cwd: string
  let build: NuxtBuild | undefined
  let server: ServerProcess
  const client = () => new Client(server.url)

  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'nss-nuxt5-'))
    cwd = join(tmp, 'cwd')
    await mkdir(cwd)
    build = await buildNuxtApp(FIXTURE, 5, { outputDir: join(tmp, 'output') })
    server = await startServer(build.entry, { cwd, env: { NUXT_SESSION_SECRET: SECRET } })
  }, 240_000)

  afterAll(async () => {
    await stopAll()
    await build?.remove()
    if (tmp) await rm(tmp, { recursive: true, force: true })
  })

  it('[Nuxt 5 nightly] is a Nuxt 5 build that runs the Nitro 3 plugin (addNitroPlugin picked nitro3), not the Nitro 2 one', async () => {
    expect(build!.version).toMatch(/^5\./)
    const server = (await Promise.all((await filesUnder(join(build!.outputDir, 'server'))).filter(f => f.endsWith('.mjs')).map(f => readFile(join(build!.outputDir, 'server', f), 'utf8')))).join('\n')
    // The h3 2 middleware of the Nitro 3 plugin; the Nitro 2 plugin's wait for the held response is not bundled.
    expect(server).toContain('_sessionAutoSave')
    expect(server).not.toContain('responseSettled')
  })

  describe('[Nuxt 5 nightly] the runtime checks', () => {
    itPassesTheRuntimeChecks(() => server.url)
  })

  it('[Nuxt 5 nightly] a page rendered on the server reads the session (useFetch forwards the cookie)', async () => {
    const c = client()
    await c.fetch('/api/login?name=dave')
    expect(await (await c.fetch('/')).text()).toContain('<p id="user">dave</p>')
    expect(await (await client().fetch('/')).text()).toContain('<p id="user">anonymous</p>')
  })

  it('[Nuxt 5 nightly] internal fetches of one SSR render share one session, and its cookie reaches the browser on a first visit', async () => {
    const c = client()
    const first = await c.fetch('/ssr-visits')
    expect(await first.text()).toContain('<p id="visits">1,2</p>')
    expect(first.headers.get('cache-control')).toBe('private, no-store')
    expect(c.jar.has('__Host-sid')).toBe(true)
    expect(await c.json('/api/me')).toMatchObject({ visits: 2 })
    expect(await (await c.fetch('/ssr-visits')).text()).toContain('<p id="visits">3,4</p>')
  })

  it('[Nuxt 5 nightly] a page whose own request loaded a stale session keeps the cookie its internal call set', async () => {
    const c = client()
    c.jar.set('__Host-sid', 'stale-or-garbage')
    const res = await c.fetch('/ssr-visits-mw')
    expect(await res.text()).toContain('<p id="visits">1,2</p>')
    const cookies = res.headers.getSetCookie().map(parseSetCookie).filter(sc => sc.name === '__Host-sid')
    expect(cookies).toHaveLength(1)
    expect(cookies[0]!.attributes['max-age']).not.toBe('0')
    expect(await c.json('/api/me')).toMatchObject({ visits: 2 })
  })

  it('[Nuxt 5 nightly] routeRules swr: an internal call that writes during a cached render neither sets a cookie nor touches the visitor\'s session', async () => {
    const alice = client()
    await alice.fetch('/api/login?name=alice')
    await alice.json('/api/visits')
    const cookie = alice.jar.get('__Host-sid')
    const res = await alice.fetch('/swr-writer')
    expect(res.status).toBe(200)
    expect(res.headers.getSetCookie()).toEqual([])
    expect(alice.jar.get('__Host-sid')).toBe(cookie)
    expect(await alice.json('/api/me')).toMatchObject({ user: 'alice', visits: 1 })
  })

  it('[Nuxt 5 nightly] routeRules cache: a cached route never holds or serves a visitor\'s session or cookie', async () => {
    const alice = client()
    await alice.fetch('/api/login?name=alice')
    const first = await alice.fetch('/api/cached')
    const body = await first.json()
    expect(body).toMatchObject({ user: null, saved: false })
    expect(first.headers.getSetCookie()).toEqual([])
    const second = await client().fetch('/api/cached')
    expect(await second.json()).toEqual(body)
    expect(second.headers.getSetCookie()).toEqual([])
    expect(await alice.json('/api/me')).toMatchObject({ user: 'alice' })
  })

  it('[Nuxt 5 nightly] defineCachedHandler after a middleware mounted the visitor\'s session: anonymous inside, replayed to nobody with the visitor\'s data', async () => {
    const alice = client()
    await alice.fetch('/api/login?name=alice-cached')
    const first = await alice.fetch('/api/cached-context')
    const text = await first.text()
    expect(text).not.toContain('alice-cached')
    expect(JSON.parse(text)).toMatchObject({ mounted: { data: {}, isNew: true }, viaModule: { data: {}, isNew: true } })
    const replay = await client().fetch('/api/cached-context')
    expect(await replay.text()).not.toContain('alice-cached')
    expect(replay.headers.getSetCookie()).toEqual([])
    expect(await alice.json('/api/me')).toMatchObject({ user: 'alice-cached' })
  })

  it('[Nuxt 5 nightly] routeRules swr: a cached page renders anonymously for everyone and sets no cookie', async () => {
    const alice = client()
    await alice.fetch('/api/login?name=alice')
    for (const c of [alice, client(), alice]) {
      const res = await c.fetch('/swr')
      expect(await res.text()).toContain('<p id="user">anonymous</p>')
      expect(res.headers.getSetCookie()).toEqual([])
    }
  })

  it('[Nuxt 5 nightly] the pages\' state route: GET answers the public state (private), a cross-site DELETE is refused, a same-site one signs out', async () => {
    const c = client()
    await c.json('/api/visits')
    const res = await c.fetch('/api/_session')
    expect(res.status).toBe(200)
    expect(res.headers.get('cache-control')).toBe('private, no-store')
    // Nothing is exposed in this fixture: loggedIn alone, never the visits or the id.
    expect(await res.json()).toEqual({ loggedIn: false, data: {} })
    expect((await c.fetch('/api/_session', { method: 'DELETE', headers: { 'sec-fetch-site': 'cross-site' } })).status).toBe(403)
    expect((await c.json('/api/visits')).visits).toBe(2)
    expect((await c.fetch('/api/_session', { method: 'DELETE', headers: { 'sec-fetch-site': 'same-origin' } })).status).toBe(200)
    expect((await c.json('/api/visits')).visits).toBe(1)
  })

  it('[Nuxt 5 nightly] keeps sessions across a restart with zero configuration (SQLite under <cwd>/.data/session)', async () => {
    const c = client()
    await c.fetch('/api/login?name=erin')
    expect(await filesUnder(join(cwd, '.data/session'))).toContain('sessions.sqlite')
    await server.stop()
    server = await startServer(build!.entry, { cwd, env: { NUXT_SESSION_SECRET: SECRET } })
    const again = new Client(server.url)
    again.jar.set('__Host-sid', c.jar.get('__Host-sid')!)
    expect(await again.json('/api/me')).toMatchObject({ user: 'erin' })
  })

  it('[Nuxt 5 nightly] production refuses to start without a secret, naming the env var', async () => {
    const result = await run(process.execPath, [build!.entry], { cwd, env: { ...baseEnv(), PORT: '0', HOST: '127.0.0.1' }, timeout: 15_000 })
    expect(result.code).not.toBe(0)
    expect(result.output).toMatch(/Missing or short session secret\. Set NUXT_SESSION_SECRET/)
  })
})
