import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { getRandomPort } from 'get-port-please'
import { baseEnv, run } from './process'

/**
 * `wrangler dev` and `wrangler kv` run locally and offline for the Cloudflare Workers suites: no
 * account, no telemetry, no update check, no download of the `Request.cf` object, and every file
 * wrangler writes for itself (logs, dev registry, config) under a directory of the test.
 */

/** wrangler's bin script (the package exports only its API), the one `npx wrangler` runs. */
const WRANGLER = join(dirname(createRequire(import.meta.url).resolve('wrangler')), '../bin/wrangler.js')

const running = new Set<ChildProcess>()

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))

/** `baseEnv()` without any Cloudflare account or wrangler setting, plus what keeps wrangler local and quiet. */
export function wranglerEnv(home: string): Record<string, string> {
  const env = Object.fromEntries(Object.entries(baseEnv()).filter(([key]) => !/^(?:CLOUDFLARE_|CF_|WRANGLER_)/.test(key)))
  return {
    ...env,
    WRANGLER_SEND_METRICS: 'false',
    WRANGLER_SEND_ERROR_REPORTS: 'false',
    // The banner is what checks npm for a newer wrangler.
    WRANGLER_HIDE_BANNER: 'true',
    CLOUDFLARE_CF_FETCH_ENABLED: 'false',
    WRANGLER_CI_DISABLE_CONFIG_WATCHING: 'true',
    WRANGLER_LOG_PATH: join(home, 'logs'),
    WRANGLER_REGISTRY_PATH: join(home, 'registry'),
    CLOUDFLARE_DEV_REGISTRY_PATH: join(home, 'registry'),
    XDG_CONFIG_HOME: join(home, 'config'),
    NO_COLOR: '1',
    FORCE_COLOR: '0',
  }
}

export interface WranglerDev {
  url: string
  /** stdout and stderr so far: wrangler's own lines and the Worker's console. */
  output: () => string
  stop: () => Promise<void>
}

export interface WranglerDevOptions {
  /** The wrangler config file; `.dev.vars` beside it holds the Worker's local secrets. */
  config: string
  /** Where local KV (and the rest of the local state) is kept. */
  persistTo: string
  /** See `wranglerEnv`. */
  home: string
  /** Worker vars given with `--var`, added to those of the config and `.dev.vars`. */
  vars?: Record<string, string>
  /** How long wrangler may take to answer, in ms. */
  timeout?: number
}

async function waitForExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return true
  let timer: ReturnType<typeof setTimeout> | undefined
  try {
    return await Promise.race([once(child, 'exit').then(() => true), new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), ms)
    })])
  }
  finally {
    clearTimeout(timer)
  }
}

/** Signals wrangler's process group, which holds the workerd it started too. */
function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    process.kill(-child.pid!, signal)
  }
  catch {
    // The group is gone already.
  }
}

async function stop(child: ChildProcess): Promise<void> {
  signalGroup(child, 'SIGTERM')
  if (!await waitForExit(child, 5000)) {
    signalGroup(child, 'SIGKILL')
    await waitForExit(child, 5000)
  }
  // workerd may outlive wrangler by a moment.
  signalGroup(child, 'SIGKILL')
  running.delete(child)
}

/** Stops every `wrangler dev` started here that is still running. */
export async function stopAllWrangler(): Promise<void> {
  await Promise.all([...running].map(stop))
}

/**
 * Runs `wrangler dev --local` on a free loopback port and resolves once the Worker answers HTTP
 * (any status). Rejects with wrangler's output if it exits first or does not answer in time.
 */
export async function startWrangler({ config, persistTo, home, vars = {}, timeout = 60_000 }: WranglerDevOptions): Promise<WranglerDev> {
  const port = await getRandomPort('127.0.0.1')
  const inspectorPort = await getRandomPort('127.0.0.1')
  const url = `http://127.0.0.1:${port}`
  const args = [
    WRANGLER, 'dev', '--config', config, '--local', '--ip', '127.0.0.1', '--port', String(port),
    '--inspector-port', String(inspectorPort), '--persist-to', persistTo, '--show-interactive-dev-session=false',
    ...Object.entries(vars).flatMap(([key, value]) => ['--var', `${key}:${value}`]),
  ]
  // A group of its own, so that stopping it also stops workerd.
  const child = spawn(process.execPath, args, { cwd: dirname(config), env: wranglerEnv(home), stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  running.add(child)
  let output = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk))
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk))
  const dev: WranglerDev = { url, output: () => output, stop: () => stop(child) }
  const deadline = Date.now() + timeout
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      await stop(child)
      throw new Error(`wrangler dev exited (${child.exitCode ?? child.signalCode}) before answering:\n${output}`)
    }
    try {
      await fetch(url, { signal: AbortSignal.timeout(2000), redirect: 'manual' })
      return dev
    }
    catch {
      await sleep(200)
    }
  }
  await stop(child)
  throw new Error(`wrangler dev did not answer on ${url} within ${timeout} ms:\n${output}`)
}

/** The keys of the local KV namespace bound as `binding`, as `wrangler kv key list --local` shows them. */
export async function listLocalKv({ config, persistTo, home, binding }: { config: string, persistTo: string, home: string, binding: string }): Promise<{ name: string, expiration?: number }[]> {
  const result = await run(process.execPath, [WRANGLER, 'kv', 'key', 'list', '--binding', binding, '--local', '--persist-to', persistTo, '--config', config], { cwd: dirname(config), env: wranglerEnv(home), timeout: 30_000 })
  if (result.code !== 0) throw new Error(`wrangler kv key list exited with ${result.code ?? result.signal}:\n${result.output}`)
  return JSON.parse(result.output.slice(result.output.indexOf('['), result.output.lastIndexOf(']') + 1))
}
