import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { build, copyPublicAssets, createNitro, prepare } from 'nitropack'
import type { NitroConfig } from 'nitropack'

/**
 * Builds the Nitro app in `rootDir` for production with nitropack's API, everything it writes
 * under `dir` (`.nitro`, `.output`); `config` adds to or overrides the app's nitro.config
 * (preset, storage, ...). Resolves to the output directory.
 */
export async function buildNitroApp(rootDir: string, dir: string, config: NitroConfig = {}): Promise<string> {
  const nitro = await createNitro({
    rootDir,
    dev: false,
    preset: 'node-server',
    buildDir: join(dir, '.nitro'),
    output: { dir: join(dir, '.output') },
    logLevel: 1,
    ...config,
  })
  try {
    await prepare(nitro)
    await copyPublicAssets(nitro)
    await build(nitro)
  }
  finally {
    await nitro.close()
  }
  return join(dir, '.output')
}

/** Every file under `dir`, relative to it; none when it does not exist. */
export async function filesUnder(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { recursive: true, withFileTypes: true })).filter(e => e.isFile()).map(e => join(e.parentPath, e.name).slice(dir.length + 1))
  }
  catch {
    return []
  }
}
