import { createHash } from 'node:crypto'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildNitroApp, filesUnder } from '../support/nitro-build'
import { stopAll } from '../support/process'
import { itPassesTheRuntimeChecks } from '../support/runtime-checks'
import { Client } from '../support/server'
import { listLocalKv, startWrangler, stopAllWrangler } from '../support/wrangler'
import type { WranglerDev } from '../support/wrangler'

const SECRET = 'cloudflare-e2e-secret-0123456789-0123456789'
const FIXTURE = fileURLToPath(new URL('../fixtures/nitro-basic', import.meta.url))
/** The KV namespace binding that holds the sessions. */
const BINDING = 'SESSIONS'

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))

/** The store key of a session: hex SHA-256 of the id, the part of the cookie before the signature. */
const storeKeyOf = (cookie: string) => createHash('sha256').update(cookie.slice(0, cookie.lastIndexOf('.'))).digest('hex')

/**
 * Builds the Nitro fixture for Cloudflare Workers (cloudflare-module) with the session mount on
 * the KV binding, no secret in the build. Without nodejs_compat (the preset's default for this
 * compatibility date), the Worker's vars and secrets reach Nitro only with each request; with
 * it, `process.env` has them from the start.
 */
async function buildWorker(tmp: string, nodeCompat: boolean): Promise<string> {
  const output = await buildNitroApp(FIXTURE, tmp, {
    preset: 'cloudflare-module',
    storage: { session: { driver: 'cloudflare-kv-binding', binding: BINDING } },
    cloudflare: { nodeCompat },
  })
  return join(output, 'server/index.mjs')
}

/**
 * A wrangler config in `dir` for the built Worker, with the KV namespace; `secrets` go to
 * `.dev.vars` beside it, where `wrangler dev` reads what `wrangler secret put` sets in production.
 */
async function writeWranglerConfig(dir: string, entry: string, { nodeCompat = false, secrets }: { nodeCompat?: boolean, secrets?: Record<string, string> } = {}): Promise<string> {
  await mkdir(dir, { recursive: true })
  const config = join(dir, 'wrangler.json')
  await writeFile(config, JSON.stringify({
    name: 'nss-fixture',
    main: entry,
    compatibility_date: '2025-07-01',
    compatibility_flags: nodeCompat ? ['nodejs_compat'] : [],
    kv_namespaces: [{ binding: BINDING, id: 'nss-sessions' }],
  }, null, 2))
  if (secrets) await writeFile(join(dir, '.dev.vars'), Object.entries(secrets).map(([k, v]) => `${k}=${v}\n`).join(''))
  return config
}

/** Every file under `dir`, with its text. */
async function textsUnder(dir: string): Promise<string[]> {
  return Promise.all((await filesUnder(dir)).map(file => readFile(join(dir, file), 'utf8')))
}

describe('[nuxt-server-session] Cloudflare Workers with KV (cloudflare-module build without nodejs_compat, wrangler dev)', () => {
  let tmp: string
  let home: string
  let entry: string
  /** The Worker with NUXT_SESSION_SECRET in `.dev.vars`, as `wrangler secret put` gives it in production. */
  let config: string
  /** The same Worker without any var or secret. */
  let bareConfig: string
  let worker: WranglerDev

  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'nss-cloudflare-'))
    home = join(tmp, 'home')
    entry = await buildWorker(tmp, false)
    config = await writeWranglerConfig(join(tmp, 'worker'), entry, { secrets: { NUXT_SESSION_SECRET: SECRET } })
    bareConfig = await writeWranglerConfig(join(tmp, 'bare'), entry)
    worker = await startWrangler({ config, persistTo: join(tmp, 'state'), home })
  }, 120_000)

  afterAll(async () => {
    await stopAllWrangler()
    await stopAll()
    if (tmp) await rm(tmp, { recursive: true, force: true })
  })

  describe('[nuxt-server-session] Cloudflare Workers', () => {
    itPassesTheRuntimeChecks(() => worker.url)
  })

  it('[nuxt-server-session] Cloudflare Workers: the build holds no secret; it comes from the Worker\'s env', async () => {
    for (const text of await textsUnder(join(tmp, '.output'))) expect(text).not.toContain(SECRET)
    expect(worker.output()).toContain('env.NUXT_SESSION_SECRET')
    expect(worker.output()).not.toContain(SECRET)
  })

  it.each([
    ['without NUXT_SESSION_SECRET', {}],
    ['with a short NUXT_SESSION_SECRET', { NUXT_SESSION_SECRET: 'too-short-secret' }],
  ])('[nuxt-server-session] Cloudflare Workers: a Worker %s starts, but answers every request that needs a session with a 500 naming NUXT_SESSION_SECRET', async (_, vars: Record<string, string>) => {
    const bare = await startWrangler({ config: bareConfig, persistTo: join(tmp, 'state-bare'), home, vars })
    try {
      const c = new Client(bare.url)
      for (let i = 0; i < 2; i++) {
        const res = await c.fetch('/api/visits')
        expect(res.status).toBe(500)
        expect(res.headers.getSetCookie()).toEqual([])
        const body = await res.text()
        expect(body).toMatch(/Missing or short session secret\. Set NUXT_SESSION_SECRET/)
        expect(body).not.toContain('too-short-secret')
      }
      // Routes that never ask for the session still work: the Worker was not stopped at startup.
      expect(await c.json('/api/lazy')).toEqual({ ok: true })
      await bare.stop()
      expect(bare.output()).toMatch(/\[nuxt-server-session\] Missing or short session secret\. Set NUXT_SESSION_SECRET/)
      expect(bare.output()).not.toContain('too-short-secret')
    }
    finally {
      await bare.stop()
    }
  }, 60_000)

  it('[nuxt-server-session] Cloudflare Workers: a ttl below KV\'s 60-second minimum still saves, and expires on time by the record\'s own clock', async () => {
    const ttlConfig = await writeWranglerConfig(join(tmp, 'ttl'), entry, { secrets: { NUXT_SESSION_SECRET: SECRET } })
    const persistTo = join(tmp, 'state-ttl')
    const ttl = { config: ttlConfig, persistTo, home, vars: { NUXT_SESSION_TTL: '3' } }
    let short = await startWrangler(ttl)
    const c = new Client(short.url)
    expect(await c.json('/api/visits')).toEqual({ visits: 1, isNew: true })
    expect(await c.json('/api/visits')).toEqual({ visits: 2, isNew: false })
    const wroteAt = Date.now()
    const cookie = c.jar.get('__Host-sid')!
    const key = storeKeyOf(cookie)
    await short.stop()
    await sleep(Math.max(0, wroteAt + 4000 - Date.now()))
    // Past the idle timeout, KV still holds the record (KV keeps a key at least 60 s), under
    // the hash of the id, never the id.
    const before = await listLocalKv({ config: ttlConfig, persistTo, home, binding: BINDING })
    expect(before.find(k => k.name === key)?.expiration).toBeGreaterThan(Date.now() / 1000)
    expect(before.map(k => k.name).join()).not.toContain(cookie.slice(0, cookie.lastIndexOf('.')))
    short = await startWrangler(ttl)
    try {
      // The record's own timestamps end the session, and the expired record is deleted.
      const again = new Client(short.url)
      again.jar.set('__Host-sid', cookie)
      expect(await again.json('/api/me')).toMatchObject({ user: null, visits: 0 })
    }
    finally {
      await short.stop()
    }
    const after = await listLocalKv({ config: ttlConfig, persistTo, home, binding: BINDING })
    expect(after.map(k => k.name)).not.toContain(key)
  }, 60_000)

  it('[nuxt-server-session] Cloudflare Workers keep sessions in KV: a fresh wrangler dev on the same persisted KV sees them', async () => {
    const c = new Client(worker.url)
    await c.fetch('/api/login?name=erin')
    expect(await c.json('/api/visits')).toMatchObject({ visits: 1, isNew: false })
    await worker.stop()
    worker = await startWrangler({ config, persistTo: join(tmp, 'state'), home })
    // A new port: the jar goes along by hand, as a browser would keep it for the host.
    const again = new Client(worker.url)
    again.jar.set('__Host-sid', c.jar.get('__Host-sid')!)
    expect(await again.json('/api/me')).toMatchObject({ user: 'erin', visits: 1 })
    expect(await again.json('/api/visits')).toMatchObject({ visits: 2, isNew: false })
  }, 60_000)
})

describe('[nuxt-server-session] Cloudflare Workers with KV and nodejs_compat (cloudflare-module build, wrangler dev)', () => {
  let tmp: string
  let home: string
  let entry: string
  let worker: WranglerDev

  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'nss-cloudflare-compat-'))
    home = join(tmp, 'home')
    entry = await buildWorker(tmp, true)
    const config = await writeWranglerConfig(join(tmp, 'worker'), entry, { nodeCompat: true, secrets: { NUXT_SESSION_SECRET: SECRET } })
    worker = await startWrangler({ config, persistTo: join(tmp, 'state'), home })
  }, 120_000)

  afterAll(async () => {
    await stopAllWrangler()
    if (tmp) await rm(tmp, { recursive: true, force: true })
  })

  describe('[nuxt-server-session] Cloudflare Workers with nodejs_compat', () => {
    itPassesTheRuntimeChecks(() => worker.url)
  })

  it('[nuxt-server-session] Cloudflare Workers with nodejs_compat: a Worker without NUXT_SESSION_SECRET starts, but answers every request that needs a session with a 500 naming it', async () => {
    const config = await writeWranglerConfig(join(tmp, 'bare'), entry, { nodeCompat: true })
    const bare = await startWrangler({ config, persistTo: join(tmp, 'state-bare'), home })
    try {
      const c = new Client(bare.url)
      const res = await c.fetch('/api/visits')
      expect(res.status).toBe(500)
      expect(res.headers.getSetCookie()).toEqual([])
      expect(await res.text()).toMatch(/Missing or short session secret\. Set NUXT_SESSION_SECRET/)
      expect(await c.json('/api/lazy')).toEqual({ ok: true })
    }
    finally {
      await bare.stop()
    }
  }, 60_000)
})
