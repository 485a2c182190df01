import type { SessionIndexEntry } from '../core/store'

/**
 * What the SQL stores (SQLite, PostgreSQL) share: one row per session, whose `user_key`,
 * `signed_in_at` and `label` columns are the user's devices index, so that the index changes in
 * the same statement as the session's row and an ended session leaves it with its row.
 */

/** A row of a user's index: the session's key (with any prefix), its sign-in time and label. */
export interface IndexRow {
  key: string
  signedInAt: number | null
  label: string | null
}

/**
 * The index entries of a user's rows, in their order, keyed by handle (the key's last 24 hex
 * digits), with `prefix` taken off each key.
 */
export function indexFromRows(rows: readonly IndexRow[], prefix = ''): Record<string, SessionIndexEntry> {
  const index: Record<string, SessionIndexEntry> = {}
  for (const row of rows) {
    if (!row.key.startsWith(prefix)) continue
    const key = row.key.slice(prefix.length)
    index[key.slice(-24)] = { key, createdAt: row.signedInAt ?? 0, ...(row.label ? { label: row.label } : {}) }
  }
  return index
}

/** Told of each session a sweep deleted: its store key (no prefix) and its user, if any. */
export type SweptSession = (key: string, userId: string | undefined) => void

const pause = () => new Promise<void>(resolve => setTimeout(resolve, 0))

/**
 * Runs one bounded sweep statement after another, with a pause between them so that requests
 * are served in between, until one says there is no more; resolves to how many rows went.
 */
export async function sweepInBatches(step: () => Promise<{ removed: number, more: boolean }>): Promise<number> {
  let removed = 0
  for (;;) {
    const batch = await step()
    removed += batch.removed
    if (!batch.more) return removed
    await pause()
  }
}
