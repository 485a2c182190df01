import type { H3Event } from 'h3'
import { defineNitroPlugin, useRuntimeConfig, useStorage } from 'nitropack/runtime'
import type { SessionOptions, SessionRuntimeConfig } from '../../types'
import { responseSettled } from '../core/auto-save'
import { consoleLogger, resolveConfig } from '../core/config'
import { exposeEvent } from '../core/cookie'
import { SessionConfigError } from '../core/errors'
import type { SessionSqliteDriver } from '../storage/sqlite'
import { UnstorageSessionStore } from '../stores/unstorage'
import { sessionOptions } from '../utils/session'

/**
 * Wires sessions into every request, lazily: nothing is read or written until a handler calls
 * `useServerSession`. At start it checks the options, so production refuses to run without a
 * proper secret rather than failing on the first request (on Cloudflare Workers, see below).
 */
export default defineNitroPlugin((nitroApp) => {
  let options: SessionOptions | undefined
  try {
    options = sessionOptions()
  }
  catch (error) {
    // Workers run this at the Worker's global scope, where Nitro may not see the Worker's vars
    // and secrets yet (it gets them with each request unless nodejs_compat is on). Throwing here
    // would stop every Worker, also a well-configured one; each request that needs a session
    // checks the secret again instead and fails with this error until it is set.
    if (!(error instanceof SessionConfigError && _isCloudflareWorkers())) throw error
  }
  const resolved = options ? resolveConfig(options) : undefined
  if (options?.store instanceof UnstorageSessionStore && resolved && !import.meta.prerender) _openSqlite(options.store, resolved.storeTimeout)

  // The automatic save holds the response until the session is stored. Nitro's local fetch
  // (SSR `$fetch`, Workers) reads the response as soon as the handler returns, so the handler,
  // and the error handler that answers a thrown error, return only once the response is out.
  const { h3App } = nitroApp
  const handler = h3App.handler
  h3App.handler = (event: H3Event) => {
    // Here rather than in a `request` hook: hooks cost every request a task of their own.
    exposeEvent(event)
    let result: unknown
    try {
      result = handler(event)
    }
    catch (error) {
      result = Promise.reject(error)
    }
    // No async function: a response that needs no wait (every real socket) costs no extra tick.
    return Promise.resolve(result).then((value) => {
      const settled = responseSettled(event)
      return settled ? settled.then(() => value) : value
    }, (error: unknown) => {
      const settled = responseSettled(event)
      if (!settled) throw error
      return settled.then(() => {
        throw error
      })
    })
  }
  const onError = h3App.options.onError
  if (onError) {
    h3App.options.onError = async (error, event) => {
      await onError(error, event)
      await responseSettled(event)
    }
  }

  if (options?.store instanceof UnstorageSessionStore) {
    if (useStorage().getMount(options.store.prefix).base === '') {
      // The module mounts a default at build; a name changed at run time may match no mount.
      consoleLogger.warn(`No storage is mounted at "${options.store.prefix}": sessions go to the root storage (memory by default). Mount one there, or set NUXT_SESSION_STORAGE to a mount that exists.`)
    }
    _scheduleSweep(options.store)
  }
})

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
function _openSqlite(store: UnstorageSessionStore, storeTimeout: number): void {
  const driver = useStorage().getMount(store.prefix).driver as Partial<SessionSqliteDriver>
  if (driver.name !== SQLITE_DRIVER || typeof driver.open !== 'function') return
  const path = (useRuntimeConfig() as unknown as { session: Partial<SessionRuntimeConfig> }).session.sqlite?.path
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
function _scheduleSweep(store: UnstorageSessionStore): void {
  const driver = useStorage().getMount(store.prefix).driver.name
  const interval = store.sweepIntervalMs
  if (!interval || !SWEPT_DRIVERS.has(driver ?? '') || typeof setInterval !== 'function') return
  const timer = setInterval(() => {
    store.sweep().catch(error => consoleLogger.error('Sweeping expired sessions failed', (error as Error)?.message))
  }, interval)
  ;(timer as { unref?: () => void }).unref?.()
}
