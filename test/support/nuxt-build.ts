import { lstat, mkdir, readFile, readlink, realpath, rm, symlink } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * Production builds of a Nuxt fixture with a chosen Nuxt generation, in the test process:
 *
 * - 4: the root `nuxt` (4.5, on nitropack 2 / h3 1);
 * - 5: `nuxt-v5`, the alias of one pinned `nuxt-nightly` build (Nuxt 5, on Nitro 3 / h3 2), with its own @nuxt/kit, nitro, vite, ...
 *
 * Each generation is imported by its own package name, together with the @nuxt/kit it bundles
 * (`<pkg>/kit`). @nuxt/kit's `loadNuxt`/`buildNuxt` (which @nuxt/test-utils' `setup()` uses)
 * would not do: every kit picks `nuxt-nightly` over `nuxt` whenever it is installed, so
 * `setup()` builds every fixture with Nuxt 5 now.
 *
 * The layout is @nuxt/test-utils' (basic.test.ts): a build directory of its own under the
 * fixture, `<rootDir>/.nuxt/test/<random id>` (inside the project, so that what the generated
 * files import resolves as in an app), and the output in `<buildDir>/output`. Parallel builds
 * of one fixture never share a directory.
 *
 * A fixture is of one generation. For Nuxt 5, `nuxt` must resolve to nuxt-nightly from the
 * fixture, as in a Nuxt 5 app (`"nuxt": "npm:nuxt-nightly@..."`): Nuxt 5's config loader takes
 * the config schema (every default) from the `nuxt` it resolves from the fixture, which is the
 * root nuxt 4.5 otherwise. The build links `<rootDir>/node_modules/nuxt` to nuxt-nightly for
 * that (node_modules is git-ignored). Two more fixes of this repo's layout: `nuxt5NitroAliases`
 * (Nuxt 5) and `consistentSsrExternals` (both generations).
 */
export type NuxtGeneration = 4 | 5

export interface NuxtBuildOptions {
  /** The build directory; `<rootDir>/.nuxt/test/<random id>` by default. */
  buildDir?: string
  /** The output directory (`server/index.mjs` is its entry); `<buildDir>/output` by default. */
  outputDir?: string
  /** Env vars set in this process for the build only (the config, modules and prerendering see them). */
  env?: Record<string, string>
  /** Added to the fixture's nuxt.config (`nitro` is merged one level deep). */
  overrides?: Record<string, unknown>
}

export interface NuxtBuild {
  generation: NuxtGeneration
  /** The Nuxt version that built it. */
  version: string
  buildDir: string
  outputDir: string
  /** The server entry, `<outputDir>/server/index.mjs`. */
  entry: string
  /** Removes the build directory (and the output directory when it is elsewhere). */
  remove: () => Promise<void>
}

interface NuxtPackage {
  loadNuxt: (opts: { cwd: string, dev?: boolean, overrides?: Record<string, unknown> }) => Promise<any>
  build: (nuxt: any) => Promise<void>
}

interface KitPackage {
  runWithNuxtContext: <T>(nuxt: any, fn: () => T) => T
  logger: { level: number }
}

/** Where a package resolved from `from` (a file) lives. */
const packageDir = (name: string, from: string) => dirname(createRequire(from).resolve(`${name}/package.json`))
const NUXT_NIGHTLY = packageDir('nuxt-v5', fileURLToPath(import.meta.url))

async function load(generation: NuxtGeneration): Promise<{ nuxt: NuxtPackage, kit: KitPackage }> {
  if (generation === 4) return { nuxt: await import('nuxt') as NuxtPackage, kit: await import('nuxt/kit') as unknown as KitPackage }
  return { nuxt: await import('nuxt-v5') as NuxtPackage, kit: await import('nuxt-v5/kit') as KitPackage }
}

/** The real directory of the `nuxt` that code in `rootDir` imports, if any. */
async function nuxtSeenFrom(rootDir: string): Promise<string | undefined> {
  try {
    return await realpath(packageDir('nuxt', join(rootDir, 'package.json')))
  }
  catch {
    return undefined
  }
}

/** Makes `nuxt` resolve to nuxt-nightly from `rootDir`, as it does in a Nuxt 5 app. */
async function linkNuxtNightly(rootDir: string): Promise<void> {
  if (await nuxtSeenFrom(rootDir) === await realpath(NUXT_NIGHTLY)) return
  const link = join(rootDir, 'node_modules', 'nuxt')
  const target = relative(dirname(link), NUXT_NIGHTLY)
  await mkdir(dirname(link), { recursive: true })
  try {
    await symlink(target, link, 'dir')
  }
  catch (error) {
    // A parallel build of the same fixture made it first.
    if ((error as { code?: string }).code !== 'EEXIST' || !(await lstat(link)).isSymbolicLink() || await readlink(link) !== target) throw error
  }
}

/**
 * The nitro that Nuxt 5's @nuxt/nitro-server resolves, as a real directory: a copy of its own
 * (node_modules/nuxt-v5/node_modules/@nuxt/nitro-server/node_modules/nitro) or, where npm put
 * one nitro for everything, the root node_modules/nitro; `npm ci` and `npm install` may differ.
 */
export function nuxt5Nitro(): string {
  return packageDir('nitro', join(packageDir('@nuxt/nitro-server', join(NUXT_NIGHTLY, 'package.json')), 'package.json'))
}

/**
 * `nitro` and its runtime subpaths, mapped to the copy Nuxt 5's @nuxt/nitro-server depends on
 * (node_modules/nuxt-v5/node_modules/@nuxt/nitro-server/node_modules/nitro). In this repo
 * a `nitro/...` import from a fixture or from src/ resolves the root node_modules/nitro
 * instead: a second copy of Nitro's runtime in the server bundle, with its own NitroApp
 * (`useNitroApp()` from it creates a second app and runs the plugins again), storage and h3.
 * In an app there is one nitro; these aliases make it so here.
 */
async function nuxt5NitroAliases(): Promise<Record<string, string>> {
  const nitro = nuxt5Nitro()
  const { exports } = JSON.parse(await readFile(join(nitro, 'package.json'), 'utf8')) as { exports: Record<string, unknown> }
  const builderOnly = new Set(['./builder', './vite', './vite/types', './types', './tsconfig', './package.json'])
  const aliases: Record<string, string> = {}
  for (const [key, target] of Object.entries(exports)) {
    if (key.includes('*') || builderOnly.has(key) || typeof target !== 'string') continue
    aliases[key === '.' ? 'nitro' : `nitro/${key.slice(2)}`] = join(nitro, target)
  }
  return aliases
}

/** The package a module path belongs to: the name after its last `node_modules/`. */
function packageOf(path: string): string | undefined {
  const rest = path.split('/node_modules/').at(-1)
  if (!rest || rest === path) return undefined
  const [first, second] = rest.split('/')
  return first?.startsWith('@') ? `${first}/${second}` : first
}

/**
 * The vite SSR build of both generations fails with the vite 8.4 / rolldown 1.3 this repo has
 * ("[EXTERNAL_MODULES_CANNOT_BE_TRANSFORMED_TO_MODULES] node_modules/unctx/dist/index.mjs is
 * resolved as a module now, but it was an external module before", "[INVALID_EXTERNAL_ID]
 * node_modules/defu/dist/defu.mjs ..."): Nuxt externalizes its runtime dependencies
 * (`nuxt['~runtimeDependencies']`: unctx, defu, ...) when they are imported by name, while its
 * unctx transform and its templates (route-rules) import the same files by absolute path,
 * which vite bundles. rolldown 1.3 refuses the mix. This makes the absolute imports of those
 * packages external too, so that every import of them agrees.
 */
function consistentSsrExternals(nuxt: { '~runtimeDependencies'?: string[] }) {
  return {
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
  }
}

/** Sets `env` in process.env until the returned function restores what was there. */
function withEnv(env: Record<string, string>): () => void {
  const saved = Object.keys(env).map(key => [key, process.env[key]] as const)
  Object.assign(process.env, env)
  return () => {
    for (const [key, value] of saved) {
      if (value === undefined) Reflect.deleteProperty(process.env, key)
      else process.env[key] = value
    }
  }
}

/** Builds the Nuxt app in `rootDir` for production (node-server) with Nuxt `generation`. */
export async function buildNuxtApp(rootDir: string, generation: NuxtGeneration, options: NuxtBuildOptions = {}): Promise<NuxtBuild> {
  rootDir = resolve(rootDir)
  if (generation === 5) {
    await linkNuxtNightly(rootDir)
  }
  else if (await nuxtSeenFrom(rootDir) === await realpath(NUXT_NIGHTLY)) {
    throw new Error(`${rootDir} is a Nuxt 5 fixture (its nuxt is nuxt-nightly): it cannot be built with Nuxt 4.`)
  }
  const buildDir = resolve(options.buildDir ?? join(rootDir, '.nuxt', 'test', Math.random().toString(36).slice(2, 8)))
  const outputDir = resolve(options.outputDir ?? join(buildDir, 'output'))
  const nitroOverrides = (options.overrides?.nitro ?? {}) as { alias?: Record<string, string> }
  const alias = generation === 5 ? { ...await nuxt5NitroAliases(), ...nitroOverrides.alias } : nitroOverrides.alias
  const { nuxt: core, kit } = await load(generation)
  const restoreEnv = withEnv(options.env ?? {})
  const level = kit.logger.level
  kit.logger.level = 1
  let version: string
  try {
    const nuxt = await core.loadNuxt({
      cwd: rootDir,
      dev: false,
      overrides: {
        // Nuxt 5 writes its tsconfigs and `nuxt.d.ts` to `typesDir`, the fixture's `.nuxt` otherwise.
        ...(generation === 5 && { typesDir: buildDir }),
        ...options.overrides,
        buildDir,
        nitro: { ...nitroOverrides, ...(alias && { alias }), output: { dir: outputDir } },
      },
    })
    version = nuxt._version
    nuxt.options.vite.plugins = [...(nuxt.options.vite.plugins ?? []), consistentSsrExternals(nuxt)]
    try {
      await kit.runWithNuxtContext(nuxt, () => core.build(nuxt))
    }
    finally {
      await nuxt.close()
    }
  }
  finally {
    kit.logger.level = level
    restoreEnv()
  }
  return {
    generation,
    version,
    buildDir,
    outputDir,
    entry: join(outputDir, 'server/index.mjs'),
    remove: async () => {
      await rm(buildDir, { recursive: true, force: true })
      if (!outputDir.startsWith(buildDir + sep)) await rm(outputDir, { recursive: true, force: true })
    },
  }
}
