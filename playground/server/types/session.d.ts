// Types `session.data`, `set()` and `update()` in every server route.
import type {} from 'nuxt-server-session'

declare module 'nuxt-server-session' {
  interface SessionData {
    user?: string
    visits?: number
  }
}
