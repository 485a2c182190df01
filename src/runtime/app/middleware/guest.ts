import { defineNuxtRouteMiddleware, navigateTo, useRuntimeConfig } from '#app'
import { safeRedirect } from '../../server/core/redirect'
import { useSessionState } from '../composables/session'

/**
 * `definePageMeta({ middleware: 'guest' })`, for the login page: a signed-in visitor goes on to
 * `?redirect=` when it is a path of this site (never another origin: no open redirect), else to
 * `session.pages.home`.
 */
export default defineNuxtRouteMiddleware(async (to) => {
  const session = useSessionState()
  if (!session.ready.value) {
    if (import.meta.server) return
    await session.refresh()
  }
  if (!session.loggedIn.value) return
  const home = (useRuntimeConfig().public.serverSession as { home?: string } | undefined)?.home || '/'
  const target = safeRedirect(to.query.redirect) ?? home
  if (target === to.fullPath) return
  return navigateTo(target)
})
