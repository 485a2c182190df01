import type { Driver } from 'unstorage'

/**
 * The unstorage driver behind the default `session` mount on server presets: one SQLite
 * database file (WAL mode) through the runtime's built-in SQLite, `node:sqlite` on Node and
 * Deno, `bun:sqlite` on Bun; no native addon. It is a plain unstorage driver (any key, any
 * value, optional ttl), so `useStorage('session')` works on it, and it also offers the session
 * store a few native operations (`sessions`) that run inside one SQLite transaction, so that
 * several processes sharing the file (node-cluster, two instances) never lose an update.
 *
 * Layout (schema version 1), one table:
 *
 * ```sql
 * CREATE TABLE nss_items (
 *   key TEXT PRIMARY KEY NOT NULL,  -- the unstorage key below the mount, e.g. 'sess:<sha-256>'
 *   value TEXT NOT NULL,            -- the stored value (a session record's JSON)
 *   expires_at INTEGER,             -- ms since the epoch; NULL: never
 *   user_key TEXT,                  -- a signed-in session's user (a hash of the user id)
 *   signed_in_at INTEGER,           -- when it was signed in, ms
 *   label TEXT                      -- its device label, when the app opted in
 * ) WITHOUT ROWID;
 * CREATE INDEX nss_items_user ON nss_items (user_key) WHERE user_key IS NOT NULL;
 * CREATE TABLE nss_meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL) WITHOUT ROWID;
 * -- nss_meta holds ('schema', '1').
 * ```
 *
 * A user's devices index is the set of rows with their `user_key`: it changes with the session's
 * own row, so a destroyed, revoked or expired session leaves it in the same statement.
 *
 * Calls are synchronous (a few microseconds each on a local disk); a write that finds the
 * database locked by another process does not wait inside SQLite: it throws a `SqliteBusyError`,
 * and the session store retries it on a timer. What waits for the disk (checkpoints) and the
 * sweep of expired rows run in a maintenance thread (see `_startMaintenance`).
 */

const DRIVER_NAME = 'nuxt-server-session-sqlite'
const SCHEMA_VERSION = 1
/** How often the checkpointer thread moves committed pages from the WAL into the database, ms. */
const CHECKPOINT_INTERVAL_MS = 200
/** WAL pages after which a commit checkpoints and the WAL starts over (SQLite's default). */
const AUTOCHECKPOINT_PAGES = 1000

/** How long SQLite itself waits for another connection's lock on the event loop: not at all, the store retries on a timer. */
const BUSY_WAIT_MS = 0

/** SQLite result codes (primary, low byte). */
const SQLITE_BUSY = 5
const SQLITE_LOCKED = 6

export interface SessionSqliteDriverOptions {
  /**
   * The database file, resolved against the working directory. Its folder must exist, unless
   * `createFolder` is set.
   */
  path: string
  /**
   * Create the file's folder (readable by its owner only) when it is missing. The modules set it
   * for their default location under `.data/`; a path you configure must exist, so that an
   * unmounted volume is an error rather than a fresh, empty store.
   * @default false
   */
  createFolder?: boolean
  /**
   * The longest `open()` (the modules call it at server start) waits for another process's
   * lock, in ms; a database first opened by a request never waits there.
   * @default 5000, or the session's `storeTimeout` in the modules
   */
  openTimeout?: number
  /**
   * How long the session store keeps retrying, on a timer, an operation that finds the database
   * locked by another process, in ms. Keep it at most the session's `storeTimeout`: a write
   * answered with a 503 then never lands later.
   * @default 5000, or the session's `storeTimeout` in the modules
   */
  busyTimeout?: number
  /** Set by the modules on the mount they provide: `NUXT_SESSION_SQLITE_PATH` may move it. */
  moduleDefault?: boolean
}

/** A database error: the operation did not happen. `code` is SQLite's primary result code. */
export class SqliteStoreError extends Error {
  declare readonly code: number
  constructor(message: string, code: number, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'SqliteStoreError'
    this.code = code
  }
}

/** The database is locked by another process: try again a little later. */
export class SqliteBusyError extends SqliteStoreError {
  /**
   * @param cause What SQLite said.
   * @param file The database file, for the message.
   * @param waited How long it was waited for, in ms, for the message.
   */
  constructor(cause?: unknown, file?: string, waited?: number) {
    super(`[nuxt-server-session] The session database ${file ? `${file} ` : ''}is locked by another process${waited ? ` (waited ${waited} ms)` : ''}.`, SQLITE_BUSY, { cause })
    this.name = 'SqliteBusyError'
  }
}

const sleep = (ms: number) => new Promise<void>(resolve => setTimeout(resolve, ms))

/**
 * Runs a database call; while another connection holds the write lock (`SqliteBusyError`),
 * tries again on a timer, 1 ms then doubling up to 50 ms, never blocking the event loop, until
 * `timeout` ms have passed.
 */
export async function whenFree<T>(op: () => T, timeout = 5000): Promise<T> {
  const deadline = Date.now() + timeout
  for (let wait = 1; ; wait = Math.min(wait * 2, 50)) {
    try {
      return op()
    }
    catch (error) {
      if (!(error instanceof SqliteBusyError) || Date.now() + wait >= deadline) throw error
    }
    await sleep(wait)
  }
}

/** One stored row of a session, as the native operations see it. */
export interface SqliteSessionRow {
  key: string
  userKey: string | null
  signedInAt: number | null
  label: string | null
}

/** What an update or a move writes: the new value and its expiry, or `undefined` for nothing. */
export type SqliteNext = (current: string) => { value: string, expiresAt: number } | undefined

/**
 * The session store's operations on the database, each one atomic (one statement, or one
 * `BEGIN IMMEDIATE` transaction), also across processes.
 */
export interface SqliteSessions {
  /** How long the store retries an operation that found the database locked, in ms (the `busyTimeout` option). */
  readonly busyTimeout: number
  get: (key: string) => string | undefined
  getMany: (keys: readonly string[]) => (string | undefined)[]
  /** Inserts or replaces the whole row (a new session, or the target of a regenerate). */
  create: (key: string, value: string, expiresAt: number) => void
  /** Reads the row and writes `next(value)` in one transaction; false when the row is missing or `next` declines. */
  update: (key: string, next: SqliteNext) => boolean
  /** Moves the row (with its user) to `to` and writes `next(value)` there, in one transaction. */
  move: (from: string, to: string, next: SqliteNext) => boolean
  delete: (key: string) => void
  /**
   * Names the row's user and sign-in; nothing when the row is gone. The sign-in time stored is
   * `signedInAt`, or 1 ms after the user's latest stored one if that is later (sign-ins are
   * ordered as they commit); a row that is already the user's keeps its sign-in time and label.
   */
  indexAdd: (key: string, userKey: string, signedInAt: number, label: string | undefined) => void
  /** The rows of `userKey` whose key starts with `prefix`. */
  indexList: (userKey: string, prefix: string) => SqliteSessionRow[]
  /** Forgets the user of these rows (they stay as anonymous sessions). */
  indexRemove: (userKey: string, keys: readonly string[]) => void
  /**
   * Looks at the next `limit` rows after the key `after`, in key order, and deletes those under
   * `prefix` that expired before `now`: one page of a sweep (`after` = `prefix` for the first).
   * Returns how many went and the page's last key, `undefined` once past the prefix's rows.
   */
  sweepPage: (prefix: string, after: string, now: number, limit: number, report?: boolean) => { removed: number, last: string | undefined, ended?: [string, string | null][] }
  /**
   * Deletes every row under `prefix` that expired before `now` in the maintenance thread, off the
   * event loop; `undefined` when there is no such thread (then sweep page by page).
   */
  sweepInThread: (prefix: string, now: number, limit: number, report?: (ended: [string, string | null][]) => void) => Promise<number> | undefined
}

export interface SessionSqliteDriver extends Driver {
  readonly options: SessionSqliteDriverOptions
  /**
   * Opens the database now (creating the file and schema on first use), waiting up to
   * `openTimeout` for another process's lock; throws a clear error when it cannot, and the next
   * call tries again. `defaults` fill in the timeouts that the options leave unset (the modules
   * pass the session's `storeTimeout`).
   */
  open: (defaults?: { openTimeout?: number, busyTimeout?: number }) => void
  /** Points the driver at another file before it is opened (the modules' run-time setting). */
  setPath: (path: string, createFolder?: boolean) => void
  /** The file in use, resolved. */
  readonly file: string
  readonly sessions: SqliteSessions
}

interface Statement {
  get: (...params: unknown[]) => Record<string, unknown> | null | undefined
  all: (...params: unknown[]) => Record<string, unknown>[]
  run: (...params: unknown[]) => unknown
}
interface Database {
  exec: (sql: string) => void
  prepare: (sql: string) => Statement
  close: () => void
}
interface NodeFs {
  existsSync: (path: string) => boolean
  accessSync: (path: string, mode: number) => void
  constants: { W_OK: number }
  mkdirSync: (path: string, options: { recursive: true, mode: number }) => unknown
  openSync: (path: string, flags: string, mode: number) => number
  closeSync: (fd: number) => void
  statSync: (path: string) => { isDirectory: () => boolean, size: number }
  unlinkSync: (path: string) => void
}
interface NodePath {
  resolve: (...paths: string[]) => string
  dirname: (path: string) => string
}

type Builtin = (id: string) => unknown

function _builtin(): Builtin | undefined {
  const get = (globalThis as { process?: { getBuiltinModule?: Builtin } }).process?.getBuiltinModule
  return typeof get === 'function' ? get : undefined
}

/** The runtime's SQLite: `bun:sqlite` on Bun, `node:sqlite` elsewhere (Node 22.13+, Deno). */
function _openDatabase(file: string): Database {
  const get = _builtin()
  if (!get) throw new SqliteStoreError(`[nuxt-server-session] The ${DRIVER_NAME} storage driver needs a runtime with built-in SQLite (Node 22.13+, Bun, Deno). Mount another driver for the session storage here.`, 0)
  let db: Database
  if ((globalThis as { Bun?: unknown }).Bun) {
    const { Database } = get('bun:sqlite') as { Database: new (file: string, options: { create: boolean, readwrite: boolean, strict: boolean }) => Database }
    db = new Database(file, { create: true, readwrite: true, strict: true })
  }
  else {
    const sqlite = _quietly(() => get('node:sqlite')) as { DatabaseSync?: new (file: string, options: { timeout: number }) => Database } | undefined
    if (!sqlite?.DatabaseSync) throw new SqliteStoreError(`[nuxt-server-session] This runtime has no built-in SQLite (node:sqlite needs Node 22.13 or later). Upgrade Node, or mount another driver for the session storage.`, 0)
    db = new sqlite.DatabaseSync(file, { timeout: BUSY_WAIT_MS })
  }
  // Also where the option is unknown (bun:sqlite; node:sqlite before Node 22.16 ignores `timeout`).
  db.exec(`PRAGMA busy_timeout = ${BUSY_WAIT_MS}`)
  return db
}

/**
 * Loads `node:sqlite` without its one-time ExperimentalWarning (Node 22 and 23 print it; the
 * module is stable in Node 24): the app's log is no place for our implementation details.
 */
function _quietly<T>(load: () => T): T {
  const proc = (globalThis as { process?: { emitWarning?: (...args: unknown[]) => void } }).process
  const emit = proc?.emitWarning
  if (!proc || typeof emit !== 'function') return load()
  proc.emitWarning = function (this: unknown, warning: unknown, ...rest: unknown[]) {
    const type = typeof rest[0] === 'string' ? rest[0] : (rest[0] as { type?: string } | undefined)?.type ?? (warning as { name?: string } | undefined)?.name
    if (type === 'ExperimentalWarning' && /sqlite/i.test(String((warning as { message?: string })?.message ?? warning))) return
    return emit.call(this, warning, ...rest)
  }
  try {
    return load()
  }
  finally {
    proc.emitWarning = emit
  }
}

/** SQLite's names of its primary result codes, and what the file system's errors mean to it. */
const CODES: Record<string, number> = { BUSY: 5, LOCKED: 6, READONLY: 8, IOERR: 10, CORRUPT: 11, FULL: 13, CANTOPEN: 14, NOTADB: 26 }
const FS_CODES: Record<string, number> = { EROFS: 8, EACCES: 8, EPERM: 8, EIO: 10, ENOSPC: 13, EDQUOT: 13, ENOENT: 14, ENOTDIR: 14, EISDIR: 14 }

/** SQLite's primary result code of an error from either runtime (or of a file system error before it), or 0. */
function _code(error: unknown): number {
  const e = error as { errcode?: unknown, errno?: unknown, code?: unknown }
  if (typeof e?.errcode === 'number') return e.errcode & 0xFF
  if (typeof e?.code === 'string') {
    const named = /^SQLITE_([A-Z]+)/.exec(e.code)?.[1]
    if (named) return CODES[named] ?? 1
    // node:fs errors (creating the file) carry a negative errno: their name says more.
    if (e.code in FS_CODES) return FS_CODES[e.code]!
  }
  // bun:sqlite puts SQLite's code in errno.
  return typeof e?.errno === 'number' && e.errno > 0 ? e.errno & 0xFF : 0
}

/**
 * Whether the file system of `file` refuses writes now, on the error path only. A file system
 * remounted read-only fails `access()`; one that ext4 turned read-only after an error
 * (errors=remount-ro, "emergency_ro") may still pass it and refuse only real writes, so an empty
 * file is created (and removed) beside the database. The database file itself is never opened
 * here: closing another descriptor of it would drop SQLite's POSIX locks.
 */
function _readOnlyFileSystem(file: string): boolean {
  const get = _builtin()
  const fs = get?.('node:fs') as NodeFs | undefined
  const path = get?.('node:path') as NodePath | undefined
  if (!fs?.accessSync || !path) return false
  const folder = path.dirname(file)
  try {
    fs.accessSync(folder, fs.constants.W_OK)
    const probe = path.resolve(folder, `.nss-write-check-${Math.random().toString(36).slice(2)}`)
    fs.closeSync(fs.openSync(probe, 'wx', 0o600))
    fs.unlinkSync(probe)
    return false
  }
  catch (error) {
    return (error as { code?: string }).code === 'EROFS'
  }
}

/** A clear message for what SQLite said, never with data in it. */
function _explain(error: unknown, file: string): SqliteStoreError {
  if (error instanceof SqliteStoreError) return error
  const code = _code(error)
  if (code === SQLITE_BUSY || code === SQLITE_LOCKED) return new SqliteBusyError(error, file)
  // A file system that went read-only (ext4's errors=remount-ro) fails SQLite's writes as I/O errors.
  if ((code === 8 || code === 10 || code === 14) && _readOnlyFileSystem(file)) {
    return new SqliteStoreError(`[nuxt-server-session] The session database ${file} cannot be written: its file system is read-only.`, 8, { cause: error })
  }
  const what: Record<number, string> = {
    8: 'is read-only (the file, its folder or the file system refuses writes)',
    10: 'could not be read or written (I/O error)',
    11: 'is corrupt',
    13: 'cannot grow: the disk is full',
    14: 'cannot be opened (check that the folder exists and is writable)',
    26: 'is not an SQLite database (the file holds something else)',
  }
  const reason = what[code] ?? `failed (${String((error as { message?: string })?.message ?? error).slice(0, 200)})`
  return new SqliteStoreError(`[nuxt-server-session] The session database ${file} ${reason}.`, code, { cause: error })
}

/**
 * Creates the session SQLite driver.
 *
 * @example
 * ```ts
 * import { createStorage } from 'unstorage'
 * import { sessionSqliteDriver, UnstorageSessionStore } from 'nuxt-server-session/h3'
 * const store = new UnstorageSessionStore(createStorage({ driver: sessionSqliteDriver({ path: './.data/sessions.sqlite', createFolder: true }) }))
 * ```
 */
export default function sessionSqliteDriver(options: SessionSqliteDriverOptions): SessionSqliteDriver {
  if (!options || typeof options.path !== 'string' || !options.path) throw new TypeError(`[nuxt-server-session] ${DRIVER_NAME} needs a database file: sessionSqliteDriver({ path: './.data/sessions.sqlite' }).`)
  const settings: SessionSqliteDriverOptions = { ...options }
  /** The timeouts given to `open()` for those the options leave unset. */
  let fallback: { openTimeout?: number, busyTimeout?: number } = {}
  let db: Database | undefined
  let file = ''
  let maintenance: Maintenance | undefined
  const statements = new Map<string, Statement>()

  const resolveFile = (): string => {
    const get = _builtin()
    const path = get?.('node:path') as NodePath | undefined
    return path ? path.resolve(settings.path) : settings.path
  }

  /**
   * Creates the folder (0700) and an empty file (0600) if missing: SQLite gives its WAL files the
   * same mode. Returns a function that removes the file again if it is still empty (the open failed).
   */
  const prepareFile = (target: string): (() => void) | undefined => {
    const get = _builtin()
    const fs = get?.('node:fs') as NodeFs | undefined
    const path = get?.('node:path') as NodePath | undefined
    if (!fs || !path) return
    const folder = path.dirname(target)
    if (!fs.existsSync(folder)) {
      if (!settings.createFolder) throw new SqliteStoreError(`[nuxt-server-session] The folder of the session database ${target} does not exist. Create it (a mounted volume?), or point NUXT_SESSION_SQLITE_PATH elsewhere.`, 14)
      fs.mkdirSync(folder, { recursive: true, mode: 0o700 })
    }
    if (fs.existsSync(target)) return
    fs.closeSync(fs.openSync(target, 'a', 0o600))
    return () => {
      try {
        if (fs.statSync(target).size === 0) fs.unlinkSync(target)
      }
      catch {
        // Gone already, or not ours to remove.
      }
    }
  }

  /**
   * Opens the connection once. `wait`: how long another process's lock is waited for, blocking
   * (only `driver.open()` at start waits; a first use by a request throws a `SqliteBusyError` at
   * once, which the session store retries on a timer).
   */
  const open = (wait = 0): Database => {
    if (db) return db
    const target = resolveFile()
    let opened: Database | undefined
    let removeCreated: (() => void) | undefined
    try {
      removeCreated = prepareFile(target)
      opened = _openDatabase(target)
      _initialise(opened, wait)
    }
    catch (error) {
      try {
        opened?.close()
      }
      catch {
        // Closing a connection that failed to start: nothing more to report.
      }
      // No new, empty database is left behind a failed start.
      removeCreated?.()
      // Not remembered: the next call tries again (the volume may be mounted by then).
      const explained = _explain(error, target)
      throw explained instanceof SqliteBusyError && wait > 0 ? new SqliteBusyError(error, target, wait) : explained
    }
    db = opened
    file = target
    maintenance = _startMaintenance(target)
    return db
  }

  const statement = (sql: string): Statement => {
    const database = open()
    let s = statements.get(sql)
    if (!s) statements.set(sql, s = database.prepare(sql))
    return s
  }

  /** Runs `op`, turning SQLite's errors into clear ones (busy ones into `SqliteBusyError`). */
  const run = <T>(op: () => T): T => {
    try {
      return op()
    }
    catch (error) {
      throw _explain(error, file || resolveFile())
    }
  }

  /** `op` inside `BEGIN IMMEDIATE` (the write lock first, so that no other writer comes between). */
  const transaction = <T>(op: () => T): T => run(() => {
    const database = open()
    database.exec('BEGIN IMMEDIATE')
    try {
      const result = op()
      database.exec('COMMIT')
      return result
    }
    catch (error) {
      try {
        database.exec('ROLLBACK')
      }
      catch {
        // The transaction is gone already (SQLite rolled it back itself).
      }
      throw error
    }
  })

  const now = () => Date.now()
  const live = 'key = ? AND (expires_at IS NULL OR expires_at > ?)'

  const sessions: SqliteSessions = {
    get busyTimeout() {
      return settings.busyTimeout ?? fallback.busyTimeout ?? 5000
    },
    get: key => run(() => statement('SELECT value FROM nss_items WHERE key = ?').get(key)?.value as string | undefined),
    getMany: keys => run(() => {
      const found = new Map<string, string>()
      // Bounded statements: at most 100 keys each (SQLite's parameter limit is far above).
      for (let i = 0; i < keys.length; i += 100) {
        const chunk = keys.slice(i, i + 100)
        const sql = `SELECT key, value FROM nss_items WHERE key IN (${chunk.map(() => '?').join(',')})`
        for (const row of statement(sql).all(...chunk)) found.set(row.key as string, row.value as string)
      }
      return keys.map(key => found.get(key))
    }),
    create: (key, value, expiresAt) => run(() => {
      statement('INSERT OR REPLACE INTO nss_items (key, value, expires_at, user_key, signed_in_at, label) VALUES (?, ?, ?, NULL, NULL, NULL)').run(key, value, expiresAt)
    }),
    update: (key, next) => transaction(() => {
      const row = statement('SELECT value FROM nss_items WHERE key = ?').get(key)
      if (!row) return false
      const written = next(row.value as string)
      if (!written) return false
      statement('UPDATE nss_items SET value = ?, expires_at = ? WHERE key = ?').run(written.value, written.expiresAt, key)
      return true
    }),
    move: (from, to, next) => transaction(() => {
      const row = statement('SELECT value, user_key, signed_in_at, label FROM nss_items WHERE key = ?').get(from)
      if (!row) return false
      const written = next(row.value as string)
      if (!written) return false
      statement('DELETE FROM nss_items WHERE key = ?').run(from)
      statement('INSERT OR REPLACE INTO nss_items (key, value, expires_at, user_key, signed_in_at, label) VALUES (?, ?, ?, ?, ?, ?)').run(to, written.value, written.expiresAt, row.user_key ?? null, row.signed_in_at ?? null, row.label ?? null)
      return true
    }),
    delete: key => run(() => {
      statement('DELETE FROM nss_items WHERE key = ?').run(key)
    }),
    indexAdd: (key, userKey, signedInAt, label) => run(() => {
      // One statement, under the write lock: a sign-in is stamped after every sign-in of the user
      // already stored (at least 1 ms later than the latest), so that their order is the order in
      // which they reached the database, whatever the clock each process read before its write.
      // The cap decides by that order, and a sign-in that lists its user after its own write sees
      // every one before it. A row already the user's (moved by a regenerate) keeps its sign-in.
      // SET reads the row as it was before the update.
      statement(`UPDATE nss_items SET
        signed_in_at = CASE WHEN user_key = ? AND signed_in_at IS NOT NULL THEN signed_in_at
          ELSE max(?, coalesce((SELECT max(signed_in_at) FROM nss_items WHERE user_key = ?), 0) + 1) END,
        label = CASE WHEN user_key = ? AND signed_in_at IS NOT NULL THEN label ELSE ? END,
        user_key = ?
        WHERE ${live}`).run(userKey, signedInAt, userKey, userKey, label ?? null, userKey, key, now())
    }),
    indexList: (userKey, prefix) => run(() => statement('SELECT key, user_key, signed_in_at, label FROM nss_items WHERE user_key = ?').all(userKey)
      .filter(row => (row.key as string).startsWith(prefix))
      .map(row => ({ key: row.key as string, userKey: row.user_key as string | null, signedInAt: row.signed_in_at as number | null, label: row.label as string | null }))),
    indexRemove: (userKey, keys) => run(() => {
      for (const key of keys) statement('UPDATE nss_items SET user_key = NULL, signed_in_at = NULL, label = NULL WHERE key = ? AND user_key = ?').run(key, userKey)
    }),
    sweepInThread: (prefix, at, limit, report) => {
      open()
      return maintenance?.alive() ? maintenance.sweep(prefix, at, limit, report) : undefined
    },
    sweepPage: (prefix, after, at, limit, report) => run(() => {
      const last = statement(PAGE_END_SQL).get(after, limit)?.last as string | null | undefined
      if (!last) return { removed: 0, last: undefined }
      const next = last.startsWith(prefix) ? last : undefined
      if (report) {
        const ended = statement(PAGE_SWEEP_SQL + PAGE_SWEEP_RETURNING).all(after, last, at, prefix.length, prefix).map(row => [row.key as string, (row.user_id as string | null) ?? null] as [string, string | null])
        return { removed: ended.length, last: next, ended }
      }
      const result = statement(PAGE_SWEEP_SQL).run(after, last, at, prefix.length, prefix) as { changes: number | bigint }
      return { removed: Number(result.changes), last: next }
    }),
  }

  const keysUnder = (base: string | undefined): string[] => {
    const prefix = base ? `${base.replace(/:$/, '')}:` : ''
    const rows = prefix
      ? statement('SELECT key FROM nss_items WHERE substr(key, 1, ?) = ? AND (expires_at IS NULL OR expires_at > ?)').all(prefix.length, prefix, now())
      : statement('SELECT key FROM nss_items WHERE expires_at IS NULL OR expires_at > ?').all(now())
    return rows.map(row => row.key as string)
  }

  return {
    name: DRIVER_NAME,
    options: settings,
    get file() {
      return file || resolveFile()
    },
    sessions,
    open: (defaults) => {
      if (defaults) fallback = { ...defaults }
      open(settings.openTimeout ?? fallback.openTimeout ?? 5000)
    },
    setPath: (path, createFolder = false) => {
      if (db) throw new Error(`[nuxt-server-session] ${DRIVER_NAME}: the database is open already; set its path before first use.`)
      settings.path = path
      settings.createFolder = createFolder
    },
    getInstance: () => open(),
    // The storage API: each call retried on a timer while another connection holds the lock.
    hasItem: key => whenFree(() => run(() => Boolean(statement(`SELECT 1 AS found FROM nss_items WHERE ${live}`).get(key, now())))),
    getItem: key => whenFree(() => run(() => (statement(`SELECT value FROM nss_items WHERE ${live}`).get(key, now())?.value as string | undefined) ?? null)),
    setItem: (key, value, opts) => whenFree(() => run(() => {
      const ttl = Number((opts as { ttl?: unknown } | undefined)?.ttl)
      const expiresAt = Number.isFinite(ttl) && ttl > 0 ? now() + ttl * 1000 : null
      // Keeps a session row's user columns when only its value is rewritten through the storage API.
      statement('INSERT INTO nss_items (key, value, expires_at) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at').run(key, String(value), expiresAt)
    })),
    removeItem: key => whenFree(() => run(() => {
      statement('DELETE FROM nss_items WHERE key = ?').run(key)
    })),
    getKeys: base => whenFree(() => run(() => keysUnder(base))),
    clear: base => whenFree(() => run(() => {
      const prefix = base ? `${base.replace(/:$/, '')}:` : ''
      if (prefix) statement('DELETE FROM nss_items WHERE substr(key, 1, ?) = ?').run(prefix.length, prefix)
      else statement('DELETE FROM nss_items').run()
    })),
    dispose: () => {
      maintenance?.stop()
      maintenance = undefined
      statements.clear()
      const open = db
      db = undefined
      open?.close()
    },
  }
}

/**
 * WAL mode, the schema, and a check that the database can be written, all at start: a database
 * that is corrupt, read-only or locked is an error now, where a server can refuse to start.
 */
function _initialise(db: Database, wait: number): void {
  const deadline = Date.now() + wait
  for (;;) {
    try {
      // NORMAL in WAL mode: a commit is durable once the WAL is synced at a checkpoint; a crash
      // of the process loses nothing, a power cut at most the last commits, never the database.
      db.exec('PRAGMA journal_mode = WAL')
      db.exec('PRAGMA synchronous = NORMAL')
      db.exec(`PRAGMA wal_autocheckpoint = ${AUTOCHECKPOINT_PAGES}`)
      db.exec('BEGIN IMMEDIATE')
      try {
        db.exec(`CREATE TABLE IF NOT EXISTS nss_meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS nss_items (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL, expires_at INTEGER, user_key TEXT, signed_in_at INTEGER, label TEXT) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS nss_items_user ON nss_items (user_key) WHERE user_key IS NOT NULL;
INSERT OR IGNORE INTO nss_meta (key, value) VALUES ('schema', '${SCHEMA_VERSION}');`)
        const version = Number(db.prepare('SELECT value FROM nss_meta WHERE key = \'schema\'').get()?.value)
        if (version !== SCHEMA_VERSION) throw new SqliteStoreError(`[nuxt-server-session] The session database has schema version ${version}, and this version of nuxt-server-session reads version ${SCHEMA_VERSION}. Upgrade nuxt-server-session, or use another file.`, 1)
        db.exec('COMMIT')
      }
      catch (error) {
        try {
          db.exec('ROLLBACK')
        }
        catch {
          // Already rolled back.
        }
        throw error
      }
      return
    }
    catch (error) {
      const code = _code(error)
      if ((code !== SQLITE_BUSY && code !== SQLITE_LOCKED) || Date.now() >= deadline) throw error
      // Start-up only: waiting here blocks nothing that serves requests yet (10 ms, no spinning).
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10)
    }
  }
}

/**
 * The database's maintenance thread: a worker thread with a connection of its own, so that the
 * work that waits for the disk never holds the event loop.
 *
 * - Checkpoints. A checkpoint copies the WAL's pages into the database and syncs the files
 *   (with `synchronous = NORMAL`, the only time anything waits for the disk). Left to the
 *   commits, as SQLite does by default, the commit that takes the WAL past 1,000 pages holds the
 *   event loop 15 to 25 ms (bench/lib/sqlite-options.mjs). Here the thread runs a PASSIVE
 *   checkpoint every 200 ms, which blocks neither writers nor readers, so that the commit's own
 *   checkpoint (which lets the WAL start over) finds the pages copied and synced already. A
 *   checkpoint that waited for the lock in the thread (RESTART, TRUNCATE) was tried and dropped:
 *   under load it made readers on the event loop wait inside SQLite.
 * - Sweeps. Expired rows are deleted there, 250 per statement with a pause between statements.
 *
 * Where no worker thread can be made, or when it fails, the commits checkpoint as SQLite does by
 * default and the sweep runs on the event loop in batches.
 */
function _startMaintenance(file: string): Maintenance | undefined {
  const threads = _builtin()?.('node:worker_threads') as { Worker?: new (source: string, options: { eval: true, workerData: unknown }) => WorkerLike } | undefined
  if (!threads?.Worker) return undefined
  let worker: WorkerLike
  try {
    worker = new threads.Worker(MAINTENANCE_SOURCE, { eval: true, workerData: { file, interval: CHECKPOINT_INTERVAL_MS, bun: Boolean((globalThis as { Bun?: unknown }).Bun) } })
  }
  catch {
    return undefined
  }
  const pending = new Map<number, { resolve: (removed: number) => void, reject: (error: Error) => void, report?: (ended: [string, string | null][]) => void }>()
  let next = 0
  let alive = true
  const fail = () => {
    if (!alive) return
    alive = false
    for (const { reject } of pending.values()) reject(new SqliteStoreError('[nuxt-server-session] The session database\'s maintenance thread stopped', 0))
    pending.clear()
  }
  worker.on('error', fail)
  worker.on('exit', fail)
  worker.on('message', (message) => {
    const { id, removed, error, ended } = message as { id: number, removed?: number, error?: string, ended?: [string, string | null][] }
    const waiting = pending.get(id)
    if (!waiting) return
    // A batch's ended rows, while the sweep goes on.
    if (ended) return waiting.report?.(ended)
    pending.delete(id)
    if (error === undefined) waiting.resolve(removed ?? 0)
    else waiting.reject(new SqliteStoreError(`[nuxt-server-session] Sweeping the session database failed: ${error}`, 0))
  })
  // After the listeners: on Node 24 a 'message' listener refs the worker again, and a server
  // whose only open handle is this thread would never exit after its graceful shutdown.
  worker.unref?.()
  return {
    alive: () => alive,
    sweep: (prefix, now, limit, report) => new Promise<number>((resolve, reject) => {
      if (!alive) return reject(new SqliteStoreError('[nuxt-server-session] The session database\'s maintenance thread stopped', 0))
      const id = ++next
      pending.set(id, { resolve, reject, report })
      worker.postMessage({ id, prefix, now, limit, report: Boolean(report) })
    }),
    stop: () => {
      alive = false
      void worker.terminate()
    },
  }
}

interface Maintenance {
  alive: () => boolean
  /** Deletes every row under `prefix` that expired before `now`, `limit` per statement, in the thread; `report` gets each batch's ended rows. */
  sweep: (prefix: string, now: number, limit: number, report?: (ended: [string, string | null][]) => void) => Promise<number>
  stop: () => void
}

interface WorkerLike {
  on: (event: 'error' | 'exit' | 'message', listener: (value?: unknown) => void) => unknown
  postMessage: (message: unknown) => void
  unref?: () => void
  terminate: () => unknown
}

/**
 * A sweep goes through the table in key order, a page of rows at a time (by the primary key, so
 * each page costs its own rows only), and deletes the expired ones of the page: no index on the
 * expiry, which every write would have to update (it made a write more than twice as dear).
 */
const PAGE_END_SQL = 'SELECT max(key) AS last FROM (SELECT key FROM nss_items WHERE key > ? ORDER BY key LIMIT ?)'
const PAGE_SWEEP_SQL = 'DELETE FROM nss_items WHERE key > ? AND key <= ? AND expires_at IS NOT NULL AND expires_at < ? AND substr(key, 1, ?) = ?'
/** The rows a sweep ended, for the lifecycle hooks: the key and the record's user. */
const PAGE_SWEEP_RETURNING = ' RETURNING key, CASE WHEN json_valid(value) THEN json_extract(value, \'$.userId\') END AS user_id'

/** The maintenance thread (CommonJS, evaluated by worker_threads on Node, Bun and Deno). */
const MAINTENANCE_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads')
const emit = process.emitWarning
process.emitWarning = (warning, ...rest) => /sqlite/i.test(String(warning && warning.message || warning)) ? undefined : emit.call(process, warning, ...rest)
const db = workerData.bun
  ? new (require('bun:sqlite').Database)(workerData.file, { readwrite: true })
  : new (require('node:sqlite').DatabaseSync)(workerData.file, { timeout: 1000 })
if (workerData.bun) db.exec('PRAGMA busy_timeout = 1000')
const passive = db.prepare('PRAGMA wal_checkpoint(PASSIVE)')
const pageEnd = db.prepare(${JSON.stringify(PAGE_END_SQL)})
const pageSweep = db.prepare(${JSON.stringify(PAGE_SWEEP_SQL)})
const pageSweepReturning = db.prepare(${JSON.stringify(PAGE_SWEEP_SQL + PAGE_SWEEP_RETURNING)})
setInterval(() => {
  try {
    passive.get()
  } catch {}
}, workerData.interval)
const pause = () => new Promise(resolve => setTimeout(resolve, 1))
parentPort.on('message', async ({ id, prefix, now, limit, report }) => {
  let removed = 0
  try {
    for (let after = prefix; ;) {
      const last = pageEnd.get(after, limit)?.last
      if (!last) break
      if (report) {
        const ended = pageSweepReturning.all(after, last, now, prefix.length, prefix).map(row => [row.key, row.user_id == null ? null : String(row.user_id)])
        removed += ended.length
        if (ended.length) parentPort.postMessage({ id, ended })
      }
      else removed += Number(pageSweep.run(after, last, now, prefix.length, prefix).changes)
      if (!last.startsWith(prefix)) break
      after = last
      await pause()
    }
    parentPort.postMessage({ id, removed })
  } catch (error) {
    parentPort.postMessage({ id, removed, error: String(error && error.message || error) })
  }
})
`
