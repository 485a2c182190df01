import { defineNuxtPlugin, useRequestEvent, useState } from '#app'
import { CHANGED_MARK, PUBLIC_STATE, STALE_KEY, STATE_KEY } from '../state'
import type { SessionPageState } from '../state'

type PublicState = (event: unknown) => Promise<SessionPageState | undefined>

/**
 * Renders the public state into the page (the SSR payload), so that hydration needs no request.
 * The request's session is read once (none without a cookie); a prerendered or cached page, or a
 * store that fails, leaves it `null` for the browser to load.
 */
export default defineNuxtPlugin({
  name: 'nuxt-server-session:state',
  enforce: 'pre',
  async setup(nuxtApp) {
    const state = useState<SessionPageState | null>(STATE_KEY, () => null)
    const event = useRequestEvent()
    const publicState = (globalThis as Record<symbol, PublicState | undefined>)[PUBLIC_STATE]
    if (!event || !publicState) return
    // Changes made before now (a middleware that wrote the session) are in the state computed here.
    const context = event.context as unknown as Record<symbol, unknown>
    context[CHANGED_MARK] = false
    try {
      state.value = (await publicState(event)) ?? null
    }
    catch {
      // Logged by the session already (a store outage, say): the browser loads it once it can.
      state.value = null
    }
    if (state.value === null) return
    // The page may change the session while it renders (an internal $fetch that writes): the
    // markup holds the state of the start, so the browser is told to load the new one. The
    // core marks the page's context when its session, or an internal request's, changed.
    const stale = useState<boolean>(STALE_KEY, () => false)
    nuxtApp.hooks.hook('app:rendered', () => {
      if (context[CHANGED_MARK]) stale.value = true
    })
  },
})
