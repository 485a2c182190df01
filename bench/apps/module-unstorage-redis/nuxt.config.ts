import { fileURLToPath } from 'node:url'
import NuxtServerSession from '../../../src/module'

// The session mount on unstorage's redis driver (UnstorageSessionStore). Its driver options are
// frozen into the build, so the benchmark builds it with the address of its private Redis.
const url = process.env.BENCH_REDIS_URL || 'redis://127.0.0.1:16391'

export default defineNuxtConfig({
  modules: [NuxtServerSession],
  devtools: { enabled: false },
  serverDir: fileURLToPath(new URL('../_nuxt-routes/session', import.meta.url)),
  compatibilityDate: '2025-07-01',
  nitro: { storage: { session: { driver: 'redis', url, base: 'bench-nss-unstorage' } } },
  telemetry: false,
})
