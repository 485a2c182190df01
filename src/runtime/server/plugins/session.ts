import type { H3Event } from 'h3'
import { defineNitroPlugin, useStorage } from 'nitropack/runtime'
import { DEFAULTS } from '../../defaults'
import { responseSettled } from '../core/auto-save'
import { consoleLogger, isProduction, resolveConfig } from '../core/config'
import { exposeEvent } from '../core/cookie'
import { UnstorageSessionStore } from '../stores/unstorage'
import { parseSecret, sessionOptions } from '../utils/session'

/**
 * Wires sessions into every request, lazily: nothing is read or written until a handler calls
 * `useServerSession`. At start it checks the options, so production refuses to run without a
 * proper secret rather than failing on the first request.
 */
export default defineNitroPlugin((nitroApp) => {
  const options = sessionOptions()
  const secrets = parseSecret(options.secret)
  if (isProduction() && (secrets.length === 0 || secrets.some(s => s.length < DEFAULTS.minSecretLength))) {
    throw new Error(`[nuxt-server-session] Missing or short session secret. Set NUXT_SESSION_SECRET to a random string of at least ${DEFAULTS.minSecretLength} characters (or a JSON array of them, the last one signing, to rotate).`)
  }
  resolveConfig(options)

  // The automatic save holds the response until the session is stored. Nitro's local fetch
  // (SSR `$fetch`, Workers) reads the response as soon as the handler returns, so the handler,
  // and the error handler that answers a thrown error, return only once the response is out.
  const { h3App } = nitroApp
  const handler = h3App.handler
  h3App.handler = async (event: H3Event) => {
    // Here rather than in a `request` hook: hooks cost every request a task of their own.
    exposeEvent(event)
    try {
      return await handler(event)
    }
    finally {
      await responseSettled(event)
    }
  }
  const onError = h3App.options.onError
  if (onError) {
    h3App.options.onError = async (error, event) => {
      await onError(error, event)
      await responseSettled(event)
    }
  }

  if (options.store instanceof UnstorageSessionStore) {
    if (useStorage().getMount(options.store.prefix).base === '') {
      // The module mounts a default at build; a name changed at run time may match no mount.
      consoleLogger.warn(`No storage is mounted at "${options.store.prefix}": sessions go to the root storage (memory by default). Mount one there, or set NUXT_SESSION_STORAGE to a mount that exists.`)
    }
    _scheduleSweep(options.store)
  }
})

/** Sweeps expired records on a schedule where the mount's driver does not expire keys itself. */
function _scheduleSweep(store: UnstorageSessionStore): void {
  const driver = useStorage().getMount(store.prefix).driver.name
  const interval = store.sweepIntervalMs
  if (!interval || (driver !== 'fs' && driver !== 'fs-lite') || typeof setInterval !== 'function') return
  const timer = setInterval(() => {
    store.sweep().catch(error => consoleLogger.error('Sweeping expired sessions failed', (error as Error)?.message))
  }, interval)
  ;(timer as { unref?: () => void }).unref?.()
}
