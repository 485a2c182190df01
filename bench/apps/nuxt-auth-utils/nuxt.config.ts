import { fileURLToPath } from 'node:url'

// Peer: nuxt-auth-utils, whose session is sealed into the cookie (NUXT_SESSION_PASSWORD).
export default defineNuxtConfig({
  modules: ['nuxt-auth-utils'],
  devtools: { enabled: false },
  serverDir: fileURLToPath(new URL('../_nuxt-routes/auth-utils', import.meta.url)),
  compatibilityDate: '2025-07-01',
  telemetry: false,
})
