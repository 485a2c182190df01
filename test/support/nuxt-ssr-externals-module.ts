/**
 * A local Nuxt module (a file for an app's `modules/` directory, which Nuxt registers by itself)
 * around an upstream build failure of Nuxt 5 nightly 5.0.0-29830089.dc519522 with the vite 8.4 /
 * rolldown 1.3.3 it installs. `nuxt build` of every app, an empty `defineNuxtConfig({})`
 * included, in a fresh `npm install nuxt@npm:nuxt-nightly@5.0.0-29830089.dc519522` too, stops in
 * the SSR bundle with:
 *
 *   [EXTERNAL_MODULES_CANNOT_BE_TRANSFORMED_TO_MODULES] "node_modules/ufo/dist/index.mjs" is
 *   resolved as a module now, but it was an external module before.
 *   ╭─[ \0nuxt-nitro-virtual:#internal/nuxt/paths:1:33 ]
 *
 * Nuxt's `nuxt:resolve-externals` plugin makes the bare imports of its runtime dependencies
 * (`nuxt['~runtimeDependencies']`: ufo, defu, unctx, ...) external by absolute path, while its
 * virtual modules (`#internal/nuxt/paths`) and its unctx transform import the same files by that
 * absolute path, which vite bundles; rolldown 1.3 refuses the mix. This makes the absolute
 * imports of those packages external too, so that every import of them agrees, and changes
 * nothing else. It is the same fix as `consistentSsrExternals` in nuxt-build.ts (the
 * programmatic builds of the fixtures), as a file that a `nuxt build` from the CLI loads.
 *
 * Self-contained (no imports) so that it can be copied into an app as it is.
 */

/** The package a module path belongs to: the name after its last `node_modules/`. */
function packageOf(path: string): string | undefined {
  const rest = path.split('/node_modules/').at(-1)
  if (!rest || rest === path) return undefined
  const [first, second] = rest.split('/')
  return first?.startsWith('@') ? `${first}/${second}` : first
}

interface NuxtLike {
  'options': { vite: { plugins?: unknown[] } }
  '~runtimeDependencies'?: string[]
}

export default function consistentSsrExternals(_options: unknown, nuxt: NuxtLike): void {
  nuxt.options.vite.plugins = [...(nuxt.options.vite.plugins ?? []), {
    name: 'nss-test:consistent-ssr-externals',
    enforce: 'pre' as const,
    applyToEnvironment: (environment: { name: string }) => environment.name === 'ssr',
    resolveId(id: string) {
      if (id[0] !== '/' || !id.includes('/node_modules/')) return null
      // Whole packages only (not `@nuxt/nitro-server/h3`).
      const external = new Set(nuxt['~runtimeDependencies']?.filter(dep => packageOf(`/node_modules/${dep}`) === dep))
      const name = packageOf(id)
      return name && external.has(name) ? { id, external: 'absolute' as const } : null
    },
  }]
}
