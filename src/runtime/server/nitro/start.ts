import { DEFAULTS } from '../../defaults'
import type { SessionOptions, SessionRuntimeConfig } from '../../types'
import { consoleLogger, resolveConfig } from '../core/config'
import { reportSwept } from '../core/session'
import { SessionConfigError } from '../core/errors'
import type { SessionSqliteDriver } from '../storage/sqlite'
import { PostgresSessionStore } from '../stores/postgres'
import { UnstorageSessionStore } from '../stores/unstorage'
import { bindNitro, publicSessionState, sessionOptions } from './utils'
import type { NitroBinding } from './utils'

/**
 * What the server plugin of either Nitro generation does at start, before any request: binds
 * the runtime config and storage for `useServerSession`, checks the options (production refuses
 * to run without a proper secret rather than failing on the first request; on Cloudflare Workers,
 * see below), opens the module's SQLite database and schedules the sweep of expired records.
 */
export function startSessions(binding: NitroBinding): void {
  bindNitro(binding)
  // For the Nuxt app's SSR plugin, which imports no server code (runtime/app/state.ts).
  ;(globalThis as Record<symbol, unknown>)[Symbol.for('nuxt-server-session:public-state')] = publicSessionState
  let options: SessionOptions | undefined
  try {
    options = sessionOptions()
  }
  catch (error) {
    // Workers run this at the Worker's global scope, where Nitro may not see the Worker's vars
    // and secrets yet (it gets them with each request unless nodejs_compat is on). Throwing here
    // would stop every Worker, also a well-configured one; each request that needs a session
    // checks the secret again instead and fails with this error until it is set.
    if (!(error instanceof SessionConfigError)) throw error
    if (!_isCloudflareWorkers()) {
      // One line in the log of a server that did not start: the frames say nothing more.
      error.stack = `${error.name}: ${error.message}`
      throw error
    }
  }
  const closable = options?.store as { close?: () => Promise<void> } | undefined
  // The Redis store's client would keep the process running after the server's graceful
  // shutdown; a store the app made and passed in is the app's to close.
  if (typeof closable?.close === 'function') binding.onClose(() => closable.close!())
  // Sessions a sweep deletes are `session:expired` (reason 'sweep'), and their sockets close.
  const swept = options && ((key: string, userId: string | undefined) => reportSwept(options!, key, userId))
  if (options?.store instanceof PostgresSessionStore && !binding.prerender) _startPostgres(options.store, (binding.runtimeConfig() as { session: Partial<SessionRuntimeConfig> }).session.sweepInterval, swept)
  if (!(options?.store instanceof UnstorageSessionStore)) return
  const { store } = options
  store.onSwept ??= swept
  if (!binding.prerender) _openSqlite(binding, store, resolveConfig(options).storeTimeout)
  if (binding.storage().getMount(store.prefix).base === '') {
    // The module mounts a default at build; a name changed at run time may match no mount.
    consoleLogger.warn(`No storage is mounted at "${store.prefix}": sessions go to the root storage (memory by default). Mount one there, or set NUXT_SESSION_STORAGE to a mount that exists.`)
  }
  _scheduleSweep(binding, store)
}

/**
 * PostgreSQL is checked at start without holding the server up (the database may come up after
 * it; the pool connects when it can): a wrong address, password, database or grant is said in
 * the log at once, naming the setting. Expired rows are swept on a schedule.
 */
function _startPostgres(store: PostgresSessionStore, sweepInterval: number | undefined, swept?: (key: string, userId: string | undefined) => void): void {
  store.check().catch((error: unknown) => {
    const reason = String((error as Error)?.message ?? error).replace(/^\[nuxt-server-session\] /, '').replace(/\.$/, '')
    consoleLogger.error(error instanceof SessionConfigError
      ? `PostgreSQL sessions cannot work: ${reason}. Requests that need a session answer 503 until this is fixed.`
      : `PostgreSQL sessions are not available yet: ${reason}. Requests that need a session answer 503 until the database answers (the pool keeps trying).`)
  })
  const interval = (sweepInterval ?? DEFAULTS.sweepInterval) * 1000
  if (!interval || typeof setInterval !== 'function') return
  const timer = setInterval(() => {
    store.sweep(undefined, swept).catch(error => consoleLogger.error('Sweeping expired sessions failed', (error as Error)?.message))
  }, interval)
  ;(timer as { unref?: () => void }).unref?.()
}

/** workerd, the runtime of Cloudflare Workers (`navigator.userAgent`, on since compatibility date 2022-03-21). */
function _isCloudflareWorkers(): boolean {
  return globalThis.navigator?.userAgent === 'Cloudflare-Workers'
}

/**
 * The module's SQLite database, when it holds the sessions, is opened now: a production server
 * whose database is corrupt, read-only, missing or locked (longer than `storeTimeout`) refuses
 * to start with one line that says which file and what, rather than answering every request
 * with a 503. `NUXT_SESSION_SQLITE_PATH` moves the module's default database (its folder must
 * exist then). A database that fails later, while the server runs, is a 503 per request.
 */
function _openSqlite(binding: NitroBinding, store: UnstorageSessionStore, storeTimeout: number): void {
  const driver = binding.storage().getMount(store.prefix).driver as Partial<SessionSqliteDriver>
  if (driver.name !== SQLITE_DRIVER || typeof driver.open !== 'function') return
  const path = (binding.runtimeConfig() as { session: Partial<SessionRuntimeConfig> }).session.sqlite?.path
  if (path && driver.options?.moduleDefault) driver.setPath!(path, false)
  try {
    // Where the mount's options leave them unset: the wait for a lock at start, and the store's
    // retries of a locked operation, both as long as a request may wait for the store.
    driver.open({ openTimeout: storeTimeout, busyTimeout: storeTimeout })
  }
  catch (error) {
    if (!(error instanceof Error && error.name.startsWith('Sqlite'))) throw error
    // The message names the file and the problem; the frames of the plugin and of SQLite's
    // error say nothing more to whoever reads the log of a server that did not start.
    const failed = new Error(`${error.message} The server does not start without its sessions (nothing was created or changed).`)
    failed.name = error.name
    failed.stack = `${failed.name}: ${failed.message}`
    throw failed
  }
}

const SQLITE_DRIVER = 'nuxt-server-session-sqlite'

/** Drivers that keep records until swept: the module's SQLite database, files. */
const SWEPT_DRIVERS = new Set([SQLITE_DRIVER, 'fs', 'fs-lite'])

/** Sweeps expired records on a schedule where the mount's driver does not expire keys itself. */
function _scheduleSweep(binding: NitroBinding, store: UnstorageSessionStore): void {
  const driver = binding.storage().getMount(store.prefix).driver.name
  const interval = store.sweepIntervalMs
  if (!interval || !SWEPT_DRIVERS.has(driver ?? '') || typeof setInterval !== 'function') return
  const timer = setInterval(() => {
    store.sweep().catch(error => consoleLogger.error('Sweeping expired sessions failed', (error as Error)?.message))
  }, interval)
  ;(timer as { unref?: () => void }).unref?.()
}
