// The benchmark's own Redis: a redis-server child process on a free loopback port, without
// persistence, so that CONFIG RESETSTAT and INFO commandstats see only the benchmark's traffic.
// The shared Redis on 127.0.0.1:6379 is never touched.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { getPort } from 'get-port-please'
import { Redis } from 'ioredis'

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

/** Commands the benchmark itself sends; never counted as the app's. */
const OWN = new Set(['config', 'info', 'scan', 'unlink', 'dbsize', 'monitor', 'ping', 'client', 'hello', 'select', 'quit'])

export async function startRedis() {
  // A stable preferred port keeps the unstorage-redis build (whose URL is frozen in) cacheable.
  const port = await getPort({ host: '127.0.0.1', port: 16391, portRange: [16391, 16420], random: false })
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning'], { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.setEncoding('utf8').on('data', c => (output += c))
  child.stderr.setEncoding('utf8').on('data', c => (output += c))
  const url = `redis://127.0.0.1:${port}`
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null })
  client.on('error', () => {})
  const deadline = Date.now() + 10_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`redis-server exited:\n${output}`)
    try {
      await client.connect()
      await client.ping()
      break
    }
    catch {
      if (Date.now() > deadline) throw new Error(`redis-server did not answer on ${url}:\n${output}`)
      client.disconnect()
      await sleep(100)
    }
  }
  const version = (await client.info('server')).match(/redis_version:(\S+)/)?.[1]

  return {
    url,
    port,
    version,
    pid: child.pid,
    async resetStats() {
      await client.config('RESETSTAT')
    },
    /** Calls per command since the last reset, the benchmark's own commands left out. */
    async commandStats() {
      const stats = {}
      for (const line of (await client.info('commandstats')).split('\n')) {
        const m = line.match(/^cmdstat_([^:]+):calls=(\d+)/)
        if (m && !OWN.has(m[1].split('|')[0])) stats[m[1]] = Number(m[2])
      }
      return stats
    },
    async memory() {
      const info = await client.info('memory')
      return Number(info.match(/used_memory:(\d+)/)?.[1] ?? 0)
    },
    async countKeys(prefix) {
      return (await this.keys(prefix)).length
    },
    async keys(prefix, limit = 2_000_000) {
      const found = []
      let cursor = '0'
      for (let i = 0; i < 100_000; i++) {
        const [next, batch] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 5000)
        found.push(...batch)
        cursor = next
        if (cursor === '0' || found.length >= limit) break
      }
      return found
    },
    /** Deletes the keys under `prefix` (never FLUSHALL). */
    async deletePrefix(prefix) {
      const keys = await this.keys(prefix)
      for (let i = 0; i < keys.length; i += 1000) await client.unlink(...keys.slice(i, i + 1000))
      return keys.length
    },
    /**
     * Runs `fn` with MONITOR on and counts what the app sent: commands from clients (round trips,
     * each one a command the app sent) and commands run inside Lua scripts, by name.
     */
    async monitor(fn) {
      const monitor = await client.duplicate().monitor()
      const fromClients = {}
      const inScripts = {}
      monitor.on('monitor', (_time, args, source) => {
        const name = String(args[0]).toLowerCase()
        if (OWN.has(name)) return
        const bucket = source === 'lua' ? inScripts : fromClients
        bucket[name] = (bucket[name] || 0) + 1
      })
      try {
        const result = await fn()
        await sleep(300)
        return { result, fromClients, inScripts }
      }
      finally {
        monitor.disconnect()
      }
    },
    async stop() {
      client.disconnect()
      if (child.exitCode === null) {
        child.kill('SIGTERM')
        await Promise.race([once(child, 'exit'), sleep(5000)])
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
      }
    },
  }
}
