import { defineNitroConfig } from 'nitropack/config'

// A standalone Nitro app with the Nitro module and zero session options (default fs mount).
// The module is given by path, as test/fixtures/nitro-basic does (see the note there).
export default defineNitroConfig({
  modules: ['../../../src/nitro'],
  // Build files out of the source tree (Nitro's default is ./.nitro).
  buildDir: 'node_modules/.nitro',
  compatibilityDate: '2025-07-01',
})
