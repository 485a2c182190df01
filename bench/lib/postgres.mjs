// The benchmark's own PostgreSQL: `startPostgresServer` (test/support/postgres.ts: initdb into a
// temporary directory, 127.0.0.1 only, a free port; as root it runs as the postgres user), never
// the system's server on 5432. Its durability settings are PostgreSQL's defaults (fsync,
// synchronous_commit and full_page_writes on, so that every write waits for its WAL flush): the
// benchmark measures what users run. The one setting added is pg_stat_statements, preloaded, which
// counts each statement the app runs (shared memory, counted when the statement ends, so exact
// right after a run); without the extension installed the targets still run, uncounted.
//
// The apps log in as their own role (`nss_app`, owner of the `nss_bench` database, where the
// module creates its table as a user's app does); the benchmark uses the `postgres` superuser, so
// that the statements of the app's role in its database are the app's only.
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { getPort } from 'get-port-please'
import pg from 'pg'
import { postgresBinDir, startPostgresServer } from '../../test/support/postgres.ts'

const APP_ROLE = 'nss_app'
const DATABASE = 'nss_bench'

/** The settings shown in the results (as the running server reports them). */
const SHOWN = ['server_version', 'fsync', 'synchronous_commit', 'full_page_writes', 'wal_sync_method', 'wal_level', 'shared_buffers', 'max_wal_size', 'checkpoint_timeout', 'autovacuum', 'jit', 'max_connections', 'shared_preload_libraries']

/** Whether a PostgreSQL server can be started here (initdb and postgres found). */
export function postgresAvailable() {
  return Boolean(postgresBinDir())
}

/** pg_stat_statements's control file, beside the server's share directory (Debian layout). */
function statementsExtensionInstalled(bin) {
  const version = bin.match(/\/postgresql\/(\d+)\/bin$/)?.[1]
  const candidates = [
    ...(version ? [`/usr/share/postgresql/${version}/extension/pg_stat_statements.control`] : []),
    join(dirname(bin), 'share/postgresql/extension/pg_stat_statements.control'),
    join(dirname(bin), 'share/extension/pg_stat_statements.control'),
  ]
  return candidates.some(f => existsSync(f))
}

function cpuOf(stat) {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // utime + stime + cutime + cstime (children already reaped), USER_HZ 100.
  return (Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])) * 10 || 0
}

async function childrenOf(pid) {
  const text = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '')
  return text.split(' ').filter(Boolean).map(Number)
}

/** The library's statements by what they do (PostgresSessionStore's `_statements`). */
function labelOf(query) {
  const q = query.replace(/\s+/g, ' ').trim()
  if (/^SELECT key, created_at.* WHERE key = \$1$/i.test(q)) return 'SELECT get'
  if (/^SELECT key, created_at.* = ANY/i.test(q)) return 'SELECT getMany'
  if (/^INSERT INTO .* ON CONFLICT/i.test(q)) return 'INSERT create'
  if (/^UPDATE \S+ SET touched_at = \$2, expires_at = \$3, user_id = \$4 WHERE/i.test(q)) return 'UPDATE touch'
  if (/^UPDATE \S+ SET touched_at .* data = /i.test(q)) return 'UPDATE merge'
  if (/^WITH old AS \(DELETE/i.test(q)) return 'WITH move'
  if (/^DELETE FROM \S+ WHERE key = \$1$/i.test(q)) return 'DELETE delete'
  if (/^DELETE FROM \S+ WHERE key IN \(SELECT/i.test(q)) return 'DELETE sweep'
  return q.slice(0, 60)
}

/** Whether a statement (by its label) writes. */
export function isWrite(label) {
  return !/^SELECT\b/i.test(label) || /\bFOR UPDATE\b/i.test(label)
}

/**
 * Starts the private server on a free port (never 5432), `pin(pid)` called for the postmaster and
 * the processes it forked already (the backends it forks later inherit the cores).
 */
export async function startPostgres({ pin } = {}) {
  const bin = postgresBinDir()
  const counted = statementsExtensionInstalled(bin)
  const settings = counted ? { 'shared_preload_libraries': 'pg_stat_statements', 'pg_stat_statements.max': 1000 } : {}
  const port = await getPort({ host: '127.0.0.1', port: 16432, portRange: [16432, 16480], random: false })
  if (port === 5432) throw new Error('no free port for the benchmark\'s PostgreSQL')
  const server = await startPostgresServer(port, { settings, timeout: 60_000 })
  const pid = server.child.pid
  if (pin) {
    pin(pid)
    for (const child of await childrenOf(pid)) pin(child)
  }
  const base = new URL(server.url)
  const admin = new pg.Client({ connectionString: server.url })
  await admin.connect()
  await admin.query(`CREATE ROLE ${APP_ROLE} LOGIN`)
  await admin.query(`CREATE DATABASE ${DATABASE} OWNER ${APP_ROLE}`)
  await admin.end()
  const adminUrl = new URL(server.url)
  adminUrl.pathname = `/${DATABASE}`
  const db = new pg.Client({ connectionString: adminUrl.href })
  await db.connect()
  if (counted) await db.query('CREATE EXTENSION pg_stat_statements')
  const { rows: [ids] } = await db.query('SELECT (SELECT oid FROM pg_roles WHERE rolname = $1) AS role, (SELECT oid FROM pg_database WHERE datname = $2) AS db', [APP_ROLE, DATABASE])
  const shown = {}
  for (const name of SHOWN) shown[name] = (await db.query(`SHOW ${name}`)).rows[0][name]
  const appUrl = `postgres://${APP_ROLE}@${base.host}/${DATABASE}`
  const table = name => `public."${name}"`

  return {
    url: appUrl,
    port,
    pid,
    version: shown.server_version,
    settings: shown,
    /** Whether statements are counted (pg_stat_statements preloaded). */
    counted,
    /** Kernel CPU time of the server, all its processes (reaped ones included), in ms. */
    async cpuMs() {
      let total = cpuOf(await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => ''))
      for (const child of await childrenOf(pid)) total += cpuOf(await readFile(`/proc/${child}/stat`, 'utf8').catch(() => ''))
      return total
    },
    async resetStats() {
      if (counted) await db.query('SELECT pg_stat_statements_reset()')
    },
    /** Calls per statement (by label) of the app's role in the benchmark's database since the last reset. */
    async statementStats() {
      if (!counted) return null
      const { rows } = await db.query('SELECT query, calls FROM pg_stat_statements WHERE userid = $1 AND dbid = $2 AND calls > 0', [ids.role, ids.db])
      const stats = {}
      for (const row of rows) {
        const label = labelOf(row.query)
        stats[label] = (stats[label] ?? 0) + Number(row.calls)
      }
      return stats
    },
    /** Drops a target's table (never anything else), so that each server starts on an empty one. */
    async dropTable(name) {
      await db.query(`DROP TABLE IF EXISTS ${table(name)}`)
    },
    async countRows(name) {
      return Number((await db.query(`SELECT count(*) AS n FROM ${table(name)}`)).rows[0].n)
    },
    /** The table's size with its indexes and TOAST, in bytes. */
    async tableBytes(name) {
      return Number((await db.query('SELECT pg_total_relation_size($1::regclass) AS n', [table(name)])).rows[0].n)
    },
    /**
     * `count` more live sessions in one `INSERT ... SELECT generate_series` (rows as the store
     * writes them: a sha-256 hex key, an hour's expiry, a small object), bounded by
     * `statement_timeout`; then ANALYZE, as autovacuum would soon. Resolves to the rows added.
     */
    async prefill(name, count, maxSeconds = 60) {
      const now = Date.now()
      await db.query(`SET statement_timeout = ${Math.round(maxSeconds * 1000)}`)
      try {
        const { rowCount } = await db.query(`INSERT INTO ${table(name)} (key, created_at, touched_at, expires_at, user_id, data)
          SELECT encode(sha256(convert_to('nss-bench-prefill-' || g, 'UTF8')), 'hex'), $2::bigint, $2::bigint, $3::bigint, NULL, '{"visits":1}'::jsonb
          FROM generate_series(1, $1::int) AS g`, [count, now, now + 3_600_000])
        await db.query(`ANALYZE ${table(name)}`)
        return rowCount
      }
      finally {
        await db.query('SET statement_timeout = 0')
      }
    },
    async stop() {
      await db.end().catch(() => {})
      await server.stop()
    },
  }
}
