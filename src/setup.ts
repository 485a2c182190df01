import { randomBytes } from 'node:crypto'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { consola } from 'consola'
import { defu } from 'defu'
import type { Nitro } from 'nitropack'
import { DEFAULTS } from './runtime/defaults'
import type { ModuleOptions, SessionRuntimeConfig } from './types'

/** Build-time helpers shared by the Nuxt module and the standalone Nitro module. */

export const logger = consola.withTag('nuxt-server-session')

/**
 * The runtime files (one plugin per Nitro generation, the server utils), found from the URL of
 * the module entry that calls this: `dist/module.mjs` and `dist/nitro.mjs` sit beside
 * `dist/runtime`, while this file may be bundled into `dist/shared/`, so its own URL cannot be used.
 */
export function runtimePaths(entryUrl: string): { runtimeDir: string, appDir: string, pluginV2: string, pluginV3: string, utils: string, stateRoute: string, ioredisStub: string, pgStub: string, pgNativeStub: string, pgCloudflareStub: string, sqliteDriver: string } {
  const runtimeDir = fileURLToPath(new URL('./runtime', entryUrl))
  return {
    runtimeDir,
    pluginV2: `${runtimeDir}/server/nitro/plugin-v2`,
    pluginV3: `${runtimeDir}/server/nitro/plugin-v3`,
    utils: `${runtimeDir}/server/nitro/utils`,
    stateRoute: `${runtimeDir}/server/nitro/state-route`,
    appDir: `${runtimeDir}/app`,
    ioredisStub: `${runtimeDir}/server/stores/ioredis-missing`,
    pgStub: `${runtimeDir}/server/stores/pg-missing`,
    pgNativeStub: `${runtimeDir}/server/stores/pg-native-missing`,
    pgCloudflareStub: `${runtimeDir}/server/stores/pg-cloudflare-missing`,
    sqliteDriver: `${runtimeDir}/server/storage/sqlite`,
  }
}

/** The major version of the Nitro being set up: 2 (nitropack) or 3 (nitro). */
export function nitroMajor(nitro: { meta?: { majorVersion?: number } }): number {
  return nitro.meta?.majorVersion ?? 2
}

/**
 * The Redis and PostgreSQL stores are chosen at run time, so their code is always in the server
 * bundle. Apps without ioredis or pg get a stand-in that explains what to install, instead of a
 * failed build.
 */
export function aliasMissingClients(nitro: Nitro, paths: { ioredisStub: string, pgStub: string, pgNativeStub: string, pgCloudflareStub: string }): void {
  const require = createRequire(join(nitro.options.rootDir, 'package.json'))
  const resolves = (name: string, from = require) => {
    try {
      from.resolve(name)
      return true
    }
    catch {
      return false
    }
  }
  const alias = (nitro.options.alias ??= {})
  for (const [name, stub] of [['ioredis', paths.ioredisStub], ['pg', paths.pgStub]] as const) {
    if (!resolves(name)) alias[name] ??= stub
  }
  // pg requires its optional native binding (pg-native) only when `pg.native` is used; presets
  // that bundle every dependency (Workers, Deno Deploy) must still find something to bundle.
  if (!resolves('pg')) return
  if (!resolves('pg-native', createRequire(require.resolve('pg')))) alias['pg-native'] ??= paths.pgNativeStub
  // pg's socket for Workers (pg-cloudflare) imports `cloudflare:sockets`, which only the
  // Cloudflare presets provide: elsewhere a bundle gets a stand-in (pg uses it only on Workers).
  if (!String(nitro.options.preset ?? '').startsWith('cloudflare')) alias['pg-cloudflare'] ??= paths.pgCloudflareStub
}
/** What is auto-imported in server code. Never h3's own names (useSession, getSession, ...). */
export const SERVER_IMPORTS = ['useServerSession', 'requireServerSession', 'safeRedirect', 'sessionWebSocket', 'signInServerSession', 'listServerSessions', 'revokeServerSession', 'revokeServerSessions'] as const

/** Presets that run as one long-lived server with a writable disk: the SQLite default suits them. */
const SERVER_PRESETS = new Set(['node-server', 'node', 'node-cluster', 'node-listener', 'bun', 'deno-server', 'nitro-dev', 'nitro-prerender'])

/**
 * `runtimeConfig.session` from the module options: every key present, so that each one can be
 * overridden at run time by its `NUXT_SESSION_*` env var. Values already in the app's own
 * `runtimeConfig.session` win.
 */
export function sessionRuntimeConfig(options: ModuleOptions, existing: Partial<SessionRuntimeConfig> | undefined, dev: boolean): SessionRuntimeConfig {
  const config = defu(existing ?? {}, options, {
    secret: '',
    name: '',
    cookie: { path: '/', domain: '', httpOnly: true, secure: 'auto', sameSite: 'lax', partitioned: false, maxAge: 0 },
    ttl: DEFAULTS.ttl,
    maxLifetime: DEFAULTS.maxLifetime,
    touchInterval: null,
    rolling: false,
    saveUninitialized: false,
    maxSize: DEFAULTS.maxSize,
    storeTimeout: DEFAULTS.storeTimeout,
    storage: DEFAULTS.storage,
    sweepInterval: DEFAULTS.sweepInterval,
    redis: { url: '', cluster: '', sentinels: '', sentinelName: 'mymaster', password: '', tls: false, prefix: DEFAULTS.prefix },
    postgres: { url: '', schema: '', table: '', poolSize: 0, tls: false, createTable: true, prepare: true },
    sqlite: { path: '' },
    devices: { userAgent: false, ip: false },
    maxSessionsPerUser: 0,
    sessionLimit: 'evict-oldest',
    pages: { expose: [] },
  }) as SessionRuntimeConfig
  // The route is the pages' (public config); the keys stay server-side.
  const pages = config.pages as { expose?: string[], route?: string }
  config.pages = { expose: [...new Set((pages.expose ?? []).map(String))] }
  if (dev && !config.secret && !process.env.NUXT_SESSION_SECRET && !process.env.NITRO_SESSION_SECRET) {
    // Development only: sessions then last as long as this dev server process.
    config.secret = randomBytes(32).toString('base64url')
    logger.warn('No session secret set: using a throwaway one for development. Set NUXT_SESSION_SECRET (32+ characters) to keep sessions across dev server restarts; production refuses to start without it.')
  }
  return config
}

/**
 * Gives the session mount a default when the app configured none: an SQLite database under
 * `.data/session` on server presets (sessions survive restarts, several processes may share
 * it), through the module's own driver (`sqliteDriver`, see runtime/server/storage/sqlite;
 * `NUXT_SESSION_SQLITE_PATH` moves it at run time), and on serverless or edge presets an
 * in-memory one with a warning, since there a shared store must be configured.
 */
export function mountDefaultStorage(nitro: Nitro, mount: string, sqliteDriver: string): void {
  const { options } = nitro
  if (options.storage?.[mount] || options.devStorage?.[mount]) return
  if (options.dev) {
    options.devStorage[mount] = { driver: sqliteDriver, path: `${options.rootDir}/${DEFAULTS.sqliteFile}`, createFolder: true, moduleDefault: true }
    return
  }
  if (SERVER_PRESETS.has(options.preset)) {
    options.storage[mount] = { driver: sqliteDriver, path: `./${DEFAULTS.sqliteFile}`, createFolder: true, moduleDefault: true }
    return
  }
  options.storage[mount] = { driver: 'memory' }
  logger.warn(`The "${options.preset}" preset has no shared disk, so sessions are kept in memory, per instance, and lost on restart. Configure a shared store for the "${mount}" storage mount (Redis, Cloudflare KV, ...): nitro.storage.${mount}, or set NUXT_SESSION_REDIS_URL at run time for the Redis store.`)
}

/**
 * Registers the runtime plugin of the Nitro's generation and, on Nitro 2, the auto-imports (Nitro
 * 3 has none: server code imports from `nuxt-server-session/server`).
 */
export function registerRuntime(nitro: Nitro, paths: { runtimeDir: string, pluginV2: string, pluginV3: string, utils: string }): void {
  if (nitroMajor(nitro) >= 3) {
    nitro.options.plugins.push(paths.pluginV3)
    return
  }
  nitro.options.plugins.push(paths.pluginV2)
  // Bundled, not left as imports of node_modules: nitropack 2 would keep the auto-import's path
  // (extensionless, inside a package with an exports map) as an external import that Node then
  // cannot resolve, and the plugin and the routes must share one copy of the runtime anyway.
  const externals = (nitro.options as { externals?: { inline?: (string | RegExp)[] } }).externals ??= {}
  ;(externals.inline ??= []).push(paths.runtimeDir)
  if (nitro.options.imports) {
    nitro.options.imports.imports ??= []
    for (const name of SERVER_IMPORTS) nitro.options.imports.imports.push({ name, from: paths.utils })
  }
}
