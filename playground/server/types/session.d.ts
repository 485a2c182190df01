// Types `session.data`, `set()` and `update()` in every server route.
declare module 'nuxt-server-session' {
  interface SessionData {
    user?: string
    visits?: number
  }
}

export {}
