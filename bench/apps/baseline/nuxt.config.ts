import { fileURLToPath } from 'node:url'

// The bare app: the same routes as the session apps, without any session module.
export default defineNuxtConfig({
  devtools: { enabled: false },
  serverDir: fileURLToPath(new URL('../_nuxt-routes/bare', import.meta.url)),
  compatibilityDate: '2025-07-01',
  // Keep the source map of an all-node_modules bundle, so that CPU profiles map back to packages.
  nitro: { experimental: { sourcemapMinify: false } },
  telemetry: false,
})
