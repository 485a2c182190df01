// The apps (builds), the servers started from them, and the targets measured on each server.
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { copyFile, cp, mkdir, readdir, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { runOk } from '../../test/support/process.ts'

export const ROOT = fileURLToPath(new URL('../../', import.meta.url))
export const APPS = join(ROOT, 'bench/apps')

/** Everything measured in one benchmark run: one app per directory of bench/apps. */
export const BUILDS = {
  'baseline': { kind: 'nuxt', routes: '_nuxt-routes/bare' },
  'module-sqlite': { kind: 'nuxt', routes: '_nuxt-routes/session' },
  'module-memory': { kind: 'nuxt', routes: '_nuxt-routes/session' },
  'module-unstorage-redis': { kind: 'nuxt', routes: '_nuxt-routes/session', redisAtBuild: true },
  'nuxt-auth-utils': { kind: 'nuxt', routes: '_nuxt-routes/auth-utils' },
  'nitro-plain': { kind: 'nitro' },
  'nitro-module': { kind: 'nitro' },
  'nitro3-plain': { kind: 'nitro3' },
  'nitro3-module': { kind: 'nitro3' },
  'express': { kind: 'node', entry: 'server.mjs' },
  // Plain h3 apps: no build of their own; they import nuxt-server-session/h3 by its name, from
  // the package copy in bench/node_modules (see buildPackageCopy).
  'h3-v2': { kind: 'node', entry: 'server.mjs', usesPackage: true },
  'h3-v1': { kind: 'node', entry: 'server.mjs', usesPackage: true },
}

export const SECRET = 'bench-secret-0123456789abcdefghijklmnopqrstuvwxyz'

const bare = { lazy: '/api/lazy', read: '/api/read', write: '/api/write' }
const ALL = ['lazy', 'read', 'write', 'first']
const SESSION = ['read', 'write', 'first']

/**
 * Servers in the order of a cycle. Each is one process of one build; its targets are measured
 * one after another while it runs. `group` names the baseline target of the same kind of app;
 * a baseline without a scenario stands in with its `lazy` route (the Express bare routes are
 * alike). Peers (`peer: true`) are left out of quick runs. The PostgreSQL targets (`pgTable`:
 * the table each keeps its sessions in, dropped before and after its server runs) are there
 * when the benchmark's own PostgreSQL is (`postgresUrl`).
 */
export function servers(redisUrl, postgresUrl) {
  const postgres = table => ({ NUXT_SESSION_POSTGRES_URL: postgresUrl, NUXT_SESSION_POSTGRES_TABLE: table })
  return [
    { name: 'baseline', build: 'baseline', targets: [
      { id: 'baseline', label: 'Nuxt, no session module', group: 'nuxt', role: 'baseline', routes: bare, scenarios: ALL },
    ] },
    { name: 'module-sqlite', build: 'module-sqlite', targets: [
      { id: 'module-sqlite', label: 'Nuxt + module, zero config (SQLite)', group: 'nuxt', role: 'module', store: 'sqlite', routes: bare, scenarios: ALL },
    ] },
    { name: 'module-memory', build: 'module-memory', targets: [
      { id: 'module-memory', label: 'Nuxt + module, memory mount', group: 'nuxt', role: 'module', store: 'memory', routes: bare, scenarios: ALL },
    ] },
    { name: 'module-redis', build: 'module-sqlite', env: { NUXT_SESSION_REDIS_URL: redisUrl, NUXT_SESSION_REDIS_PREFIX: 'bench-nss' }, targets: [
      { id: 'module-redis', label: 'Nuxt + module, RedisSessionStore (NUXT_SESSION_REDIS_URL)', group: 'nuxt', role: 'module', store: 'redis', redisPrefix: 'bench-nss', routes: bare, scenarios: ALL },
    ] },
    ...(postgresUrl
      ? [{ name: 'module-postgres', build: 'module-sqlite', env: postgres('bench_nuxt'), targets: [
          { id: 'module-postgres', label: 'Nuxt + module, PostgresSessionStore (NUXT_SESSION_POSTGRES_URL)', group: 'nuxt', role: 'module', store: 'postgres', pgTable: 'bench_nuxt', routes: bare, scenarios: ALL },
        ] }]
      : []),
    { name: 'module-unstorage-redis', build: 'module-unstorage-redis', targets: [
      { id: 'module-unstorage-redis', label: 'Nuxt + module, unstorage redis mount', group: 'nuxt', role: 'module', store: 'unstorage-redis', redisPrefix: 'bench-nss-unstorage', routes: bare, scenarios: ALL },
    ] },
    { name: 'nuxt-auth-utils', build: 'nuxt-auth-utils', peer: true, env: { NUXT_SESSION_PASSWORD: SECRET }, targets: [
      { id: 'peer-nuxt-auth-utils', label: 'peer: nuxt-auth-utils (sealed cookie)', group: 'nuxt', role: 'peer', peer: true, routes: bare, scenarios: SESSION },
    ] },
    { name: 'nitro-plain', build: 'nitro-plain', env: { BENCH_H3_PASSWORD: SECRET, BENCH_SCAYLE_SECRET: SECRET, BENCH_REDIS_URL: redisUrl }, targets: [
      { id: 'nitro-baseline', label: 'Nitro, no session module', group: 'nitro', role: 'baseline', routes: bare, scenarios: ALL },
      { id: 'peer-h3-session', label: 'peer: h3 useSession (sealed cookie), Nitro', group: 'nitro', role: 'peer', peer: true, routes: { read: '/api/h3/read', write: '/api/h3/write' }, scenarios: SESSION },
      { id: 'peer-scayle-h3-session', label: 'peer: @scayle/h3-session + unstorage redis, Nitro', group: 'nitro', role: 'peer', peer: true, store: 'unstorage-redis', redisPrefix: 'bench-scayle', routes: { read: '/api/scayle/read', write: '/api/scayle/write' }, scenarios: SESSION },
    ] },
    { name: 'nitro-module', build: 'nitro-module', targets: [
      { id: 'nitro-module-sqlite', label: 'Nitro + module, zero config (SQLite)', group: 'nitro', role: 'module', store: 'sqlite', routes: bare, scenarios: ALL },
    ] },
    { name: 'nitro3-plain', build: 'nitro3-plain', targets: [
      { id: 'nitro3-baseline', label: 'Nitro 3, no session module', group: 'nitro3', role: 'baseline', routes: bare, scenarios: ALL },
    ] },
    { name: 'nitro3-module', build: 'nitro3-module', targets: [
      { id: 'nitro3-module-sqlite', label: 'Nitro 3 + module, zero config (SQLite)', group: 'nitro3', role: 'module', store: 'sqlite', routes: bare, scenarios: ALL },
    ] },
    { name: 'nitro3-module-redis', build: 'nitro3-module', env: { NUXT_SESSION_REDIS_URL: redisUrl, NUXT_SESSION_REDIS_PREFIX: 'bench-nss-nitro3' }, targets: [
      { id: 'nitro3-module-redis', label: 'Nitro 3 + module, RedisSessionStore (NUXT_SESSION_REDIS_URL)', group: 'nitro3', role: 'module', store: 'redis', redisPrefix: 'bench-nss-nitro3', routes: bare, scenarios: ALL },
    ] },
    // Without the lazy route, which never reaches the store (module-postgres measures it, and that
    // it runs no statement): the full run's time budget is better spent elsewhere.
    ...(postgresUrl
      ? [{ name: 'nitro3-module-postgres', build: 'nitro3-module', env: postgres('bench_nitro3'), targets: [
          { id: 'nitro3-module-postgres', label: 'Nitro 3 + module, PostgresSessionStore (NUXT_SESSION_POSTGRES_URL)', group: 'nitro3', role: 'module', store: 'postgres', pgTable: 'bench_nitro3', routes: bare, scenarios: SESSION },
        ] }]
      : []),
    ...h3Servers('h3-v2', 'h3v2', 'h3 2', 'serve()', postgresUrl),
    ...h3Servers('h3-v1', 'h3v1', 'h3 1', 'node:http'),
    { name: 'express', build: 'express', peer: true, env: { BENCH_EXPRESS_SECRET: SECRET, BENCH_REDIS_URL: redisUrl }, targets: [
      { id: 'express-baseline', label: 'Express 5, no session middleware', group: 'express', role: 'baseline', routes: bare, scenarios: ['lazy'] },
      { id: 'peer-express-session', label: 'peer: express-session + connect-redis', group: 'express', role: 'peer', peer: true, store: 'redis', redisPrefix: 'bench-express', routes: { read: '/api/session/read', write: '/api/session/write' }, scenarios: SESSION },
    ] },
  ]
}

/**
 * A plain h3 app (bench/apps/h3-v2, h3-v1) as three servers of one entry: the bare app, then
 * nuxt-server-session/h3 on a memory and on the SQLite store (BENCH_H3_STORE), and with
 * `postgresUrl` (h3 2 only) a fourth on PostgresSessionStore. All run with NODE_ENV=production,
 * as the built Nitro and Nuxt servers do. The PostgreSQL one leaves out the lazy route: the
 * app's /api/lazy never reaches the store, so it is the memory server's lazy route again, and
 * the full run's time budget is better spent elsewhere.
 */
function h3Servers(build, group, generation, via, postgresUrl) {
  const env = { NODE_ENV: 'production', BENCH_SESSION_SECRET: SECRET }
  return [
    { name: `${build}-bare`, build, env, targets: [
      { id: `${group}-baseline`, label: `plain ${generation} (${via}), no sessions`, group, role: 'baseline', routes: bare, scenarios: ALL },
    ] },
    { name: `${build}-memory`, build, env: { ...env, BENCH_H3_STORE: 'memory' }, targets: [
      { id: `${group}-memory`, label: `plain ${generation} + nuxt-server-session/h3, memory (createStorage())`, group, role: 'module', store: 'memory', routes: bare, scenarios: ALL },
    ] },
    { name: `${build}-sqlite`, build, env: { ...env, BENCH_H3_STORE: 'sqlite' }, targets: [
      { id: `${group}-sqlite`, label: `plain ${generation} + nuxt-server-session/h3, sessionSqliteDriver`, group, role: 'module', store: 'sqlite', routes: bare, scenarios: ALL },
    ] },
    ...(postgresUrl
      ? [{ name: `${build}-postgres`, build, env: { ...env, BENCH_H3_STORE: 'postgres', BENCH_POSTGRES_URL: postgresUrl, BENCH_POSTGRES_TABLE: `bench_${group}` }, targets: [
          { id: `${group}-postgres`, label: `plain ${generation} + nuxt-server-session/h3, PostgresSessionStore`, group, role: 'module', store: 'postgres', pgTable: `bench_${group}`, routes: bare, scenarios: SESSION },
        ] }]
      : []),
  ]
}

/** The server entry of a build. */
export function entryOf(build) {
  const app = BUILDS[build]
  return join(APPS, build, app.kind === 'node' ? app.entry : '.output/server/index.mjs')
}

async function filesUnder(dir) {
  const skip = new Set(['.nuxt', '.output', '.data', 'node_modules', '.nitro'])
  const out = []
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (skip.has(entry.name)) continue
    const path = join(dir, entry.name)
    if (entry.isDirectory()) out.push(...await filesUnder(path))
    else out.push(path)
  }
  return out.sort()
}

/** What a build depends on: its files, the shared routes, the module's source, the lockfile. */
async function buildHash(name, env) {
  const app = BUILDS[name]
  const files = [
    ...await filesUnder(join(APPS, name)),
    ...(app.routes ? await filesUnder(join(APPS, app.routes)) : []),
    ...(name.includes('module') ? await filesUnder(join(ROOT, 'src')) : []),
    join(ROOT, 'package-lock.json'),
  ]
  const hash = createHash('sha256')
  hash.update(JSON.stringify(env))
  for (const file of files) {
    hash.update(relative(ROOT, file))
    hash.update(await readFile(file))
  }
  return hash.digest('hex')
}

/** What the package's dist/ is built from: the sources, the build config, the manifest, the lockfile. */
async function distHash() {
  const files = [...await filesUnder(join(ROOT, 'src')), ...['build.config.ts', 'package.json', 'package-lock.json'].map(f => join(ROOT, f))]
  const hash = createHash('sha256')
  for (const file of files) {
    hash.update(relative(ROOT, file))
    hash.update(await readFile(file))
  }
  return hash.digest('hex')
}

/**
 * The package as an app that installed it sees it, for the apps that import the library by its
 * name (`usesPackage`): bench/node_modules/nuxt-server-session, the repo's package.json (its
 * exports) and a dist/ built by `nuxt-module-build build` (what `npm run build` runs) into it.
 * The benchmark's own copy, rebuilt when src/ changed, so that a build of the repo's dist/
 * meanwhile (`npm run build`, `dev:prepare`'s stub) cannot change or break a run.
 *
 * Built in a staging copy of the sources (bench/.tmp/package-build: src/, the manifest, the
 * build and TS configs, node_modules linked) with the builder's default outDir, then moved: with
 * `--outDir` elsewhere, nuxt-module-build writes the shared chunk's imports of dist/runtime
 * relative to the repo's own dist/ (a module.mjs that cannot load), and unbuild fails the build
 * when the repo has no dist/ (the manifest's exports then point at missing files).
 */
const PACKAGE_COPY = join(ROOT, 'bench/node_modules/nuxt-server-session')
const PACKAGE_STAGE = join(ROOT, 'bench/.tmp/package-build')

async function buildPackageCopy({ force, log }) {
  const hash = await distHash()
  const stamp = join(PACKAGE_COPY, 'bench-build.json')
  if (!force && existsSync(stamp) && existsSync(join(PACKAGE_COPY, 'dist/runtime/h3.js'))) {
    if (JSON.parse(await readFile(stamp, 'utf8')).hash === hash) return 0
  }
  log('build the package (nuxt-module-build build) into bench/node_modules/nuxt-server-session')
  const started = Date.now()
  await rm(PACKAGE_STAGE, { recursive: true, force: true })
  await mkdir(PACKAGE_STAGE, { recursive: true })
  await cp(join(ROOT, 'src'), join(PACKAGE_STAGE, 'src'), { recursive: true })
  for (const file of ['package.json', 'build.config.ts', 'tsconfig.json']) await copyFile(join(ROOT, file), join(PACKAGE_STAGE, file))
  await symlink(join(ROOT, 'node_modules'), join(PACKAGE_STAGE, 'node_modules'), 'dir')
  await runOk(process.execPath, [join(ROOT, 'node_modules/@nuxt/module-builder/dist/cli.mjs'), 'build'], { cwd: PACKAGE_STAGE, env: { ...cleanEnv(), NUXT_TELEMETRY_DISABLED: '1' }, timeout: 300_000 })
  await rm(PACKAGE_COPY, { recursive: true, force: true })
  await mkdir(PACKAGE_COPY, { recursive: true })
  await rename(join(PACKAGE_STAGE, 'dist'), join(PACKAGE_COPY, 'dist'))
  await rm(PACKAGE_STAGE, { recursive: true, force: true })
  await copyFile(join(ROOT, 'package.json'), join(PACKAGE_COPY, 'package.json'))
  await writeFile(stamp, JSON.stringify({ hash, builtAt: new Date().toISOString() }))
  return (Date.now() - started) / 1000
}

/**
 * Builds every app that changed since its last build (nuxi build / nitropack build / nitro
 * build, cwd = the app), one after another, and the package copy for the apps that import it.
 * With `only` (a set of build names: what a `--only` run starts), the others are left as they
 * are. Returns the seconds each build took (0 when reused).
 */
export async function buildAll({ redisUrl, force, log, only }) {
  const times = {}
  const wanted = Object.entries(BUILDS).filter(([name]) => !only || only.has(name))
  if (wanted.some(([, app]) => app.usesPackage)) times.package = await buildPackageCopy({ force, log })
  for (const [name, app] of wanted) {
    if (app.kind === 'node') continue
    const dir = join(APPS, name)
    const env = app.redisAtBuild ? { BENCH_REDIS_URL: redisUrl } : {}
    const hash = await buildHash(name, env)
    const stamp = join(dir, '.output/bench-build.json')
    if (!force && existsSync(stamp) && existsSync(entryOf(name))) {
      const previous = JSON.parse(await readFile(stamp, 'utf8'))
      if (previous.hash === hash) {
        times[name] = 0
        continue
      }
    }
    log(`build ${name}`)
    const started = Date.now()
    // Nitro 3 (`nitro build` of the nitro package) bundles the h3 2 and unstorage it depends on,
    // node_modules/nitro/node_modules/{h3,unstorage}, not the root h3 1.
    const cli = app.kind === 'nuxt'
      ? [join(ROOT, 'node_modules/@nuxt/cli/bin/nuxi.mjs'), 'build']
      : app.kind === 'nitro3'
        ? [join(ROOT, 'node_modules/nitro/dist/cli/index.mjs'), 'build']
        : [join(ROOT, 'node_modules/nitropack/dist/cli/index.mjs'), 'build']
    await runOk(process.execPath, cli, { cwd: dir, env: { ...cleanEnv(), NUXT_TELEMETRY_DISABLED: '1', ...env }, timeout: 300_000 })
    times[name] = (Date.now() - started) / 1000
    await writeFile(stamp, JSON.stringify({ hash, builtAt: new Date().toISOString() }))
  }
  return times
}

/** This process's environment without what changes how an app builds or starts. */
export function cleanEnv() {
  const env = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (value === undefined || /^(?:NODE_ENV|PORT|HOST|NODE_OPTIONS|NUXT_.*|NITRO_.*|BENCH_.*|npm_.*)$/.test(key)) continue
    env[key] = value
  }
  return env
}
