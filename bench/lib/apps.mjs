// The apps (builds), the servers started from them, and the targets measured on each server.
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { readdir, readFile, writeFile } from 'node:fs/promises'
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
  'express': { kind: 'node', entry: 'server.mjs' },
}

export const SECRET = 'bench-secret-0123456789abcdefghijklmnopqrstuvwxyz'

const bare = { lazy: '/api/lazy', read: '/api/read', write: '/api/write' }
const ALL = ['lazy', 'read', 'write', 'first']
const SESSION = ['read', 'write', 'first']

/**
 * Servers in the order of a cycle. Each is one process of one build; its targets are measured
 * one after another while it runs. `group` names the baseline target of the same kind of app;
 * a baseline without a scenario stands in with its `lazy` route (the Express bare routes are
 * alike). Peers (`peer: true`) are left out of quick runs.
 */
export function servers(redisUrl) {
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
    { name: 'express', build: 'express', peer: true, env: { BENCH_EXPRESS_SECRET: SECRET, BENCH_REDIS_URL: redisUrl }, targets: [
      { id: 'express-baseline', label: 'Express 5, no session middleware', group: 'express', role: 'baseline', routes: bare, scenarios: ['lazy'] },
      { id: 'peer-express-session', label: 'peer: express-session + connect-redis', group: 'express', role: 'peer', peer: true, store: 'redis', redisPrefix: 'bench-express', routes: { read: '/api/session/read', write: '/api/session/write' }, scenarios: SESSION },
    ] },
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

/**
 * Builds every app that changed since its last build (nuxi build / nitropack build, cwd = the
 * app), one after another. Returns the seconds each build took (0 when reused).
 */
export async function buildAll({ redisUrl, force, log }) {
  const times = {}
  for (const [name, app] of Object.entries(BUILDS)) {
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
    const cli = app.kind === 'nuxt'
      ? [join(ROOT, 'node_modules/@nuxt/cli/bin/nuxi.mjs'), 'build']
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
