import { defineConfig } from 'nitro'

// A plain Nitro 3 app (nitro 3 beta, h3 2) without our module: the baseline of the Nitro 3
// targets. Its routes return what the Nitro 2 bare app's do. Nitro 3 has no auto-imports, so
// each route imports `defineHandler` from 'nitro', as the module app's routes do.
export default defineConfig({
  serverDir: './server',
  // Build files out of the source tree, as the Nitro 2 apps do.
  buildDir: 'node_modules/.nitro',
  compatibilityDate: '2025-07-01',
  // Source maps, as the Nitro 2 builds have them, so that CPU profiles map back to packages.
  sourcemap: true,
})
