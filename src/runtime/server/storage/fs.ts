import type { Driver } from 'unstorage'

/**
 * The unstorage driver behind the default `session` mount on server presets: one small file per
 * key under `base` (`sess:ab12` is `<base>/sess/ab12`), read and written with synchronous calls
 * and overwritten in place.
 *
 * Why not unstorage's fs drivers: `fs.promises.readFile` costs 130-180 µs of CPU for a file of a
 * few hundred bytes (four thread-pool round trips), and truncating a file before rewriting it
 * costs the file system a block release and allocation each time (60-90 µs); see
 * bench/fs-calls.mjs. Here a read is
 * one `readFileSync` (about 6 µs on a local disk) and an update (`updateItem`) one read and one
 * `pwrite` over the old bytes on one open file, never a truncation in the common case; `setItem`
 * writes a whole new file. Like PHP's file sessions, it blocks the
 * event loop for those microseconds: keep `base` on a local disk.
 *
 * A file holds `nss1 <checksum> <length>\n<value>` and, after a shorter rewrite, spaces. Readers
 * in this process never see a half-written file (every call is synchronous); a reader in another
 * process that catches a write midway sees a checksum mismatch, reads again, and after three
 * tries gets the bytes as they are, which the session store rejects as a corrupt record.
 *
 * Needs Node's `fs` and `path` (Node, Bun, Deno), reached through `process.getBuiltinModule`
 * so that importing this file is harmless elsewhere.
 */

const DRIVER_NAME = 'nuxt-server-session-fs'
const MAGIC = 'nss1 '
const SPACE = 0x20
/** A file this much larger than its content, and at least twice its size, is cut back. */
const SLACK_LIMIT = 4096

interface NodeFs {
  readFileSync: (path: string, encoding: 'utf8') => string
  openSync: (path: string, flags: string) => number
  fstatSync: (fd: number) => { size: number }
  writeSync: (fd: number, buffer: Uint8Array, offset: number, length: number, position: number) => number
  readSync: (fd: number, buffer: Uint8Array, offset: number, length: number, position: number) => number
  ftruncateSync: (fd: number, length: number) => void
  closeSync: (fd: number) => void
  mkdirSync: (path: string, options: { recursive: true }) => unknown
  unlinkSync: (path: string) => void
  existsSync: (path: string) => boolean
  readdirSync: (path: string, options: { withFileTypes: true }) => { name: string, isDirectory: () => boolean, isFile: () => boolean }[]
  rmSync: (path: string, options: { recursive: true, force: true }) => void
}
interface NodePath {
  resolve: (...paths: string[]) => string
  dirname: (path: string) => string
}

export interface SessionFsDriverOptions {
  /** The directory, resolved against the working directory. */
  base: string
}

function nodeModules(): { fs: NodeFs, path: NodePath } {
  const get = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process?.getBuiltinModule
  const fs = typeof get === 'function' ? get('node:fs') as NodeFs | undefined : undefined
  const path = typeof get === 'function' ? get('node:path') as NodePath | undefined : undefined
  if (!fs || !path) throw new Error(`[nuxt-server-session] The ${DRIVER_NAME} storage driver needs a file system (Node, Bun or Deno). Mount another driver for the session storage on this runtime.`)
  return { fs, path }
}

/** FNV-1a over the UTF-16 code units: cheap, and enough to catch a torn read. */
function checksum(text: string): string {
  let hash = 0x811C9DC5
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193)
  }
  return (hash >>> 0).toString(16).padStart(8, '0')
}

/** The value in a file's text, or `undefined` when the text is not a whole, intact record. */
function unwrap(text: string): string | undefined {
  if (!text.startsWith(MAGIC)) return undefined
  const newline = text.indexOf('\n', MAGIC.length)
  if (newline < 0) return undefined
  const [sum, length] = text.slice(MAGIC.length, newline).split(' ')
  const value = text.slice(newline + 1, newline + 1 + Number(length))
  return value.length === Number(length) && checksum(value) === sum ? value : undefined
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** The driver, with the one operation unstorage has no word for. */
export interface SessionFsDriver extends Driver {
  /**
   * Reads a value, lets `change` compute the next one and writes it, in one synchronous step on
   * one open file: no other request of this process can come in between. `change` gets `null`
   * for a missing key and returns the new value, or `undefined` to write nothing.
   */
  updateItem: (key: string, change: (current: string | null) => string | undefined) => void
}

export default function sessionFsDriver(options: SessionFsDriverOptions): SessionFsDriver {
  if (!options?.base) throw new Error(`[nuxt-server-session] The ${DRIVER_NAME} storage driver needs a \`base\` directory.`)
  const { fs, path } = nodeModules()
  const base = path.resolve(options.base)

  const fileOf = (key: string): string => {
    const segments = key.split(':').filter(Boolean)
    if (segments.some(s => s === '.' || s === '..' || s.includes('/') || s.includes('\\'))) {
      throw new Error(`[nuxt-server-session] Invalid storage key for ${DRIVER_NAME}: it must not contain "." or ".." segments or slashes.`)
    }
    return path.resolve(base, ...segments)
  }

  const read = (key: string): string | null => {
    const file = fileOf(key)
    let text = ''
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        text = fs.readFileSync(file, 'utf8')
      }
      catch (error) {
        if ((error as { code?: string }).code === 'ENOENT') return null
        throw error
      }
      const value = unwrap(text)
      if (value !== undefined) return value
      // Not ours (a plain JSON file, as unstorage's fs drivers write): taken as it is.
      if (!text.startsWith(MAGIC)) return text
    }
    return text
  }

  /** `bytes` at the start of the file, however many calls the system takes for it. */
  const writeAll = (fd: number, bytes: Uint8Array): void => {
    for (let done = 0; done < bytes.length;) done += fs.writeSync(fd, bytes, done, bytes.length - done, done)
  }

  /** Writes `value` over the file open at `fd`, padded to its old length when shorter. */
  const writeTo = (fd: number, size: number, value: string): void => {
    const bytes = encoder.encode(`${MAGIC}${checksum(value)} ${value.length}\n${value}`)
    if (size > bytes.length && (size - bytes.length < SLACK_LIMIT || size < 2 * bytes.length)) {
      // Over the old bytes, padded to the old length: one write, no truncation.
      const padded = new Uint8Array(size).fill(SPACE)
      padded.set(bytes)
      writeAll(fd, padded)
    }
    else {
      writeAll(fd, bytes)
      if (size > bytes.length) fs.ftruncateSync(fd, bytes.length)
    }
  }

  /** The file open for reading and writing, or `undefined` when it does not exist. */
  const open = (file: string): number | undefined => {
    try {
      return fs.openSync(file, 'r+')
    }
    catch (error) {
      if ((error as { code?: string }).code !== 'ENOENT') throw error
      return undefined
    }
  }

  /** A whole new value (a new record): the file made or emptied, then written. Updates go through `update`. */
  const write = (key: string, value: string): void => {
    const file = fileOf(key)
    let fd: number
    try {
      fd = fs.openSync(file, 'w')
    }
    catch (error) {
      if ((error as { code?: string }).code !== 'ENOENT') throw error
      fs.mkdirSync(path.dirname(file), { recursive: true })
      fd = fs.openSync(file, 'w')
    }
    try {
      writeTo(fd, 0, value)
    }
    finally {
      fs.closeSync(fd)
    }
  }

  const update = (key: string, change: (current: string | null) => string | undefined): void => {
    const fd = open(fileOf(key))
    if (fd === undefined) {
      const next = change(null)
      if (next !== undefined) write(key, next)
      return
    }
    try {
      let size = 0
      let text = ''
      let current: string | undefined
      for (let attempt = 0; attempt < 3 && current === undefined; attempt++) {
        size = fs.fstatSync(fd).size
        const buffer = new Uint8Array(size)
        let read = 0
        while (read < size) {
          const n = fs.readSync(fd, buffer, read, size - read, read)
          if (n === 0) break
          read += n
        }
        text = decoder.decode(buffer.subarray(0, read))
        current = unwrap(text) ?? (text.startsWith(MAGIC) ? undefined : text)
      }
      const next = change(current ?? text)
      if (next !== undefined) writeTo(fd, size, next)
    }
    finally {
      fs.closeSync(fd)
    }
  }

  const entriesOf = (dir: string): ReturnType<NodeFs['readdirSync']> => {
    try {
      return fs.readdirSync(dir, { withFileTypes: true })
    }
    catch (error) {
      if ((error as { code?: string }).code === 'ENOENT' || (error as { code?: string }).code === 'ENOTDIR') return []
      throw error
    }
  }

  const keysUnder = (dir: string, prefix: string, depth: number | undefined, out: string[]): void => {
    for (const entry of entriesOf(dir)) {
      if (entry.isDirectory()) {
        if (depth === undefined || depth > 0) keysUnder(path.resolve(dir, entry.name), `${prefix}${entry.name}:`, depth === undefined ? undefined : depth - 1, out)
      }
      else if (entry.isFile()) out.push(prefix + entry.name)
    }
  }

  return {
    name: DRIVER_NAME,
    options,
    flags: { maxDepth: true },
    hasItem: key => fs.existsSync(fileOf(key)),
    getItem: key => read(key),
    setItem: (key, value) => write(key, String(value)),
    updateItem: update,
    removeItem: (key) => {
      try {
        fs.unlinkSync(fileOf(key))
      }
      catch (error) {
        if ((error as { code?: string }).code !== 'ENOENT') throw error
      }
    },
    getKeys: (prefix, opts) => {
      const out: string[] = []
      const start = prefix ? fileOf(prefix) : base
      const head = prefix ? `${prefix.split(':').filter(Boolean).join(':')}:` : ''
      keysUnder(start, head, opts?.maxDepth, out)
      return out
    },
    clear: () => {
      for (const entry of entriesOf(base)) fs.rmSync(path.resolve(base, entry.name), { recursive: true, force: true })
    },
  }
}
