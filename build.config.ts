import { defineBuildConfig } from 'unbuild'

// `@nuxt/module-builder` builds `src/module` and copies `src/runtime` (the h3 core lives there,
// exported as `./h3`); this adds the standalone Nitro module.
export default defineBuildConfig({
  entries: ['src/nitro'],
  externals: ['nitropack', 'nitropack/kit', 'h3', 'unstorage', 'ioredis'],
})
