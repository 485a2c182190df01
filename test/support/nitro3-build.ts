import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { build, copyPublicAssets, createNitro, prepare, prerender } from 'nitro/builder'
import type { NitroConfig } from 'nitro/types'

/**
 * Builds the Nitro 3 app in `rootDir` (its nitro.config.ts, `defineConfig` from 'nitro') for
 * production with the `nitro` package's builder API, as `nitro build` does, for node-server;
 * everything it writes goes under `dir` (`.nitro`, `.output`). `config` adds to or overrides the
 * app's config. Resolves to the output directory (`server/index.mjs` is its entry).
 *
 * The app bundles the h3 2 and unstorage 2 that `nitro` depends on
 * (node_modules/nitro/node_modules/{h3,unstorage}), not the root h3 1 / unstorage 1:
 * Nitro resolves its runtime from its own package. The app's own imports go through
 * 'nitro', 'nitro/h3', 'nitro/storage', ... for the same reason.
 */
export async function buildNitro3App(rootDir: string, dir: string, config: Record<string, unknown> = {}): Promise<string> {
  const nitro = await createNitro({
    rootDir,
    dev: false,
    preset: 'node-server',
    buildDir: join(dir, '.nitro'),
    output: { dir: join(dir, '.output') },
    logLevel: 1,
    ...config,
  } as NitroConfig)
  try {
    await prepare(nitro)
    await copyPublicAssets(nitro)
    await prerender(nitro)
    await build(nitro)
  }
  finally {
    await nitro.close()
  }
  return join(dir, '.output')
}

/**
 * The packages a built server bundles, from the `// <path>` lines rolldown puts before each
 * module it inlines (not minified): `node_modules/nitro/node_modules/h3`, `node_modules/vue`, ...
 * (the chain of node_modules folders, from the repo's own).
 */
export async function bundledPackages(outputDir: string): Promise<Set<string>> {
  const found = new Set<string>()
  const serverDir = join(outputDir, 'server')
  for (const file of await readdir(serverDir, { recursive: true })) {
    if (!file.endsWith('.mjs')) continue
    for (const [, path] of (await readFile(join(serverDir, file), 'utf8')).matchAll(/^\/\/ (?:\.\.\/)*((?:node_modules\/(?:@[^/\s]+\/)?[^/\s]+\/)+)/gm)) {
      found.add(path!.slice(0, -1))
    }
  }
  return found
}
