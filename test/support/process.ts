import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { getRandomPort } from 'get-port-please'

/**
 * Child processes for the e2e suites that run a built server (`.output/server/index.mjs`) or a
 * CLI (npm, nuxi, nitropack). Every wait is bounded, and every process started here can be
 * stopped with `stopAll()` in afterAll.
 */

const running = new Set<ChildProcess>()

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))

/** `promise`, or `'timeout'` after `ms`, without leaving the timer behind. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: ReturnType<typeof setTimeout> | undefined
  try {
    return await Promise.race([promise, new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), ms)
    })])
  }
  finally {
    clearTimeout(timer)
  }
}

/**
 * The environment of this process without what would change how a server starts: the mode
 * (vitest sets NODE_ENV=test), the session and Nitro env overrides, and the listen address.
 * A server started with it sees what `node .output/server/index.mjs` sees on a fresh shell.
 */
export function baseEnv(): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (value === undefined) continue
    if (/^(?:NODE_ENV|PORT|HOST|NODE_OPTIONS|VITEST.*|NUXT_.*|NITRO_.*)$/.test(key)) continue
    env[key] = value
  }
  return env
}

async function waitForExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return true
  return await within(once(child, 'exit'), ms) !== 'timeout'
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGTERM')
    if (!await waitForExit(child, 5000)) {
      child.kill('SIGKILL')
      await waitForExit(child, 5000)
    }
  }
  running.delete(child)
}

/** Stops every process started by this module that is still running. */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map(stop))
}

function track(child: ChildProcess): () => string {
  running.add(child)
  child.once('exit', () => running.delete(child))
  let output = ''
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk))
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk))
  return () => output
}

export interface ServerProcess {
  url: string
  port: number
  child: ChildProcess
  /** stdout and stderr so far. */
  output: () => string
  stop: () => Promise<void>
}

export interface StartOptions {
  cwd: string
  /** Added to `baseEnv()`, after PORT and HOST. */
  env?: Record<string, string>
  /** How long the server may take to answer, in ms. */
  timeout?: number
  /**
   * The program and its arguments placed before the entry, for another runtime
   * (`['/path/to/bun']`, `['/path/to/deno', 'run', '-A']`); the Node that runs vitest by default.
   */
  command?: string[]
  /** The port to listen on, for a server told its address otherwise than by PORT (which is set too); a free one by default. */
  port?: number
}

/**
 * Runs a built Nitro/Nuxt server entry with the Node that runs vitest (or `command`), on a free loopback port,
 * and resolves once it answers HTTP (any status). Rejects with its output if it exits first or
 * does not answer in time.
 */
export async function startServer(entry: string, { cwd, env = {}, timeout = 20_000, command = [process.execPath], port: wanted }: StartOptions): Promise<ServerProcess> {
  const port = wanted ?? await getRandomPort('127.0.0.1')
  const url = `http://127.0.0.1:${port}`
  const [program, ...args] = command
  const child = spawn(program!, [...args, entry], {
    cwd,
    env: { ...baseEnv(), PORT: String(port), HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const output = track(child)
  const server: ServerProcess = { url, port, child, output, stop: () => stop(child) }
  const deadline = Date.now() + timeout
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`server exited (${child.exitCode ?? child.signalCode}) before answering:\n${output()}`)
    }
    try {
      await fetch(url, { signal: AbortSignal.timeout(1000), redirect: 'manual' })
      return server
    }
    catch {
      await sleep(100)
    }
  }
  await stop(child)
  throw new Error(`server did not answer on ${url} within ${timeout} ms:\n${output()}`)
}

export interface ExitResult {
  code: number | null
  signal: NodeJS.Signals | null
  output: string
}

/** Runs a command to its end (killed after `timeout` ms) and returns its exit status and output. */
export async function run(command: string, args: string[], { cwd, env, timeout = 60_000 }: { cwd: string, env?: Record<string, string>, timeout?: number }): Promise<ExitResult> {
  const child = spawn(command, args, { cwd, env: env ?? baseEnv(), stdio: ['ignore', 'pipe', 'pipe'] })
  const output = track(child)
  // 'close' comes after the process ended and its output was read to the end.
  const closed = new Promise<Error | undefined>((resolve) => {
    child.once('close', () => resolve(undefined))
    child.once('error', resolve)
  })
  const result = await within(closed, timeout)
  if (result === 'timeout') {
    await stop(child)
    throw new Error(`${command} ${args.join(' ')} did not finish within ${timeout} ms:\n${output()}`)
  }
  if (result) throw result
  return { code: child.exitCode, signal: child.signalCode, output: output() }
}

/** `run`, and rejects with the output when the command fails. */
export async function runOk(command: string, args: string[], options: { cwd: string, env?: Record<string, string>, timeout?: number }): Promise<string> {
  const result = await run(command, args, options)
  if (result.code !== 0) throw new Error(`${command} ${args.join(' ')} exited with ${result.code ?? result.signal}:\n${result.output}`)
  return result.output
}

/** Sends SIGTERM and resolves to whether the process exited by itself within `ms` (a graceful shutdown that leaves nothing open). */
export async function exitsOnSigterm(server: ServerProcess, ms = 10_000): Promise<boolean> {
  server.child.kill('SIGTERM')
  const exited = await waitForExit(server.child, ms)
  if (!exited) await server.stop()
  return exited
}
