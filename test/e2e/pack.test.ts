import { existsSync } from 'node:fs'
import { DatabaseSync } from 'node:sqlite'
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { baseEnv, run, runOk, startServer, stopAll } from '../support/process'
import { Client, parseSetCookie } from '../support/server'

// The published artifact, as the README's users get it: `npm pack` of a fresh build, extracted
// into the node_modules of fresh apps that name the package (no alias, no path to src/). The
// apps' other dependencies are symlinks to this repo's installed packages, so nothing is
// downloaded.

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const PKG = 'nuxt-server-session'
const SECRET = 'pack-e2e-secret-0123456789-0123456789-0123'
/** What may be in the tarball, under `package/`. */
const ALLOWED = /^package\/(?:dist\/.+|README\.md|package\.json|LICEN[CS]E(?:\.md|\.txt)?)$/i

/**
 * The files a README section tells users to write: every ```ts block whose lines start with a
 * `// <path>` comment, split at each such comment (one block may show several files).
 */
async function readmeFiles(heading: string): Promise<Record<string, string>> {
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8')
  const start = readme.indexOf(`\n## ${heading}\n`)
  expect(start, `README section "${heading}"`).toBeGreaterThan(-1)
  const section = readme.slice(start + 1, readme.indexOf('\n## ', start + 1))
  const files: Record<string, string> = {}
  for (const [, code] of section.matchAll(/```ts\n([\s\S]*?)```/g)) {
    let path: string | undefined
    for (const line of code!.split('\n')) {
      const named = /^\/\/ ([\w./-]+\.ts)\b/.exec(line)
      if (named) path = named[1]!
      else if (path) files[path] = `${files[path] ?? ''}${line}\n`
    }
  }
  return files
}

/** Env of the CLIs: this process's PATH (npm, npx, the pinned node), no NODE_ENV, no telemetry. */
const cliEnv = () => ({ ...baseEnv(), NUXT_TELEMETRY_DISABLED: '1' })

describe('[nuxt-server-session] packed package (npm pack) installed in fresh apps', { timeout: 300_000 }, () => {
  let tmp: string
  let tarball: string
  let entries: string[]

  /**
   * A fresh app dir: its files, the packed package in node_modules, and the rest as symlinks,
   * leaving out the packages named in `omit` (`@scope/name` or `name`).
   */
  async function createApp(name: string, files: Record<string, string>, omit: readonly string[] = []): Promise<string> {
    const app = join(tmp, name)
    const modules = join(app, 'node_modules')
    await mkdir(join(modules, PKG), { recursive: true })
    await runOk('tar', ['-xzf', tarball, '-C', join(modules, PKG), '--strip-components=1'], { cwd: tmp })
    for (const entry of await readdir(join(ROOT, 'node_modules'))) {
      if (entry === PKG || omit.includes(entry) || (entry.startsWith('.') && entry !== '.bin')) continue
      if (entry.startsWith('@') && omit.some(o => o.startsWith(`${entry}/`))) {
        await mkdir(join(modules, entry))
        for (const scoped of await readdir(join(ROOT, 'node_modules', entry))) {
          if (!omit.includes(`${entry}/${scoped}`)) await symlink(join(ROOT, 'node_modules', entry, scoped), join(modules, entry, scoped))
        }
        continue
      }
      await symlink(join(ROOT, 'node_modules', entry), join(modules, entry))
    }
    for (const [path, content] of Object.entries({ 'package.json': JSON.stringify({ name: `nss-pack-${name}`, private: true, type: 'module' }), ...files })) {
      await mkdir(dirname(join(app, path)), { recursive: true })
      await writeFile(join(app, path), content)
    }
    return app
  }

  /** Three visits with one cookie jar, then a restart of the server that keeps the count. */
  async function countVisitsAcrossRestart(entry: string, cwd: string, path: string): Promise<void> {
    let server = await startServer(entry, { cwd, env: { NUXT_SESSION_SECRET: SECRET } })
    const c = new Client(server.url)
    const first = await c.fetch(path)
    expect(await first.json()).toEqual({ visits: 1 })
    const cookie = parseSetCookie(first.headers.getSetCookie()[0]!)
    expect(cookie.name).toBe('__Host-sid')
    expect(cookie.attributes).toMatchObject({ httponly: true, secure: true, samesite: 'Lax', path: '/' })
    expect(first.headers.get('cache-control')).toBe('private, no-store')
    expect(await c.json(path)).toEqual({ visits: 2 })
    expect(await c.json(path)).toEqual({ visits: 3 })
    expect((await readdir(join(cwd, '.data/session'), { recursive: true })).length).toBeGreaterThan(0)
    await server.stop()
    server = await startServer(entry, { cwd, env: { NUXT_SESSION_SECRET: SECRET } })
    const again = new Client(server.url)
    again.jar.set('__Host-sid', c.jar.get('__Host-sid')!)
    expect(await again.json(path)).toEqual({ visits: 4 })
    await server.stop()
  }

  beforeAll(async () => {
    // The apps must get the packed copy: nothing else may answer to the package name.
    expect(existsSync(join(ROOT, 'node_modules', PKG))).toBe(false)
    tmp = await mkdtemp(join(tmpdir(), 'nss-pack-'))
    await runOk('npx', ['--no', 'nuxt-module-build', 'build'], { cwd: ROOT, env: cliEnv(), timeout: 150_000 })
    // `prepack` is the same build: skip running it twice.
    await runOk('npm', ['pack', '--ignore-scripts', '--pack-destination', tmp], { cwd: ROOT, env: cliEnv(), timeout: 60_000 })
    const tgz = (await readdir(tmp)).filter(f => f.endsWith('.tgz'))
    expect(tgz).toHaveLength(1)
    tarball = join(tmp, tgz[0]!)
    entries = (await runOk('tar', ['-tzf', tarball], { cwd: tmp })).split('\n').filter(Boolean)
  }, 240_000)

  afterAll(async () => {
    await stopAll()
    if (tmp) await rm(tmp, { recursive: true, force: true })
  })

  it('[nuxt-server-session] packed package: the tarball holds only dist/, README.md, package.json (and a license)', async () => {
    expect(entries.filter(e => !ALLOWED.test(e))).toEqual([])
    expect(entries.some(e => e.startsWith('package/src/') || e.startsWith('package/test/'))).toBe(false)
    expect(entries).toEqual(expect.arrayContaining(['package/package.json', 'package/README.md', 'package/dist/module.mjs', 'package/dist/nitro.mjs', 'package/dist/runtime/h3.js']))
    // Every file that package.json's exports, main and typesVersions point at is in the tarball.
    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8'))
    const targets = [pkg.main, ...Object.values(pkg.exports as Record<string, Record<string, string>>).flatMap(e => Object.values(e)), ...Object.values(pkg.typesVersions['*'] as Record<string, string[]>).flat()]
    for (const target of targets) expect(entries, target).toContain(`package/${target.replace(/^\.\//, '')}`)
    // The runtime that the modules register in Nuxt and Nitro builds.
    expect(entries).toEqual(expect.arrayContaining(['package/dist/runtime/server/nitro/plugin-v2.js', 'package/dist/runtime/server/nitro/plugin-v3.js', 'package/dist/runtime/server/nitro/utils.js']))
  })

  it('[nuxt-server-session] packed package: the runtime plugin and auto-import that the modules register exist in the package', async () => {
    const app = await createApp('inspect', {})
    const { default: nitroModule } = await import(pathToFileURL(join(app, 'node_modules', PKG, 'dist/nitro.mjs')).href)
    // Just enough of a Nitro for the module's setup: what it registers is all we look at.
    const options = { dev: false, preset: 'node-server', rootDir: app, runtimeConfig: {}, storage: {}, devStorage: {}, plugins: [] as string[], imports: { imports: [] as { name: string, from: string }[] } }
    await nitroModule.setup({ options })
    const registered = [...new Set([...options.plugins, ...options.imports.imports.map(i => i.from)])]
    expect(options.imports.imports.map(i => i.name).sort()).toEqual(['listServerSessions', 'revokeServerSession', 'revokeServerSessions', 'signInServerSession', 'useServerSession'])
    expect(registered).toHaveLength(2)
    for (const path of registered) {
      expect(path.startsWith(join(app, 'node_modules', PKG, 'dist/'))).toBe(true)
      expect(existsSync(`${path}.js`), `${path}.js`).toBe(true)
    }
  })

  describe('a Nuxt app with modules: [\'nuxt-server-session\']', () => {
    let app: string

    beforeAll(async () => {
      // Only what the README says: its quick setup and its sign-in / sign-out example.
      const setup = await readmeFiles('Quick setup: Nuxt')
      const helpers = await readmeFiles('Server helpers')
      expect(Object.keys(setup).sort()).toEqual(['nuxt.config.ts', 'server/api/visits.get.ts'])
      const files = { ...setup, 'server/api/login.post.ts': helpers['server/api/login.post.ts']!, 'server/api/logout.post.ts': helpers['server/api/logout.post.ts']! }
      expect(Object.values(files).every(Boolean)).toBe(true)
      app = await createApp('nuxt-app', { ...files, 'app/app.vue': '<template><main>packed</main></template>\n' })
      await runOk('npx', ['--no', 'nuxi', 'build', app], { cwd: app, env: cliEnv(), timeout: 180_000 })
    }, 200_000)

    it('[nuxt-server-session] packed package: Nuxt app counts visits across requests and a restart', async () => {
      await countVisitsAcrossRestart(join(app, '.output/server/index.mjs'), app, '/api/visits')
    })

    it('[nuxt-server-session] packed package: the README\'s sign-in saves before its redirect, and sign-out ends the session', async () => {
      const server = await startServer(join(app, '.output/server/index.mjs'), { cwd: app, env: { NUXT_SESSION_SECRET: SECRET } })
      const c = new Client(server.url)
      await c.json('/api/visits')
      const anonymous = c.jar.get('__Host-sid')!
      const login = await c.fetch('/api/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'ada' }) })
      expect(login.status).toBe(303)
      expect(login.headers.get('location')).toBe('/account')
      const signedIn = c.jar.get('__Host-sid')!
      expect(signedIn.split('.')[0]).not.toBe(anonymous.split('.')[0])
      expect(await c.json('/api/visits')).toEqual({ visits: 2 })
      const old = new Client(server.url)
      old.jar.set('__Host-sid', anonymous)
      expect(await old.json('/api/visits')).toEqual({ visits: 1 })
      expect((await c.fetch('/api/logout', { method: 'POST' })).status).toBe(303)
      expect(c.jar.has('__Host-sid')).toBe(false)
      const replay = new Client(server.url)
      replay.jar.set('__Host-sid', signedIn)
      expect(await replay.json('/api/visits')).toEqual({ visits: 1 })
      await server.stop()
    })
  })

  describe('a standalone Nitro app with modules: [\'nuxt-server-session/nitro\']', () => {
    let app: string

    beforeAll(async () => {
      const files = await readmeFiles('Quick setup: Nitro')
      expect(Object.keys(files).sort()).toEqual(['nitro.config.ts', 'routes/visits.ts'])
      app = await createApp('nitro-app', files)
      await runOk('npx', ['--no', 'nitropack', 'build'], { cwd: app, env: cliEnv(), timeout: 120_000 })
    }, 150_000)

    it('[nuxt-server-session] packed package: Nitro app counts visits across requests and a restart', async () => {
      await countVisitsAcrossRestart(join(app, '.output/server/index.mjs'), app, '/visits')
    })
  })

  describe('a plain h3 server importing nuxt-server-session/h3', () => {
    let app: string

    beforeAll(async () => {
      app = await createApp('h3-app', {
        'server.mjs': `import { createServer } from 'node:http'
import { createApp, defineEventHandler, toNodeListener } from 'h3'
import { createStorage } from 'unstorage'
import { sessionSqliteDriver, useSession, UnstorageSessionStore } from 'nuxt-server-session/h3'

const store = new UnstorageSessionStore(createStorage({ driver: sessionSqliteDriver({ path: './.data/h3/sessions.sqlite', createFolder: true }) }), { ttl: 3600, prefix: 'sess' })
const options = { store, secret: process.env.SESSION_SECRET }

const app = createApp()
app.use(defineEventHandler(async (event) => {
  await useSession(event, options)
  const session = event.context.sessionHandler
  session.update(data => ({ ...data, visits: (data.visits || 0) + 1 }))
  event.node.res.setHeader('x-resolved', import.meta.resolve('nuxt-server-session/h3'))
  return { visits: session.data.visits }
}))

createServer(toNodeListener(app)).listen(Number(process.env.PORT), process.env.HOST)
`,
      })
    })

    it('[nuxt-server-session] packed package: plain h3 counts visits with the packed nuxt-server-session/h3', async () => {
      const entry = join(app, 'server.mjs')
      let server = await startServer(entry, { cwd: app, env: { SESSION_SECRET: SECRET } })
      const c = new Client(server.url)
      const first = await c.fetch('/')
      expect(first.headers.get('x-resolved')).toBe(`file://${join(app, 'node_modules', PKG, 'dist/runtime/h3.js')}`)
      expect(await first.json()).toEqual({ visits: 1 })
      // Not production (no NODE_ENV): no Secure, so a plain `sid`.
      expect(parseSetCookie(first.headers.getSetCookie()[0]!).name).toBe('sid')
      expect(await c.json('/')).toEqual({ visits: 2 })
      expect(await c.json('/')).toEqual({ visits: 3 })
      // Kept by the package's own SQLite driver: one row per session (the server's readiness
      // probe made one too), under the hash of the id.
      const db = new DatabaseSync(join(app, '.data/h3/sessions.sqlite'))
      const rows = db.prepare('SELECT key, value FROM nss_items').all()
      db.close()
      for (const row of rows) expect(row.key).toMatch(/^sess:[\da-f]{64}$/)
      expect(rows.map(row => JSON.parse(row.value as string).data.visits)).toContain(3)
      await server.stop()
      server = await startServer(entry, { cwd: app, env: { SESSION_SECRET: SECRET } })
      const again = new Client(server.url)
      again.jar.set('sid', c.jar.get('sid')!)
      expect(await again.json('/')).toEqual({ visits: 4 })
      await server.stop()
    })
  })

  describe('a strict TypeScript h3 app that types its session data (tsc, NodeNext and Bundler)', () => {
    // A plain h3 app as the seed README writes it: `useSession` from nuxt-server-session/h3 and a
    // `declare module 'nuxt-server-session'` augmentation, no other import of the package. Nuxt,
    // Nitro and @nuxt/schema are not installed there. Each `@ts-expect-error` below must be
    // needed: an untyped (`any`) `data` or `sessionHandler` makes tsc fail with TS2578.
    const route = (augment: string) => `import { createApp, defineEventHandler } from 'h3'
import { createStorage } from 'unstorage'
import { UnstorageSessionStore, useSession } from 'nuxt-server-session/h3'
${augment}
const store = new UnstorageSessionStore(createStorage(), { ttl: 3600 })
export const app = createApp()

app.use(defineEventHandler(async (event) => {
  await useSession(event, { store, secret: process.env.SESSION_SECRET ?? '' })
  const session = event.context.sessionHandler
  session.update(data => ({ ...data, visits: (data.visits || 0) + 1 }))
  const visits: number | undefined = session.data.visits
  // @ts-expect-error visits is a number
  const wrong: string | undefined = session.data.visits
  // @ts-expect-error a key the augmentation does not declare
  session.update({ nope: 1 })
  // @ts-expect-error data is read-only
  session.data.visits = 2
  const again = await useSession(event)
  const same: number | undefined = again.data.visits
  return { visits, wrong, same }
}))
`
    const seedAugmentation = `
declare module 'nuxt-server-session' {
  interface SessionDataT {
    visits?: number
  }
}
`
    const tsconfig = (moduleResolution: 'NodeNext' | 'Bundler') => JSON.stringify({
      compilerOptions: { strict: true, noUncheckedIndexedAccess: true, target: 'ES2022', module: moduleResolution === 'NodeNext' ? 'NodeNext' : 'ESNext', moduleResolution, types: ['node'], skipLibCheck: true, noEmit: true },
      include: ['src'],
    })
    const apps: Record<string, Record<string, string>> = {
      // The seed's name, augmented beside the route that uses it.
      'types-seed': { 'src/server.ts': route(seedAugmentation) },
      // SessionData, augmented in a declaration file of its own, as the README shows it.
      'types-readme': { 'src/server.ts': route(''), 'src/types/session.d.ts': '' },
    }
    const omit = ['nuxt', 'nitropack', '@nuxt/schema', '@nuxt/nitro-server']
    let readmeAugmentation = ''

    beforeAll(async () => {
      const readme = await readFile(join(ROOT, 'README.md'), 'utf8')
      const section = readme.slice(readme.indexOf('\n### Typed session data\n'), readme.indexOf('\n### Devices in plain h3 apps\n'))
      readmeAugmentation = /```ts\n\/\/ src\/types\/session\.d\.ts\n([\s\S]*?)```/.exec(section)?.[1] ?? ''
      expect(readmeAugmentation).toContain('interface SessionData {')
      apps['types-readme']!['src/types/session.d.ts'] = readmeAugmentation
    })

    for (const name of Object.keys(apps)) {
      for (const resolution of ['NodeNext', 'Bundler'] as const) {
        it(`[nuxt-server-session] packed package: ${name === 'types-seed' ? 'SessionDataT beside the route' : 'SessionData in the README\'s .d.ts'} types event.context.sessionHandler.data under moduleResolution ${resolution}`, async () => {
          const app = await createApp(`${name}-${resolution}`, { ...apps[name], 'tsconfig.json': tsconfig(resolution) }, omit)
          expect(existsSync(join(app, 'node_modules/@nuxt/schema'))).toBe(false)
          expect(existsSync(join(app, 'node_modules/@nuxt/kit'))).toBe(true)
          await runOk('npx', ['--no', '--', 'tsc', '-p', 'tsconfig.json'], { cwd: app, env: cliEnv(), timeout: 60_000 })
        })
      }
    }

    it('[nuxt-server-session] packed package: without the augmentation, the same route fails tsc exactly where data.visits is used', async () => {
      const app = await createApp('types-control', { 'src/server.ts': route(''), 'tsconfig.json': tsconfig('NodeNext') }, omit)
      const result = await run('npx', ['--no', '--', 'tsc', '-p', 'tsconfig.json'], { cwd: app, env: cliEnv(), timeout: 60_000 })
      expect(result.code).not.toBe(0)
      // `visits` is unknown, so every line that reads it fails, and data is not `any`.
      expect(result.output).toMatch(/error TS2339: Property 'visits' does not exist on type 'Readonly<SessionData>'/)
      expect(result.output).not.toMatch(/TS2664/)
    })
  })
})
