import type { H3Event } from 'h3'
import { defineNitroPlugin, useEvent, useRuntimeConfig, useStorage } from 'nitropack/runtime'
import { responseSettled } from '../adapters/h3-v1/auto-save'
import { exposeEvent } from '../core/cookie'
import type { SessionEvent } from '../core/host'
import { startSessions } from './start'

/**
 * Nitro 2 (h3 1; Nuxt 4): wires sessions into every request, lazily: nothing is read or written
 * until a handler calls `useServerSession`. The automatic save holds Node's response (the h3 1
 * adapter), so this plugin only makes Nitro's local fetch wait for it.
 */
export default defineNitroPlugin((nitroApp) => {
  startSessions({
    runtimeConfig: event => (event ? useRuntimeConfig(event as H3Event) : useRuntimeConfig()),
    storage: () => useStorage(),
    currentEvent: () => useEvent() as SessionEvent,
    prerender: Boolean(import.meta.prerender),
    production: !import.meta.dev,
    onClose: close => nitroApp.hooks.hook('close', close),
    callHook: (name, ...args) => (nitroApp.hooks as unknown as { callHook: (name: string, ...args: unknown[]) => Promise<unknown> }).callHook(name, ...args),
  })

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
})
