/**
 * Redis for the RedisSessionStore tests: private `redis-server` processes (a single node for the
 * destructive checks, a 3-master Cluster) on free loopback ports, and key helpers (SCAN, never
 * KEYS) that work on a single node and on a Cluster. Every wait is bounded in time and count.
 */
import { execFile, spawn, spawnSync } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Cluster } from 'ioredis'
import type { Redis } from 'ioredis'

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))

/** Whether `redis-server` and `redis-cli` can be run here; `reason` says why not. */
export function redisBinaries(): { ok: boolean, reason: string } {
  for (const bin of ['redis-server', 'redis-cli']) {
    const result = spawnSync(bin, ['--version'], { encoding: 'utf8', timeout: 10_000 })
    if (result.error || result.status !== 0) {
      return { ok: false, reason: `${bin} is not available (${result.error?.message ?? `exit ${result.status}`})` }
    }
  }
  return { ok: true, reason: '' }
}

/** Whether nothing listens on 127.0.0.1:`port` (we can bind it). */
function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer()
    server.once('error', () => resolve(false))
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)))
  })
}

/**
 * A free loopback port whose cluster bus port (port + 10000) is free too, and not in `avoid`.
 * At most 200 tries.
 */
export async function freePort(avoid: Iterable<number> = []): Promise<number> {
  const taken = new Set(avoid)
  for (let tries = 0; tries < 200; tries++) {
    const port = 20_000 + Math.floor(Math.random() * 35_000)
    if (taken.has(port) || taken.has(port + 10_000) || taken.has(port - 10_000)) continue
    if (await portFree(port) && await portFree(port + 10_000)) return port
  }
  throw new Error('no free loopback port pair found in 200 tries')
}

/** One PING over a raw socket: `true` when the server answers +PONG within `ms`. */
function ping(port: number, ms = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    const done = (ok: boolean) => {
      clearTimeout(timer)
      socket.destroy()
      resolve(ok)
    }
    const timer = setTimeout(() => done(false), ms)
    socket.once('error', () => done(false))
    socket.once('connect', () => socket.write('PING\r\n'))
    socket.once('data', chunk => done(chunk.toString().startsWith('+PONG')))
  })
}

/** A `redis-server` child process. */
export interface RedisProcess {
  port: number
  child: ChildProcess
  output: () => string
  stop: () => Promise<void>
}

/** Every redis-server started here and still running: killed if this process exits first. */
const running = new Set<ChildProcess>()
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL')
})

async function stopChild(child: ChildProcess): Promise<void> {
  const exited = () => child.exitCode !== null || child.signalCode !== null
  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    if (exited()) return
    child.kill(signal)
    const deadline = Date.now() + 5000
    while (!exited() && Date.now() < deadline) await sleep(50)
  }
}

/**
 * Starts `redis-server` on 127.0.0.1:`port` with no persistence (plus `extra` arguments), and
 * resolves once it answers PING (at most `timeout` ms).
 */
export async function startRedisServer(port: number, extra: string[] = [], { timeout = 10_000, cwd }: { timeout?: number, cwd?: string } = {}): Promise<RedisProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', ...extra], {
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  running.add(child)
  child.once('exit', () => running.delete(child))
  let output = ''
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk))
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk))
  let spawnError: Error | undefined
  child.once('error', (error) => {
    spawnError = error
  })
  const server: RedisProcess = { port, child, output: () => output, stop: () => stopChild(child) }
  const deadline = Date.now() + timeout
  while (Date.now() < deadline) {
    if (spawnError) throw new Error(`redis-server could not be started: ${spawnError.message}`)
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`redis-server on port ${port} exited (${child.exitCode ?? child.signalCode}):\n${output}`)
    }
    if (await ping(port)) return server
    await sleep(50)
  }
  await server.stop()
  throw new Error(`redis-server on port ${port} did not answer PING within ${timeout} ms:\n${output}`)
}

/** Runs a command to its end, killed after `timeout` ms; rejects with its output on failure. */
export function runCommand(command: string, args: string[], timeout = 30_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { timeout, encoding: 'utf8' }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${command} ${args.join(' ')} failed: ${error.message}\n${stdout}${stderr}`))
      else resolve(stdout + stderr)
    })
  })
}

/** A local Redis Cluster of three masters (no replicas) in a temporary directory. */
export interface RedisClusterProcess {
  ports: number[]
  dir: string
  nodes: RedisProcess[]
  stop: () => Promise<void>
}

/**
 * Starts three cluster-enabled `redis-server`s on free loopback ports, joins them with
 * `redis-cli --cluster create`, and waits (at most `timeout` ms) until every node reports
 * `cluster_state:ok`. On any failure, everything started is stopped and removed.
 */
export async function startRedisCluster({ timeout = 20_000 }: { timeout?: number } = {}): Promise<RedisClusterProcess> {
  const dir = await mkdtemp(join(tmpdir(), 'nss-redis-cluster-'))
  const nodes: RedisProcess[] = []
  const ports: number[] = []
  const stop = async () => {
    await Promise.all(nodes.map(node => node.stop()))
    await rm(dir, { recursive: true, force: true })
  }
  try {
    for (let i = 0; i < 3; i++) {
      const port = await freePort(ports)
      ports.push(port)
      nodes.push(await startRedisServer(port, [
        '--cluster-enabled', 'yes',
        '--cluster-config-file', join(dir, `nodes-${port}.conf`),
        '--cluster-node-timeout', '2000',
        '--dir', dir,
      ], { cwd: dir }))
    }
    await runCommand('redis-cli', ['--cluster', 'create', ...ports.map(p => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'], 30_000)
    const deadline = Date.now() + timeout
    for (;;) {
      const infos = await Promise.all(ports.map(p => runCommand('redis-cli', ['-h', '127.0.0.1', '-p', String(p), 'cluster', 'info'], 5000).catch(() => '')))
      if (infos.every(info => info.includes('cluster_state:ok'))) break
      if (Date.now() > deadline) throw new Error(`cluster not ok within ${timeout} ms:\n${infos.join('\n')}`)
      await sleep(200)
    }
    return { ports, dir, nodes, stop }
  }
  catch (error) {
    await stop()
    throw error
  }
}

/** The masters of a Cluster, or the client itself. */
function nodesOf(client: Redis | Cluster): Redis[] {
  return client instanceof Cluster ? client.nodes('master') : [client]
}

/** Every key matching `pattern`, on every master (SCAN, never KEYS; at most 10 000 pages a node). */
export async function scanKeys(client: Redis | Cluster, pattern: string): Promise<string[]> {
  const keys = new Set<string>()
  for (const node of nodesOf(client)) {
    let cursor = '0'
    let pages = 0
    do {
      const [next, batch] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000)
      cursor = next
      for (const key of batch) keys.add(key)
      if (++pages > 10_000) throw new Error('SCAN did not finish in 10 000 pages')
    } while (cursor !== '0')
  }
  return [...keys]
}

/** Deletes every key matching `pattern` (SCAN + DEL, one key at a time so that it works on a Cluster). */
export async function deleteKeys(client: Redis | Cluster, pattern: string): Promise<number> {
  const keys = await scanKeys(client, pattern)
  for (const key of keys) await client.del(key)
  return keys.length
}

/**
 * `INFO commandstats` as calls per command (lower-case names; subcommands as `config|resetstat`),
 * without the commands named in `exclude` (and their subcommands). Redis counts the commands a
 * Lua script runs (`redis.call`) here too, under their own names.
 */
export async function commandCalls(client: Redis, exclude: string[] = ['info', 'config']): Promise<Record<string, number>> {
  const info = await client.info('commandstats')
  const calls: Record<string, number> = {}
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    const name = match[1]!.toLowerCase()
    if (!exclude.includes(name.split('|')[0]!)) calls[name] = Number(match[2])
  }
  return calls
}

/**
 * Records the name of every command `client` sends (one entry per request to Redis: a round
 * trip unless pipelined), by wrapping its `sendCommand`. `take()` returns and clears the list.
 */
export function recordCommands(client: Redis): { take: () => string[] } {
  let sent: string[] = []
  const send = client.sendCommand.bind(client)
  client.sendCommand = (command, stream) => {
    sent.push(command.name.toLowerCase())
    return send(command, stream)
  }
  return {
    take: () => {
      const taken = sent
      sent = []
      return taken
    },
  }
}
