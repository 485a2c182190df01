import { fileURLToPath } from 'node:url'
import { defineConfig } from 'nitro'
import sessionModule from '../../../src/nitro'

// A Nitro 3 app with the standalone Nitro module and zero session options (the default SQLite
// mount). Started with NUXT_SESSION_REDIS_URL, the same build is the `nitro3-module-redis`
// target (RedisSessionStore), and with NUXT_SESSION_POSTGRES_URL the `nitro3-module-postgres`
// target (PostgresSessionStore). As test/fixtures/nitro3-basic: the module object is imported here
// (Nitro 3 loads a module given by path with a plain import(), which cannot load the TS source),
// and 'nuxt-server-session/server', which routes import `useServerSession` from (no auto-imports
// on Nitro 3), is aliased to the source as the package's exports map it to dist.
export default defineConfig({
  modules: [sessionModule],
  serverDir: './server',
  // Build files out of the source tree, as the Nitro 2 apps do.
  buildDir: 'node_modules/.nitro',
  compatibilityDate: '2025-07-01',
  // Source maps, as the Nitro 2 builds have them, so that CPU profiles map back to packages.
  sourcemap: true,
  alias: {
    'nuxt-server-session/server': fileURLToPath(new URL('../../../src/runtime/server/nitro/utils.ts', import.meta.url)),
  },
})
