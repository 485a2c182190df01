import { fileURLToPath } from 'node:url'
import NuxtServerSession from '../../../src/module'

// The session mount in process memory (unstorage's memory driver).
export default defineNuxtConfig({
  modules: [NuxtServerSession],
  devtools: { enabled: false },
  serverDir: fileURLToPath(new URL('../_nuxt-routes/session', import.meta.url)),
  compatibilityDate: '2025-07-01',
  nitro: { storage: { session: { driver: 'memory' } } },
  telemetry: false,
})
