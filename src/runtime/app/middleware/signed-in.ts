import { defineNuxtRouteMiddleware, navigateTo, useRuntimeConfig } from '#app'
import { useSessionState } from '../composables/session'

/**
 * `definePageMeta({ middleware: 'signed-in' })`: a visitor who is not signed in goes to the login
 * page (`session.pages.login`), with `?redirect=` the page they asked for (a path of this site).
 * Where the state is not known yet in the browser (a prerendered or cached page), it is loaded
 * first; a cached render on the server lets the page through, the browser then decides.
 */
export default defineNuxtRouteMiddleware(async (to) => {
  const session = useSessionState()
  if (!session.ready.value) {
    if (import.meta.server) return
    await session.refresh()
  }
  if (session.loggedIn.value) return
  const login = (useRuntimeConfig().public.serverSession as { login?: string } | undefined)?.login || '/login'
  if (to.path === login) return
  return navigateTo({ path: login, query: { redirect: to.fullPath } })
})
