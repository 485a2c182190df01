import { readFileSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { figure } from '../support/figure'
import { buildNitro3App, bundledPackages } from '../support/nitro3-build'
import { buildNuxtApp, nuxt5Nitro } from '../support/nuxt-build'
import type { NuxtBuild } from '../support/nuxt-build'
import { startServer, stopAll } from '../support/process'
import type { ServerProcess } from '../support/process'
import { Client } from '../support/server'

/**
 * The toolchain of the next generation, without the session module: a Nitro 3 app and a Nuxt 5
 * app, built for production from this repo and served over real HTTP.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const NITRO3_FIXTURE = fileURLToPath(new URL('../fixtures/nitro3-bare', import.meta.url))
const NUXT5_FIXTURE = fileURLToPath(new URL('../fixtures/nuxt5-bare', import.meta.url))

/** The bundled packages of another Nitro, Nuxt or h3 than the build's own. */
const foreign = (bundled: Set<string>, own: RegExp) => [...bundled].filter(path => /\/(?:nitro|nitropack|nuxt|h3|unstorage)$/.test(path) && !own.test(path))

describe('[Nitro 3 beta] toolchain: a bare Nitro 3 app, production build for node-server', () => {
  let tmp: string
  let output: string
  let server: ServerProcess

  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'nss-nitro3-'))
    const started = performance.now()
    output = await buildNitro3App(NITRO3_FIXTURE, tmp)
    figure(`[Nitro 3 beta] bare app built (nitro/builder, node-server) in ${Math.round(performance.now() - started)} ms`)
    server = await startServer(join(output, 'server/index.mjs'), { cwd: tmp })
  }, 120_000)

  afterAll(async () => {
    await stopAll()
    if (tmp) await rm(tmp, { recursive: true, force: true })
  })

  it('[Nitro 3 beta] is built by Nitro 3 and bundles its own h3 2 and unstorage 2, not nitropack, h3 1 or unstorage 1', async () => {
    const info = JSON.parse(await readFile(join(output, 'nitro.json'), 'utf8'))
    expect(info).toMatchObject({ preset: 'node-server', framework: { name: 'nitro' } })
    expect(info.versions.nitro).toMatch(/^3\./)
    const bundled = await bundledPackages(output)
    expect(bundled).toContain('node_modules/nitro')
    expect(bundled).toContain('node_modules/nitro/node_modules/h3')
    expect(bundled).toContain('node_modules/nitro/node_modules/unstorage')
    expect(foreign(bundled, /^node_modules\/nitro(?:\/node_modules\/(?:h3|unstorage))?$/)).toEqual([])
  })

  it('[Nitro 3 beta] serves the route /api/hello as JSON, after the global middleware', async () => {
    const res = await fetch(`${server.url}/api/hello`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^application\/json/)
    expect(await res.json()).toEqual({ hello: 'nitro 3', marked: 'by-middleware' })
  })

  it('[Nitro 3 beta] NITRO_SESSION_SECRET, and NUXT_SESSION_SECRET (runtimeConfig.nitro.envPrefix), override runtimeConfig.session.secret at run time', async () => {
    expect(await new Client(server.url).json('/api/runtime-config')).toEqual({ secretLength: 0 })
    for (const [name, length] of [['NITRO_SESSION_SECRET', 12], ['NUXT_SESSION_SECRET', 40]] as const) {
      const other = await startServer(join(output, 'server/index.mjs'), { cwd: tmp, env: { [name]: 'x'.repeat(length) } })
      try {
        expect(await new Client(other.url).json('/api/runtime-config')).toEqual({ secretLength: length })
      }
      finally {
        await other.stop()
      }
    }
  })

  it('[Nitro 3 beta] a cache route rule runs its handler without the cookie and without the global middleware, and replays it to the next visitor', async () => {
    const alice = await fetch(`${server.url}/api/cached-rule`, { headers: { cookie: 'sid=alice' } })
    const body = await alice.json()
    expect(alice.headers.get('x-cache')).toBe('MISS')
    expect(body).toMatchObject({ cookie: null, marked: null })
    const bob = await fetch(`${server.url}/api/cached-rule`, { headers: { cookie: 'sid=bob' } })
    expect(bob.headers.get('x-cache')).toBe('HIT')
    expect(await bob.json()).toEqual(body)
  })

  it('[Nitro 3 beta] defineCachedHandler runs its handler without the cookie, after the global middleware (same event.context), and replays it to the next visitor', async () => {
    const alice = await fetch(`${server.url}/api/cached-handler`, { headers: { cookie: 'sid=alice' } })
    const body = await alice.json()
    expect(alice.headers.get('x-cache')).toBe('MISS')
    expect(body).toMatchObject({ cookie: null, marked: 'by-middleware' })
    const bob = await fetch(`${server.url}/api/cached-handler`, { headers: { cookie: 'sid=bob' } })
    expect(bob.headers.get('x-cache')).toBe('HIT')
    expect(await bob.json()).toEqual(body)
  })
})

describe('[Nuxt 5 nightly] toolchain: a bare Nuxt 5 app, production build', () => {
  let tmp: string
  let build: NuxtBuild | undefined
  let server: ServerProcess

  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'nss-nuxt5-'))
    const started = performance.now()
    build = await buildNuxtApp(NUXT5_FIXTURE, 5, { outputDir: join(tmp, 'output') })
    figure(`[Nuxt 5 nightly] bare app built (nuxt-nightly ${build.version}) in ${Math.round(performance.now() - started)} ms`)
    server = await startServer(build.entry, { cwd: tmp })
  }, 180_000)

  afterAll(async () => {
    await stopAll()
    await build?.remove()
    if (tmp) await rm(tmp, { recursive: true, force: true })
  })

  it('[Nuxt 5 nightly] is built by Nuxt 5 on Nitro 3, bundling one nitro and h3 2 (not the root nuxt 4.5, nitro, nitropack or h3 1)', async () => {
    expect(build!.version).toMatch(/^5\./)
    const info = JSON.parse(await readFile(join(build!.outputDir, 'nitro.json'), 'utf8'))
    expect(info).toMatchObject({ preset: 'node-server', framework: { name: 'nuxt', version: build!.version } })
    expect(info.versions.nitro).toMatch(/^3\./)
    const bundled = await bundledPackages(build!.outputDir)
    // Nuxt's own nitro (nested under its @nuxt/nitro-server, or the root one where npm deduped it).
    const nitro = relative(ROOT, nuxt5Nitro())
    expect(bundled).toContain(nitro)
    const of = (name: string) => [...bundled].filter(path => path.endsWith(`/${name}`))
    const version = (path: string) => JSON.parse(readFileSync(join(ROOT, path, 'package.json'), 'utf8')).version as string
    expect(of('nitro')).toEqual([nitro])
    expect(of('h3').length).toBeGreaterThan(0)
    expect(of('h3').map(version).filter(v => !v.startsWith('2.'))).toEqual([])
    expect(of('unstorage').map(version).filter(v => !v.startsWith('2.'))).toEqual([])
    expect([...of('nitropack'), ...of('nuxt')]).toEqual([])
  })

  it('[Nuxt 5 nightly] serves the server route /api/hello as JSON', async () => {
    const res = await fetch(`${server.url}/api/hello`)
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ hello: 'nuxt 5' })
  })

  it('[Nuxt 5 nightly] renders the page with what useFetch fetched from /api/hello during SSR', async () => {
    const res = await fetch(`${server.url}/`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/html/)
    expect(await res.text()).toMatch(/<p id="hello">\s*nuxt 5\s*<\/p>/)
  })
})
