import { defineNuxtPlugin, useRuntimeConfig, useState } from '#app'
import { CHANGED_HEADER, CHANNEL, STALE_KEY, STATE_KEY } from '../state'
import type { SessionPageState, SessionSync } from '../state'

/**
 * Keeps the page's session state fresh without a reload: after any response (fetch, `$fetch`,
 * `useFetch`) that says the session changed, it loads the state from the module's route, and
 * tabs of this site tell each other through a BroadcastChannel, so every open tab follows. A
 * page whose state was not rendered (prerendered, cached) loads it once mounted.
 */
export default defineNuxtPlugin({
  name: 'nuxt-server-session:sync',
  setup(nuxtApp) {
    const state = useState<SessionPageState | null>(STATE_KEY, () => null)
    const route = (useRuntimeConfig().public.serverSession as { route?: string } | undefined)?.route || '/api/_session'
    const channel = typeof BroadcastChannel === 'function' ? new BroadcastChannel(CHANNEL) : undefined
    const nativeFetch = globalThis.fetch.bind(globalThis)
    const json = () => JSON.stringify(state.value)

    // Bumped by clear(): an answer of a load started before it is not applied.
    let generation = 0
    const apply = (next: SessionPageState) => {
      const before = json()
      state.value = next
      if (json() !== before) channel?.postMessage(json())
    }
    // One load at a time; a change seen meanwhile loads once more after it.
    let running: Promise<void> | undefined
    let again = false
    const refresh = (): Promise<void> => {
      if (running) {
        again = true
        return running
      }
      running = (async () => {
        try {
          do {
            again = false
            const started = generation
            const res = await nativeFetch(route, { credentials: 'same-origin', headers: { accept: 'application/json' } })
            const next = res.ok ? await res.json() as SessionPageState : undefined
            if (next && started === generation) apply(next)
          } while (again)
        }
        finally {
          running = undefined
        }
      })()
      return running
    }
    const clear = async (): Promise<void> => {
      generation++
      const res = await nativeFetch(route, { method: 'DELETE', credentials: 'same-origin', headers: { accept: 'application/json' } })
      if (!res.ok) throw new Error(`Sign-out failed (${res.status})`)
      generation++
      apply(await res.json() as SessionPageState)
    }

    // Every fetch of the page, `$fetch` and `useFetch` included (ofetch calls the global fetch).
    // A redirect that fetch followed hides the mark of the response it followed: a same-site
    // redirected response loads the state too.
    globalThis.fetch = async (...args: Parameters<typeof fetch>) => {
      const res = await nativeFetch(...args)
      if (res.headers.has(CHANGED_HEADER) || (res.redirected && _sameOrigin(res.url))) void refresh().catch(() => {})
      return res
    }
    channel?.addEventListener('message', (message: MessageEvent) => {
      if (message.data !== json()) void refresh().catch(() => {})
    })
    const stale = useState<boolean>(STALE_KEY, () => false)
    nuxtApp.hook('app:mounted', () => {
      if (state.value === null || stale.value) void refresh().catch(() => {})
      // A page rendered just now (after a sign-in by form post, say) is news to the other tabs.
      else channel?.postMessage(json())
    })
    const sync: SessionSync = { refresh, clear }
    return { provide: { serverSession: sync } }
  },
})

function _sameOrigin(url: string): boolean {
  try {
    return new URL(url).origin === globalThis.location?.origin
  }
  catch {
    return false
  }
}
