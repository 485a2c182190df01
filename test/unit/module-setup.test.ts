import type { Nitro } from 'nitropack'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Cluster as MissingCluster, Redis as MissingRedis } from '../../src/runtime/server/stores/ioredis-missing'
import MissingPg, { Pool as MissingPool } from '../../src/runtime/server/stores/pg-missing'
import { aliasMissingClients, logger, mountDefaultStorage, sessionRuntimeConfig } from '../../src/setup'

/** The module's SQLite driver, as `runtimePaths` gives it. */
const SQLITE_DRIVER = '/pkg/runtime/server/storage/sqlite'
/** Stand-ins for the optional clients, as `runtimePaths` gives them. */
const STUBS = { ioredisStub: '/stub/ioredis', pgStub: '/stub/pg', pgNativeStub: '/stub/pg-native', pgCloudflareStub: '/stub/pg-cloudflare' }

function nitroWith(options: { preset: string, dev?: boolean, storage?: Record<string, unknown>, devStorage?: Record<string, unknown> }): Nitro {
  return { options: { rootDir: '/app', dev: false, storage: {}, devStorage: {}, ...options } } as unknown as Nitro
}

describe('[nuxt-server-session] module setup', () => {
  afterEach(() => {
    vi.restoreAllMocks()
    vi.unstubAllEnvs()
  })

  it('mounts an SQLite database under .data/session on server presets, relative to the server\'s working directory', () => {
    for (const preset of ['node-server', 'node-cluster', 'bun', 'deno-server']) {
      const nitro = nitroWith({ preset })
      mountDefaultStorage(nitro, 'session', SQLITE_DRIVER)
      expect(nitro.options.storage.session).toEqual({ driver: SQLITE_DRIVER, path: './.data/session/sessions.sqlite', createFolder: true, moduleDefault: true })
    }
  })

  it('mounts the SQLite database under the project in development', () => {
    const nitro = nitroWith({ preset: 'nitro-dev', dev: true })
    mountDefaultStorage(nitro, 'session', SQLITE_DRIVER)
    expect(nitro.options.devStorage.session).toEqual({ driver: SQLITE_DRIVER, path: '/app/.data/session/sessions.sqlite', createFolder: true, moduleDefault: true })
  })

  it('warns at build on serverless and edge presets, where a shared store is needed', () => {
    const warn = vi.spyOn(logger, 'warn').mockImplementation(() => {})
    for (const preset of ['vercel', 'netlify', 'cloudflare-module', 'aws-lambda']) {
      const nitro = nitroWith({ preset })
      mountDefaultStorage(nitro, 'session', SQLITE_DRIVER)
      expect(nitro.options.storage.session).toEqual({ driver: 'memory' })
    }
    expect(warn).toHaveBeenCalledTimes(4)
    expect(String(warn.mock.calls[0]![0])).toMatch(/Configure a shared store for the "session" storage mount/)
  })

  it('leaves a mount the app defined alone, in storage or devStorage', () => {
    const own = { driver: 'redis', url: 'redis://redis.example:6380' }
    const inStorage = nitroWith({ preset: 'vercel', storage: { sessions: own } })
    mountDefaultStorage(inStorage, 'sessions', SQLITE_DRIVER)
    expect(inStorage.options.storage.sessions).toBe(own)
    const inDev = nitroWith({ preset: 'nitro-dev', dev: true, devStorage: { sessions: own } })
    mountDefaultStorage(inDev, 'sessions', SQLITE_DRIVER)
    expect(inDev.options.devStorage.sessions).toBe(own)
    expect(inDev.options.storage.sessions).toBeUndefined()
  })

  it('puts every option in runtimeConfig with a default, so each has an env var; the app\'s runtimeConfig wins', () => {
    const config = sessionRuntimeConfig({ ttl: 60, cookie: { sameSite: 'strict' } }, { ttl: 90 }, false)
    expect(config).toMatchObject({ secret: '', name: '', ttl: 90, maxLifetime: 604800, storage: 'session', cookie: { sameSite: 'strict', secure: 'auto', path: '/' } })
    for (const value of Object.values(config)) expect(value).not.toBeUndefined()
  })

  it('development without a secret gets a throwaway one and one warning; production gets none', () => {
    const warn = vi.spyOn(logger, 'warn').mockImplementation(() => {})
    vi.stubEnv('NUXT_SESSION_SECRET', '')
    const dev = sessionRuntimeConfig({}, undefined, true)
    expect(typeof dev.secret === 'string' && dev.secret.length).toBeGreaterThanOrEqual(32)
    expect(warn).toHaveBeenCalledTimes(1)
    expect(sessionRuntimeConfig({}, undefined, false).secret).toBe('')
    expect(sessionRuntimeConfig({ secret: 'x'.repeat(40) }, undefined, true).secret).toBe('x'.repeat(40))
    expect(warn).toHaveBeenCalledTimes(1)
  })

  it('aliases ioredis to a stand-in only where the app cannot resolve it; the stand-in says what to install', async () => {
    const bare = await mkdtemp(join(tmpdir(), 'nss-no-ioredis-'))
    try {
      await writeFile(join(bare, 'package.json'), '{"name":"bare"}')
      const without = { options: { rootDir: bare, alias: {} as Record<string, string> } } as unknown as Nitro
      aliasMissingClients(without, STUBS)
      expect(without.options.alias).toStrictEqual({ ioredis: '/stub/ioredis', pg: '/stub/pg' })
      const withIt = { options: { rootDir: fileURLToPath(new URL('../..', import.meta.url)), alias: {} as Record<string, string> } } as unknown as Nitro
      aliasMissingClients(withIt, STUBS)
      // This repository has ioredis and pg, not pg's optional native binding: bundling presets get
      // a stand-in for it, and for pg's Workers socket outside the Cloudflare presets.
      expect(withIt.options.alias).toStrictEqual({ 'pg-native': '/stub/pg-native', 'pg-cloudflare': '/stub/pg-cloudflare' })
    }
    finally {
      await rm(bare, { recursive: true, force: true })
    }
    expect(() => new MissingRedis('redis://127.0.0.1')).toThrow(/npm install ioredis/)
    expect(() => new MissingCluster([])).toThrow(/npm install ioredis/)
    expect(() => new MissingPool({})).toThrow(/npm install pg/)
    expect(() => new MissingPg.Client({})).toThrow(/npm install pg/)
  })
})
