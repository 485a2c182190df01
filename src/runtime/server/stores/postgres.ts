import { DEFAULTS } from '../../defaults'
import { SessionConfigError, SessionRecordError } from '../core/errors'
import { isPlainObject, parseJsonValue } from '../core/store'
import type { SessionIndexEntry, SessionRecord, SessionStore, SessionWrite } from '../core/store'
import { indexFromRows, sweepInBatches } from './rows'
import type { SweptSession } from './rows'

/** Anything with node-postgres's `query(config)`: a `pg.Pool`, a `pg.Client`, a `PoolClient`. */
export interface PostgresQueryable {
  query: (config: { text: string, values?: unknown[], name?: string }) => Promise<{ rows: Record<string, unknown>[], rowCount: number | null }>
}

/** What the store uses of the `pg.Pool` it makes (no pg types in this package's own: `@types/pg` is the app's choice). */
interface MadePool extends PostgresQueryable {
  on: (event: 'error', listener: (error: Error) => void) => unknown
  end: () => Promise<void>
}

/** Options of {@link PostgresSessionStore}. */
export interface PostgresSessionStoreOptions {
  /**
   * Default idle timeout of the sessions kept here, in seconds, used when the `ttl` option of
   * `useSession` is not given.
   * @default 86400
   */
  ttl?: number
  /** The table's schema. @default 'public' */
  schema?: string
  /** The table. @default 'nss_sessions' */
  table?: string
  /**
   * Create the table and its indexes on first use when they do not exist. Turn it off where the
   * app's role may not create tables, and run the SQL of `PostgresSessionStore.schemaSql()` in a
   * migration instead.
   * @default true
   */
  createTable?: boolean
  /** Connections of the pool the store makes from a URL (not used with your own pool). @default 10 */
  poolSize?: number
  /**
   * TLS for the pool the store makes from a URL: `true` verifies the server's certificate,
   * `'no-verify'` encrypts without verifying it (a URL's `sslmode` works too).
   * @default false
   */
  tls?: boolean | 'no-verify'
  /**
   * For the pool the store makes from a URL, in ms: the longest an operation may take, half of
   * it waiting for a connection (`connectionTimeoutMillis`), half running on the server
   * (`statement_timeout` and `lock_timeout`, so the server cancels it). Keep it at most the
   * session's `storeTimeout`, which answers the request with a 503: then a write the client
   * was told failed cannot land later.
   * @default 5000 (the modules set it to `storeTimeout`)
   */
  timeout?: number
  /**
   * Named prepared statements (parsed once per connection). Turn them off behind PgBouncer in
   * transaction mode before 1.21, which cannot keep them (and see the README for the timeouts,
   * which PgBouncer does not pass on).
   * @default true
   */
  prepare?: boolean
  /** More node-postgres pool options (`pg.PoolConfig`) for the pool made from a URL. */
  poolOptions?: Record<string, unknown>
  /** The clock that decides whether a record has ended, in ms. Only for tests. @default Date.now */
  now?: () => number
}

/** The layout's version, kept as the table's comment so that a later release can migrate it. */
export const POSTGRES_SCHEMA_VERSION = 1
const COMMENT = `nuxt-server-session schema ${POSTGRES_SCHEMA_VERSION}`
/** Rows deleted per sweep statement (by the expiry index; a pause between statements). */
const SWEEP_BATCH = 1000

/**
 * PostgreSQL's `jsonb` cannot hold U+0000 nor a lone surrogate (both valid in a JS string, and
 * written by `JSON.stringify` as `\u0000` and `\udXXX` escapes). In the JSON text stored, such an
 * escape becomes U+F8FF `0` or U+F8FF `u` and the four hex digits, and U+F8FF itself U+F8FF `1`;
 * the other way round on the way back, so that every string, key or value, round-trips.
 */
const MARK = '\uF8FF'
const UNSTORABLE = /(?<!\\)((?:\\\\)*)\\u(0000|d[89a-f][\da-f]{2})/g
function _toStored(json: string): string {
  if (!json.includes(MARK) && !json.includes('\\u')) return json
  return json.replaceAll(MARK, `${MARK}1`).replace(UNSTORABLE, (_, slashes: string, code: string) => `${slashes}${MARK}${code === '0000' ? '0' : `u${code}`}`)
}
function _fromStored(json: string): string {
  if (!json.includes(MARK)) return json
  return json.replace(/\uF8FF(0|1|u[\da-f]{4})/g, (_, what: string) => what === '0' ? '\\u0000' : what === '1' ? MARK : `\\${what}`)
}
/** A key name as it is stored (for `data - keys`): JSON-escaped, escaped as above, unescaped. */
function _storedKey(key: string): string {
  return /[\0\uF8FF\uD800-\uDFFF]/.test(key) ? JSON.parse(_toStored(JSON.stringify(key))) as string : key
}

/**
 * A session store on PostgreSQL through node-postgres (`pg`): one row per session with the data
 * in a `jsonb` column, and one statement per operation. A read is one `SELECT`; a write is one
 * `UPDATE` that merges the changed and removed top-level keys into the stored data and writes
 * nothing to a destroyed, moved or expired row, so parallel requests changing different keys
 * all keep their change and an ended session is never brought back; `regenerate()` moves the row
 * in one statement (exactly one of two concurrent ones wins). A user's devices index is the set
 * of rows that name the user (an indexed column), so it changes with the session's own row.
 * Expired rows are deleted by `sweep()` in batches of 1000 along the index on the expiry.
 *
 * @example
 * ```ts
 * new PostgresSessionStore('postgres://app@127.0.0.1:5432/app')
 * new PostgresSessionStore(pool, { schema: 'auth', table: 'sessions' }) // your own pg.Pool
 * ```
 */
export class PostgresSessionStore implements SessionStore {
  readonly ttl: number
  /** `"schema"."table"`, quoted. */
  readonly tableName: string
  private readonly schema: string
  private readonly table: string
  private readonly createTable: boolean
  private readonly prepare: boolean
  private readonly now: () => number
  private readonly sql: ReturnType<typeof _statements>
  private client?: PostgresQueryable
  private made?: MadePool
  private connecting?: Promise<PostgresQueryable>
  private ready?: Promise<void>
  private closed = false

  /**
   * @param source A `postgres://` URL (the store makes and owns a pool), your own `pg.Pool` or
   * `pg.Client` (yours to close), or a function that makes one on first use.
   */
  constructor(private readonly source: string | PostgresQueryable | (() => PostgresQueryable | Promise<PostgresQueryable>), private readonly options: PostgresSessionStoreOptions = {}) {
    if (typeof source !== 'string' && typeof source !== 'function' && typeof (source as PostgresQueryable | undefined)?.query !== 'function') {
      throw new TypeError('[nuxt-server-session] PostgresSessionStore needs a postgres:// URL or a node-postgres Pool or Client.')
    }
    if (typeof source === 'string' && !/^postgres(?:ql)?:\/\//.test(source)) {
      throw new SessionConfigError('PostgresSessionStore needs a postgres:// or postgresql:// URL (NUXT_SESSION_POSTGRES_URL).')
    }
    ;({ schema: this.schema, table: this.table, tableName: this.tableName } = _names(options))
    this.ttl = options.ttl ?? DEFAULTS.ttl
    this.createTable = options.createTable ?? true
    this.prepare = options.prepare ?? true
    this.now = options.now ?? Date.now
    this.sql = _statements(this.tableName, this.table)
    if (typeof source === 'object') this.client = source
  }

  /**
   * The SQL that creates the table and its indexes (what the store runs on first use with
   * `createTable`), for a migration.
   */
  static schemaSql(options: Pick<PostgresSessionStoreOptions, 'schema' | 'table'> = {}): string {
    const { table, tableName } = _names(options)
    return _schemaSql(tableName, table)
  }

  /** The client the store uses; a pool made from the URL on first use (`pg` is loaded only then). */
  pool(): Promise<PostgresQueryable> {
    if (this.client) return Promise.resolve(this.client)
    const { source } = this
    this.connecting ??= (typeof source === 'function'
      ? Promise.resolve(source())
      : import('pg').then((module) => {
          const { Pool } = ((module as { default?: unknown }).default ?? module) as { Pool: new (config: Record<string, unknown>) => MadePool }
          // Waiting for a connection, then running: each half, so that both end within it.
          const half = Math.max(1, Math.floor((this.options.timeout ?? DEFAULTS.storeTimeout) / 2))
          const tls = this.options.tls
          const pool = new Pool({
            connectionString: source as string,
            max: this.options.poolSize ?? 10,
            connectionTimeoutMillis: half,
            // The server cancels a statement still running when the request was answered 503.
            statement_timeout: half,
            lock_timeout: half,
            idle_in_transaction_session_timeout: half,
            application_name: 'nuxt-server-session',
            ...(tls ? { ssl: tls === 'no-verify' ? { rejectUnauthorized: false } : {} } : {}),
            ...this.options.poolOptions,
          })
          // An idle connection that breaks (a restart, a cut) is dropped and replaced on demand;
          // the failing queries carry the error, and nothing takes the process down.
          pool.on('error', () => {})
          this.made = pool
          if (this.closed) void pool.end()
          return pool
        })
    ).then((client) => {
      if (this.closed) throw new Error('PostgresSessionStore is closed')
      this.client = client
      return client
    }, (error: unknown) => {
      this.connecting = undefined
      throw error
    })
    return this.connecting
  }

  /**
   * Connects and checks the table (creating it when allowed), as the first operation would;
   * rejects with the reason (a `SessionConfigError` naming the setting, for a wrong password,
   * database, schema or grant). The modules call it at start, to say so in the log at once.
   */
  async check(): Promise<void> {
    await this._query('nss_get', this.sql.get, [''])
  }

  /** Closes a pool this store made (from a URL or a function); a pool you passed in is yours to close. */
  async close(): Promise<void> {
    if (typeof this.source === 'object') return
    this.closed = true
    await this.made?.end().catch(() => {})
  }

  async get(key: string): Promise<SessionRecord | undefined> {
    const { rows } = await this._query('nss_get', this.sql.get, [key])
    return rows[0] ? _decode(rows[0]) : undefined
  }

  async getMany(keys: readonly string[]): Promise<(SessionRecord | undefined)[]> {
    if (keys.length === 0) return []
    const { rows } = await this._query('nss_get_many', this.sql.getMany, [keys])
    const byKey = new Map(rows.map(row => [row.key as string, row]))
    return keys.map((key) => {
      const row = byKey.get(key)
      if (!row) return undefined
      try {
        return _decode(row)
      }
      catch (error) {
        if (error instanceof SessionRecordError) return undefined
        throw error
      }
    })
  }

  async set(key: string, record: SessionRecord, write: SessionWrite): Promise<boolean> {
    const times = [record.createdAt, record.touchedAt, record.expiresAt, record.userId ?? null]
    if (write.create) {
      await this._query('nss_create', this.sql.create, [key, ...times, _toStored(_dataText(record, write))])
      return true
    }
    if (write.changed.length === 0 && write.removed.length === 0) {
      const { rowCount } = await this._query('nss_touch', this.sql.touch, [key, record.touchedAt, record.expiresAt, record.userId ?? null, this.now()])
      return rowCount === 1
    }
    const { rowCount } = await this._query('nss_update', this.sql.update, [key, ...times.slice(1), ..._changes(record, write), this.now()])
    return rowCount === 1
  }

  async move(from: string, to: string, record: SessionRecord, write: SessionWrite): Promise<boolean> {
    const { rowCount } = await this._query('nss_move', this.sql.move, [from, to, record.createdAt, record.touchedAt, record.expiresAt, record.userId ?? null, ..._changes(record, write), this.now()])
    return rowCount === 1
  }

  /** Any two keys: a row moves within one table. */
  sameSlot(): boolean {
    return true
  }

  async delete(key: string): Promise<void> {
    await this._query('nss_delete', this.sql.delete, [key])
  }

  /**
   * Marks the session's row as the user's, in one statement (a function the table comes with):
   * under a lock per user, a sign-in is stamped at least 1 ms after the user's latest sign-in,
   * which it sees committed, so that on any number of instances sign-ins are ordered as they
   * reached the database and `maxSessionsPerUser` holds. A row already the user's (moved by
   * `regenerate()`) keeps its sign-in time and label.
   */
  async indexAdd(userKey: string, _handle: string, entry: SessionIndexEntry, _ttl?: number, _options?: { signIn?: boolean }): Promise<void> {
    await this._query('nss_index_add', this.sql.indexAdd, [entry.key, userKey, entry.createdAt, entry.label ?? null, this.now()])
  }

  async indexList(userKey: string): Promise<Record<string, SessionIndexEntry>> {
    const { rows } = await this._query('nss_index_list', this.sql.indexList, [userKey])
    return indexFromRows(rows.map(row => ({ key: row.key as string, signedInAt: row.signed_in_at === null ? null : Number(row.signed_in_at), label: row.label as string | null })))
  }

  async indexRemove(userKey: string, handles: readonly string[], _ttl?: number): Promise<void> {
    if (handles.length) await this._query('nss_index_remove', this.sql.indexRemove, [userKey, handles])
  }

  /**
   * Deletes the rows that expired before now, `SWEEP_BATCH` at a time along the expiry index
   * (rows another sweeper holds are skipped, not waited for), with a pause between statements;
   * resolves to how many went.
   */
  sweep(onBatch?: (removed: number) => void, onExpired?: SweptSession): Promise<number> {
    const now = this.now()
    return sweepInBatches(async () => {
      const { rows, rowCount } = await this._query('nss_sweep', this.sql.sweep, [now, SWEEP_BATCH])
      if (onExpired) for (const row of rows) onExpired(row.key as string, typeof row.user_id === 'string' ? row.user_id : undefined)
      onBatch?.(rowCount ?? 0)
      return { removed: rowCount ?? 0, more: rowCount === SWEEP_BATCH }
    })
  }

  /** One statement, once the table is known to be there (the first call checks, or creates it). */
  private async _query(name: string, text: string, values: unknown[]): Promise<{ rows: Record<string, unknown>[], rowCount: number | null }> {
    const client = this.client ?? await this.pool()
    if (this.ready === undefined) {
      this.ready = this._ensureTable(client)
      this.ready.catch(() => {
        this.ready = undefined
      })
    }
    await this.ready
    try {
      return await client.query(this.prepare ? { name: `${name} ${this.tableName}`, text, values } : { text, values })
    }
    catch (error) {
      throw _explain(error, this.tableName)
    }
  }

  /** Checks the table's layout version; creates the table first when allowed and missing. */
  private async _ensureTable(client: PostgresQueryable): Promise<void> {
    // The table's row and its comment are read with one snapshot: to_regclass alone looks at the
    // latest catalog, so a table another instance commits during this statement would show as
    // present with its comment not yet visible (and fail the check below).
    const describe = () => client.query({ text: 'SELECT d.description AS comment, c.oid IS NOT NULL AS present FROM (SELECT to_regclass($1) AS oid) r LEFT JOIN pg_class c ON c.oid = r.oid LEFT JOIN pg_description d ON d.objoid = c.oid AND d.classoid = \'pg_class\'::regclass AND d.objsubid = 0', values: [this.tableName] })
    try {
      let { rows: [row] } = await describe()
      if (!row?.present && this.createTable) {
        // One simple query is one transaction; under its advisory lock, instances starting
        // together create the table once (a failure rolls all of it back).
        await client.query({ text: `SELECT pg_advisory_xact_lock(hashtextextended(${_literal(`nuxt-server-session:${this.tableName}`)}, 0)); ${_schemaSql(this.tableName, this.table)}` })
        ;({ rows: [row] } = await describe())
      }
      if (!row?.present) {
        throw new SessionConfigError(`The sessions table ${this.tableName} does not exist: run the SQL of PostgresSessionStore.schemaSql() (README, "PostgreSQL") in a migration, or leave createTable on.`)
      }
      if (row.comment !== COMMENT) {
        const found = /^nuxt-server-session schema (\d+)$/.exec(String(row.comment ?? ''))?.[1]
        throw new SessionConfigError(found
          ? `The sessions table ${this.tableName} has layout ${found}; this release of nuxt-server-session reads layout ${POSTGRES_SCHEMA_VERSION}.`
          : `The table ${this.tableName} is not a nuxt-server-session sessions table (its comment is not "${COMMENT}"): choose another table name, or create it with PostgresSessionStore.schemaSql().`)
      }
    }
    catch (error) {
      throw _explain(error, this.tableName)
    }
  }
}

/** The schema and table, checked to be plain identifiers (they are written into the SQL), and `"schema"."table"`. */
function _names(options: Pick<PostgresSessionStoreOptions, 'schema' | 'table'>): { schema: string, table: string, tableName: string } {
  const schema = options.schema || 'public'
  const table = options.table || 'nss_sessions'
  for (const [what, name] of [['schema', schema], ['table', table]] as const) {
    if (!/^[a-z_][\w$]{0,62}$/i.test(name)) throw new SessionConfigError(`PostgresSessionStore \`${what}\` must be a plain SQL identifier (letters, digits, _ and $; at most 63), not ${JSON.stringify(name)}.`)
  }
  return { schema, table, tableName: `"${schema}"."${table}"` }
}

/** The statements, each with the table in it (identifiers cannot be parameters). */
function _statements(t: string, _table: string) {
  const columns = 'key, created_at, touched_at, expires_at, user_id, data::text AS data'
  return {
    get: `SELECT ${columns} FROM ${t} WHERE key = $1`,
    getMany: `SELECT ${columns} FROM ${t} WHERE key = ANY($1::text[])`,
    // A new record replaces whatever was under its key, devices entry included.
    create: `INSERT INTO ${t} AS s (key, created_at, touched_at, expires_at, user_id, data) VALUES ($1, $2, $3, $4, $5, $6::jsonb)
      ON CONFLICT (key) DO UPDATE SET created_at = EXCLUDED.created_at, touched_at = EXCLUDED.touched_at, expires_at = EXCLUDED.expires_at,
      user_id = EXCLUDED.user_id, data = EXCLUDED.data, user_key = NULL, signed_in_at = NULL, label = NULL`,
    touch: `UPDATE ${t} SET touched_at = $2, expires_at = $3, user_id = $4 WHERE key = $1 AND expires_at > $5`,
    // `-` drops the removed keys, `||` replaces the changed ones at the top level: a merge.
    update: `UPDATE ${t} SET touched_at = $2, expires_at = $3, user_id = $4, data = (data - $5::text[]) || $6::jsonb WHERE key = $1 AND expires_at > $7`,
    // Two concurrent moves of one row: the second DELETE waits for the first, then finds no
    // row, so it inserts nothing.
    move: `WITH old AS (DELETE FROM ${t} WHERE key = $1 AND expires_at > $9 RETURNING data, user_key, signed_in_at, label)
      INSERT INTO ${t} (key, created_at, touched_at, expires_at, user_id, data, user_key, signed_in_at, label)
      SELECT $2, $3, $4, $5, $6, (old.data - $7::text[]) || $8::jsonb, old.user_key, old.signed_in_at, old.label FROM old
      ON CONFLICT (key) DO UPDATE SET created_at = EXCLUDED.created_at, touched_at = EXCLUDED.touched_at, expires_at = EXCLUDED.expires_at,
      user_id = EXCLUDED.user_id, data = EXCLUDED.data, user_key = EXCLUDED.user_key, signed_in_at = EXCLUDED.signed_in_at, label = EXCLUDED.label`,
    delete: `DELETE FROM ${t} WHERE key = $1`,
    // One statement: the function takes the user's lock, then updates (see _schemaSql).
    indexAdd: `SELECT ${_signInFunction(t)}($1, $2, $3, $4, $5)`,
    indexList: `SELECT key, signed_in_at, label FROM ${t} WHERE user_key = $1 ORDER BY signed_in_at, key`,
    indexRemove: `UPDATE ${t} SET user_key = NULL, signed_in_at = NULL, label = NULL WHERE user_key = $1 AND right(key, 24) = ANY($2::text[])`,
    sweep: `DELETE FROM ${t} WHERE key IN (SELECT key FROM ${t} WHERE expires_at < $1 ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED) RETURNING key, user_id`,
  }
}

/** The function that marks a row as a user's sign-in: `"schema"."<table>_sign_in"`. */
function _signInFunction(t: string): string {
  return t.replace(/"$/, '_sign_in"')
}

function _schemaSql(t: string, table: string): string {
  return `CREATE TABLE IF NOT EXISTS ${t} (
  key text PRIMARY KEY,                     -- sha-256 (hex) of the session id, never the id
  created_at double precision NOT NULL,     -- ms since the epoch (a JS number, exactly)
  touched_at double precision NOT NULL,
  expires_at double precision NOT NULL,     -- the earlier of the idle and the absolute deadline
  user_id text,                             -- signInSession's user
  data jsonb NOT NULL,
  user_key text,                            -- devices index: a hash of the user id
  signed_in_at double precision,
  label text
);
CREATE INDEX IF NOT EXISTS "${table}_expires_at" ON ${t} (expires_at);
CREATE INDEX IF NOT EXISTS "${table}_user_key" ON ${t} (user_key) WHERE user_key IS NOT NULL;
-- A user's sign-ins one at a time (an advisory lock per user), each stamped after the one before
-- it: the statement after the lock sees the previous sign-in committed, which one UPDATE cannot.
CREATE OR REPLACE FUNCTION ${_signInFunction(t)}(p_key text, p_user text, p_at double precision, p_label text, p_now double precision)
RETURNS void LANGUAGE plpgsql VOLATILE AS $fn$
BEGIN
  PERFORM pg_advisory_xact_lock(hashtextextended('nuxt-server-session:' || p_user, 0));
  UPDATE ${t} SET
    signed_in_at = CASE WHEN user_key = p_user AND signed_in_at IS NOT NULL THEN signed_in_at
      ELSE GREATEST(p_at, COALESCE((SELECT max(o.signed_in_at) FROM ${t} o WHERE o.user_key = p_user), 0) + 1) END,
    label = CASE WHEN user_key = p_user AND signed_in_at IS NOT NULL THEN label ELSE p_label END,
    user_key = p_user
  WHERE key = p_key AND expires_at > p_now;
END
$fn$;
COMMENT ON TABLE ${t} IS '${COMMENT}';
`
}

function _literal(text: string): string {
  return `'${text.replaceAll('\'', '\'\'')}'`
}

/** The data's JSON text: from the record's encoding when the caller has it (the data is its last member). */
function _dataText(record: SessionRecord, write: SessionWrite): string {
  const { encoded } = write
  if (encoded) {
    // A quote inside a JSON string is always escaped, so the first `,"data":` is the member.
    const at = encoded.indexOf(',"data":')
    if (at !== -1) return encoded.slice(at + 8, -1)
  }
  return JSON.stringify(record.data)
}

/** The removed keys (as stored) and the changed keys' new values (a JSON object), for a merge. */
function _changes(record: SessionRecord, write: SessionWrite): [string[], string] {
  const changed = Object.fromEntries(write.changed.map(k => [k, record.data[k]] as const))
  return [write.removed.map(_storedKey), _toStored(JSON.stringify(changed))]
}

function _decode(row: Record<string, unknown>): SessionRecord {
  const data = typeof row.data === 'string' ? parseJsonValue(_fromStored(row.data)) : undefined
  const [createdAt, touchedAt, expiresAt] = [row.created_at, row.touched_at, row.expires_at].map(Number) as [number, number, number]
  if (!isPlainObject(data) || ![createdAt, touchedAt, expiresAt].every(n => Number.isFinite(n) && n >= 0)) throw new SessionRecordError()
  const userId = row.user_id
  if (userId !== null && userId !== undefined && typeof userId !== 'string') throw new SessionRecordError()
  return { createdAt, touchedAt, expiresAt, data, ...(typeof userId === 'string' ? { userId } : {}) }
}

/**
 * The causes a person can act on, said with the setting to change (and never the password,
 * which PostgreSQL's messages do not carry): the rest passes as it is, a 503 for the request.
 */
function _explain(error: unknown, table: string): unknown {
  const code = (error as { code?: unknown })?.code
  const message = String((error as Error)?.message ?? error)
  const explain = (text: string) => {
    const failed = new SessionConfigError(text)
    failed.cause = error
    return failed
  }
  if (code === undefined && /^SASL: |password must be a string/.test(message)) {
    return explain(`PostgreSQL asks for a password the URL does not give (${message}): put it in NUXT_SESSION_POSTGRES_URL (session.postgres.url).`)
  }
  switch (code) {
    case '08P01':
      if (!message.startsWith('unsupported startup parameter')) return error
      return explain(`A connection pooler refused a setting the store sends (${message}): behind PgBouncer in transaction mode, add statement_timeout, lock_timeout, idle_in_transaction_session_timeout to its ignore_startup_parameters, set those timeouts on the role instead (ALTER ROLE ... SET statement_timeout = ...), and set NUXT_SESSION_POSTGRES_PREPARE=false (session.postgres.prepare) before PgBouncer 1.21.`)
    case '42883':
      return explain(`The sessions table ${table} lacks its sign-in function (${message}): run PostgresSessionStore.schemaSql() again (README, "PostgreSQL"), or leave createTable on.`)
    case '28P01':
    case '28000':
      return explain(`PostgreSQL refused the login (${message}): check the user and password in NUXT_SESSION_POSTGRES_URL (session.postgres.url).`)
    case '3D000':
      return explain(`PostgreSQL has no such database (${message}): check the database name in NUXT_SESSION_POSTGRES_URL (session.postgres.url), or create it.`)
    case '3F000':
      return explain(`PostgreSQL has no such schema (${message}): create it, or set session.postgres.schema (NUXT_SESSION_POSTGRES_SCHEMA) to one that exists.`)
    case '42501':
      return explain(`PostgreSQL denied the sessions table ${table} to this user (${message}): grant it, or run PostgresSessionStore.schemaSql() in a migration and turn createTable off.`)
    default:
      return error
  }
}
