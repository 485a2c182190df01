import { definePlugin } from 'nitro'
import { useRequest } from 'nitro/context'
import { useRuntimeConfig } from 'nitro/runtime-config'
import { useStorage } from 'nitro/storage'
import { carryCookie, sessionAutoSave } from '../adapters/h3-v2/middleware'
import { eventOfContext } from '../core/cookie'
import type { SessionEvent } from '../core/host'
import { startSessions } from './start'

type Middleware = (event: unknown, next: () => unknown) => unknown

/**
 * Nitro 3 (h3 2; Nuxt 5): wires sessions into every request, lazily: nothing is read or written
 * until a handler calls `useServerSession`. The h3 2 adapter's middleware saves the session around
 * the rest of the request; the `response` hook puts its cookie on the responses that Nitro's error
 * handler builds without the event's headers.
 */
export default definePlugin((nitroApp) => {
  startSessions({
    runtimeConfig: () => useRuntimeConfig(),
    storage: () => useStorage() as never,
    currentEvent: () => {
      const event = eventOfContext((useRequest() as { context?: object }).context)
      if (!event) throw new Error('No session middleware ran for this request')
      return event as SessionEvent
    },
    prerender: Boolean(import.meta.prerender),
    production: !import.meta.dev,
    onClose: close => nitroApp.hooks?.hook('close', close),
    callHook: (name, ...args) => (nitroApp.hooks as unknown as { callHook: (name: string, ...args: unknown[]) => Promise<unknown> } | undefined)?.callHook(name, ...args),
  })
  // First of all the middleware, before route rules (cache, redirects, proxies) and the app's
  // own: every handler runs inside it, so whatever answers, the save comes after. Nitro has no
  // public `use()` on its app; it composes this list anew once the plugins have run.
  ;(nitroApp.h3 as unknown as { '~middleware': Middleware[] })['~middleware'].unshift(sessionAutoSave() as Middleware)
  nitroApp.hooks?.hook('response', carryCookie)
})
