import { fileURLToPath } from 'node:url'
import NuxtServerSession from '../../../src/module'

// Zero config: the module's default SQLite database under .data/session. Started with
// NUXT_SESSION_REDIS_URL, the same build is the `module-redis` target (RedisSessionStore); with
// NUXT_SESSION_POSTGRES_URL, the `module-postgres` target (PostgresSessionStore).
export default defineNuxtConfig({
  modules: [NuxtServerSession],
  devtools: { enabled: false },
  serverDir: fileURLToPath(new URL('../_nuxt-routes/session', import.meta.url)),
  compatibilityDate: '2025-07-01',
  telemetry: false,
})
