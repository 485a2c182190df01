// The choices behind the embedded default store, measured on the runtime's own SQLite
// (node:sqlite) with the statements the store runs: the durability (`synchronous` in WAL
// mode), the table layout (a WITHOUT ROWID table keyed by the session key, or a rowid table
// with a unique index), and several saves of one event-loop turn in one transaction instead of
// one each; at 1,000 and at 100,000 stored sessions. Then the sweep of 100,000 expired sessions
// in batches, with its longest single statement (the longest it holds the event loop); and the
// stalls of commits that checkpoint, with and without the checkpointer thread the driver runs.
// Timed in the benchmark's process, in a temp dir on the same disk as the project.
// `npx node bench/lib/sqlite-options.mjs` prints the same figures alone.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { DatabaseSync } from 'node:sqlite'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import sessionSqliteDriver, { SqliteBusyError, whenFree } from '../../src/runtime/server/storage/sqlite.ts'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const HOUR = 3_600_000

const LAYOUTS = {
  // The driver's: keyed by the session key, no index on the expiry (the sweep pages by key).
  'without-rowid': 'CREATE TABLE nss_items (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL, expires_at INTEGER, user_key TEXT, signed_in_at INTEGER, label TEXT) WITHOUT ROWID;',
  // The same with an index on the expiry, which every write then updates.
  'without-rowid + expiry index': `CREATE TABLE nss_items (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL, expires_at INTEGER, user_key TEXT, signed_in_at INTEGER, label TEXT) WITHOUT ROWID;
CREATE INDEX nss_items_expiry ON nss_items (expires_at) WHERE expires_at IS NOT NULL;`,
  'rowid': 'CREATE TABLE nss_items (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, value TEXT NOT NULL, expires_at INTEGER, user_key TEXT, signed_in_at INTEGER, label TEXT);',
}

const keyOf = i => `sess:${i.toString(16).padStart(64, '0')}`
const recordText = (n, expiresAt) => JSON.stringify({ v: 1, createdAt: expiresAt - HOUR, touchedAt: expiresAt - HOUR, expiresAt, data: { userId: `user-${n}`, visits: n, theme: 'dark', cart: [1, 2, 3] } })

let files = 0
function openDb(dir, layout, synchronous) {
  const file = join(dir, `${layout}-${synchronous}-${files++}.sqlite`)
  const db = new DatabaseSync(file)
  db.exec(`PRAGMA journal_mode = WAL; PRAGMA synchronous = ${synchronous}; PRAGMA wal_autocheckpoint = 1000;`)
  db.exec(LAYOUTS[layout])
  return db
}

function fill(db, count, expiresAt) {
  const insert = db.prepare('INSERT OR REPLACE INTO nss_items (key, value, expires_at) VALUES (?, ?, ?)')
  db.exec('BEGIN')
  for (let i = 0; i < count; i++) insert.run(keyOf(i), recordText(i, expiresAt), expiresAt)
  db.exec('COMMIT')
  db.exec('PRAGMA wal_checkpoint(TRUNCATE)')
}

/** µs per operation: the median of 5 rounds of `n` operations. */
function perOp(n, op) {
  const rounds = []
  for (let r = 0; r < 5; r++) {
    const start = performance.now()
    for (let i = 0; i < n; i++) op(i)
    rounds.push(((performance.now() - start) * 1000) / n)
  }
  return rounds.sort((a, b) => a - b)[2]
}

/** The store's operations on one database holding `stored` sessions. */
function measureOps(db, stored) {
  const expiresAt = Date.now() + HOUR
  const select = db.prepare('SELECT value FROM nss_items WHERE key = ?')
  const update = db.prepare('UPDATE nss_items SET value = ?, expires_at = ? WHERE key = ?')
  const insert = db.prepare('INSERT OR REPLACE INTO nss_items (key, value, expires_at, user_key, signed_in_at, label) VALUES (?, ?, ?, NULL, NULL, NULL)')
  const pick = i => keyOf((i * 7919) % stored)
  // What an update does under the write lock: read the record, merge a changed key, write it.
  const updateOne = (key) => {
    const current = JSON.parse(select.get(key).value)
    current.data.visits++
    update.run(JSON.stringify(current), expiresAt, key)
  }
  const read = perOp(2000, i => select.get(pick(i)))
  const write = perOp(500, (i) => {
    db.exec('BEGIN IMMEDIATE')
    updateOne(pick(i))
    db.exec('COMMIT')
  })
  let next = stored
  const create = perOp(500, () => insert.run(keyOf(next++), recordText(next, expiresAt), expiresAt))
  // Ten saves of one event-loop turn in one transaction: the cost per save.
  const batched = perOp(50, (i) => {
    db.exec('BEGIN IMMEDIATE')
    for (let j = 0; j < 10; j++) updateOne(pick(i * 10 + j))
    db.exec('COMMIT')
  }) / 10
  return { read, write, create, batched }
}

/** The sweep of `count` expired sessions, a page of `batch` rows in key order per statement (as the driver does): total and longest statement, ms. */
function measureSweep(dir, count, batch) {
  const db = openDb(dir, 'without-rowid', 'NORMAL')
  fill(db, count, Date.now() - 1000)
  const pageEnd = db.prepare('SELECT max(key) AS last FROM (SELECT key FROM nss_items WHERE key > ? ORDER BY key LIMIT ?)')
  const pageSweep = db.prepare('DELETE FROM nss_items WHERE key > ? AND key <= ? AND expires_at IS NOT NULL AND expires_at < ? AND substr(key, 1, ?) = ?')
  let longest = 0
  let total = 0
  let statements = 0
  for (let after = 'sess:'; ;) {
    const start = performance.now()
    const last = pageEnd.get(after, batch)?.last
    if (last) pageSweep.run(after, last, Date.now(), 5, 'sess:')
    const ms = performance.now() - start
    longest = Math.max(longest, ms)
    total += ms
    statements++
    if (!last || !last.startsWith('sess:')) break
    after = last
  }
  db.close()
  return { count, batch, statements, totalMs: total, longestMs: longest }
}

/**
 * 20,000 updates at a server-like pace (a 1 ms pause every 4) on the event loop, on a plain
 * connection that checkpoints as SQLite does by default, and through the module's driver (its
 * maintenance thread checkpoints): the event loop's delay (p99, max, from monitorEventLoopDelay)
 * and the main thread's time per write.
 */
async function measureCheckpoints(dir) {
  const out = []
  const pace = i => (i % 4 === 0 ? new Promise(resolve => setTimeout(resolve, 1)) : undefined)
  const n = 20_000
  const expiresAt = Date.now() + HOUR
  for (const via of ['plain connection', 'module driver']) {
    const file = join(dir, `checkpoints-${via.replace(' ', '-')}.sqlite`)
    // Each update returns the time it spent on the event loop, in ms (waits between tries excluded).
    let update
    let close
    if (via === 'plain connection') {
      const db = new DatabaseSync(file)
      db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;')
      db.exec(LAYOUTS['without-rowid'])
      fill(db, 10_000, expiresAt)
      const select = db.prepare('SELECT value FROM nss_items WHERE key = ?')
      const write = db.prepare('UPDATE nss_items SET value = ?, expires_at = ? WHERE key = ?')
      update = (key) => {
        const start = performance.now()
        db.exec('BEGIN IMMEDIATE')
        const current = JSON.parse(select.get(key).value)
        current.data.visits++
        write.run(JSON.stringify(current), expiresAt, key)
        db.exec('COMMIT')
        return performance.now() - start
      }
      close = () => db.close()
    }
    else {
      const driver = sessionSqliteDriver({ path: file })
      driver.open()
      // The maintenance thread may hold the lock for a moment (a checkpoint): retried as the store does.
      for (let i = 0; i < 10_000; i++) await whenFree(() => driver.sessions.create(keyOf(i), recordText(i, expiresAt), expiresAt))
      update = async (key) => {
        let spent = 0
        for (let wait = 1; ; wait *= 2) {
          const start = performance.now()
          try {
            driver.sessions.update(key, (raw) => {
              const current = JSON.parse(raw)
              current.data.visits++
              return { value: JSON.stringify(current), expiresAt }
            })
            return spent + performance.now() - start
          }
          catch (error) {
            if (!(error instanceof SqliteBusyError)) throw error
            spent += performance.now() - start
            await new Promise(resolve => setTimeout(resolve, wait))
          }
        }
      }
      close = () => driver.dispose()
    }
    await new Promise(resolve => setTimeout(resolve, 300))
    const delay = monitorEventLoopDelay({ resolution: 1 })
    delay.enable()
    let mainMs = 0
    for (let i = 0; i < n; i++) {
      mainMs += await update(keyOf((i * 7919) % 10_000))
      await pace(i)
    }
    delay.disable()
    close()
    out.push({ via, writeUs: (mainMs * 1000) / n, loopP99Ms: delay.percentile(99) / 1e6, loopMaxMs: delay.max / 1e6 })
  }
  return out
}

export async function measureSqliteOptions({ large = 100_000 } = {}) {
  mkdirSync(join(ROOT, 'bench/.tmp'), { recursive: true })
  const dir = mkdtempSync(join(ROOT, 'bench/.tmp/sqlite-'))
  try {
    const rows = []
    for (const layout of Object.keys(LAYOUTS)) {
      for (const synchronous of layout === 'without-rowid' ? ['OFF', 'NORMAL', 'FULL'] : ['NORMAL']) {
        for (const stored of [1000, large]) {
          const db = openDb(dir, layout, synchronous)
          fill(db, stored, Date.now() + HOUR)
          rows.push({ layout, synchronous, stored, ...measureOps(db, stored) })
          db.close()
        }
      }
    }
    return { rows, sweep: measureSweep(dir, large, 1000), checkpoints: await measureCheckpoints(dir) }
  }
  finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

export function sqliteOptionsLines(result) {
  const f = us => us < 10 ? us.toFixed(1) : us.toFixed(0)
  const lines = result.rows.map(r => `sqlite ${r.layout}, synchronous=${r.synchronous}, ${r.stored} stored: read ${f(r.read)} µs, write ${f(r.write)} µs, create ${f(r.create)} µs, write batched by 10 ${f(r.batched)} µs per save`)
  const s = result.sweep
  lines.push(`sqlite sweep of ${s.count} expired sessions, pages of ${s.batch} rows: ${s.statements} statements, ${s.totalMs.toFixed(0)} ms of work, longest statement ${s.longestMs.toFixed(1)} ms`)
  for (const c of result.checkpoints) lines.push(`sqlite 20,000 writes through the ${c.via}: ${f(c.writeUs)} µs per write on the event loop; event-loop delay p99 ${c.loopP99Ms.toFixed(1)} ms, max ${c.loopMaxMs.toFixed(1)} ms (1 ms timers included)`)
  return lines
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const line of sqliteOptionsLines(await measureSqliteOptions())) console.log(line)
}
