/**
 * Measures the two well-kept PostgreSQL clients for Node, `pg` (node-postgres) and `postgres`
 * (Postgres.js), on the session store's own statements: a read by key and a write that merges
 * top-level keys into a `jsonb` column. Reports operations per second and this process's CPU
 * time per operation (the client's cost on the event loop), for each client, on the same table.
 *
 *   npm run bench:pg-clients   # this process on core 1 (taskset), its private PostgreSQL on core 0
 *
 * Starts a private PostgreSQL with default (durable) settings, or uses NSS_BENCH_POSTGRES_URL
 * (in a schema of its own, dropped at the end). Bounded in count.
 */
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import postgres from 'postgres'
import { startPostgresServer } from '../test/support/postgres.ts'
import { freePort } from '../test/support/redis.ts'

const server = process.env.NSS_BENCH_POSTGRES_URL ? undefined : await startPostgresServer(await freePort())
// The server (and its backends, forked from it) on core 0; this process is on core 1.
if (server) spawnSync('taskset', ['-acp', '0', String(server.child.pid)], { stdio: 'ignore' })
const URL_ = process.env.NSS_BENCH_POSTGRES_URL || server!.url
const OPS = Number(process.env.OPS || 20_000)
const CONCURRENCY = 32
const POOL = 10
const ROWS = 1000
const schema = `nss_pgclients_${randomBytes(4).toString('hex')}`
const table = `"${schema}".sessions`
const READ = `SELECT created_at, touched_at, expires_at, user_id, data::text AS data FROM ${table} WHERE key = $1`
const WRITE = `UPDATE ${table} SET data = (data - $2::text[]) || $3::jsonb, touched_at = $4, expires_at = $5 WHERE key = $1 AND expires_at > $6`

const keys = Array.from({ length: ROWS }, () => randomBytes(32).toString('hex'))

interface Client { read: (key: string) => Promise<unknown>, write: (key: string, n: number) => Promise<unknown>, end: () => Promise<void> }

function pgClient(): Client {
  const pool = new pg.Pool({ connectionString: URL_, max: POOL })
  return {
    read: key => pool.query({ name: 'read', text: READ, values: [key] }),
    write: (key, n) => pool.query({ name: 'write', text: WRITE, values: [key, ['gone'], JSON.stringify({ count: n }), Date.now(), Date.now() + 3_600_000, Date.now()] }),
    end: () => pool.end(),
  }
}

function postgresClient(): Client {
  const sql = postgres(URL_, { max: POOL, onnotice: () => {} })
  return {
    read: key => sql.unsafe(READ, [key], { prepare: true }),
    write: (key, n) => sql.unsafe(WRITE, [key, ['gone'], JSON.stringify({ count: n }), Date.now(), Date.now() + 3_600_000, Date.now()] as never, { prepare: true }),
    end: () => sql.end({ timeout: 5 }),
  }
}

async function run(op: (i: number) => Promise<unknown>): Promise<{ perSecond: number, cpuUs: number }> {
  let next = 0
  const cpu = process.cpuUsage()
  const start = performance.now()
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < OPS) await op(next++)
  }))
  const ms = performance.now() - start
  const used = process.cpuUsage(cpu)
  return { perSecond: Math.round(OPS / (ms / 1000)), cpuUs: Math.round(((used.user + used.system) / OPS) * 10) / 10 }
}

const admin = new pg.Client({ connectionString: URL_ })
await admin.connect()
await admin.query(`CREATE SCHEMA ${schema}`)
try {
  await admin.query(`CREATE TABLE ${table} (key text PRIMARY KEY, created_at bigint NOT NULL, touched_at bigint NOT NULL, expires_at bigint NOT NULL, user_id text, data jsonb NOT NULL)`)
  await admin.query(`INSERT INTO ${table} SELECT k, 0, 0, $2, NULL, '{"user":"alice","count":0,"cart":[1,2,3]}' FROM unnest($1::text[]) AS k`, [keys, Date.now() + 3_600_000])
  const results: Record<string, unknown>[] = []
  for (const cycle of [1, 2]) {
    for (const [name, make] of [['pg', pgClient], ['postgres', postgresClient]] as const) {
      const client = make()
      await run(i => client.read(keys[i % ROWS]!)) // warm-up: connections, prepared statements, JIT
      const read = await run(i => client.read(keys[i % ROWS]!))
      const write = await run(i => client.write(keys[i % ROWS]!, i))
      await client.end()
      results.push({ cycle, 'client': name, 'read/s': read.perSecond, 'read CPU µs': read.cpuUs, 'write/s': write.perSecond, 'write CPU µs': write.cpuUs })
    }
  }
  console.table(results)
}
finally {
  await admin.query(`DROP SCHEMA ${schema} CASCADE`)
  await admin.end()
  await server?.stop()
}
