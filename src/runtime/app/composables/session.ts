import { computed, readonly } from 'vue'
import type { ComputedRef, DeepReadonly, Ref } from 'vue'
import { useNuxtApp, useState } from '#app'
import { STATE_KEY } from '../state'
import type { SessionPageState, SessionSync } from '../state'

export interface SessionStateComposable<T> {
  /** The public state, `null` until known (a prerendered or cached page loads it in the browser). */
  state: DeepReadonly<Ref<SessionPageState<T> | null>>
  /** A user is signed in (`signInServerSession`). */
  loggedIn: ComputedRef<boolean>
  /** The exposed data keys (`session.pages.expose`); `{}` until ready. */
  data: ComputedRef<Partial<T>>
  /** The state is known: rendered by the server, or loaded by the browser. */
  ready: ComputedRef<boolean>
  /** Loads the state again (it also follows by itself after a request that changed the session). */
  refresh: () => Promise<void>
  /** Signs out (the module's route destroys the session), in every open tab. */
  clear: () => Promise<void>
}

/**
 * The session as pages see it: rendered into the page on the server (hydration makes no
 * request), and kept fresh in the browser: after any request that changed the session, and in
 * every tab of this site. Only what the app exposes is there (`session.pages.expose`).
 *
 * @example
 * ```vue
 * <script setup lang="ts">
 * const { loggedIn, data, clear } = useSessionState<{ name: string }>()
 * </script>
 * <template>
 *   <p v-if="loggedIn">Signed in as {{ data.name }} <button @click="clear">Sign out</button></p>
 * </template>
 * ```
 */
export function useSessionState<T = Record<string, unknown>>(): SessionStateComposable<T> {
  const state = useState<SessionPageState<T> | null>(STATE_KEY, () => null)
  const sync = useNuxtApp().$serverSession as SessionSync | undefined
  return {
    state: readonly(state) as DeepReadonly<Ref<SessionPageState<T> | null>>,
    loggedIn: computed(() => state.value?.loggedIn === true),
    data: computed(() => (state.value?.data ?? {}) as Partial<T>),
    ready: computed(() => state.value !== null),
    refresh: () => sync?.refresh() ?? Promise.resolve(),
    clear: () => sync?.clear() ?? Promise.resolve(),
  }
}
