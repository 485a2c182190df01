import { fileURLToPath } from 'node:url'

// Zero session config: development signs cookies with a throwaway secret (a warning says so);
// production needs NUXT_SESSION_SECRET (32+ characters). Sessions are kept under .data/session.
export default defineNuxtConfig({
  modules: ['../src/module'],
  devtools: { enabled: false },
  // Only for this playground, which runs the module from source: lets the
  // `declare module 'nuxt-server-session'` augmentation find it. Installed apps need nothing.
  alias: { 'nuxt-server-session': fileURLToPath(new URL('../src/module', import.meta.url)) },
  compatibilityDate: '2025-07-01',
  // The live page's WebSocket (server/routes/_live.ts).
  nitro: { experimental: { websocket: true } },
  session: {
    // "Your devices" shows each signed-in session's browser (its user agent); the IP stays off.
    devices: { userAgent: true },
    // What pages see of the session (useSessionState, <SessionState>): these keys and loggedIn.
    pages: { expose: ['user', 'visits'] },
  },
})
