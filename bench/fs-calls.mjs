// `npx node bench/fs-calls.mjs`: the CPU cost of the file-system calls a session store can make
// for one small record (a 150-byte JSON file, 1,000 files in page cache), per call, on this
// machine. It backs the choices of the module's fs driver (src/runtime/server/storage/fs.ts):
// synchronous reads, and updates written in place rather than truncated and rewritten.
import fs from 'node:fs'
import fsp from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const dir = fileURLToPath(new URL('./.tmp/fs-calls', import.meta.url))
fs.rmSync(dir, { recursive: true, force: true })
fs.mkdirSync(dir, { recursive: true })
const files = Array.from({ length: 1000 }, (_, i) => join(dir, `f${i}`))
const body = JSON.stringify({ v: 1, createdAt: Date.now(), touchedAt: Date.now(), expiresAt: Date.now(), data: { visits: 12345, user: 'someone' } })
for (const file of files) fs.writeFileSync(file, body)

async function measure(name, count, call) {
  const before = process.cpuUsage()
  const start = performance.now()
  for (let i = 0; i < count; i++) await call(files[i % files.length], i)
  const cpu = process.cpuUsage(before)
  const wall = performance.now() - start
  console.log(`${name.padEnd(34)} ${((cpu.user + cpu.system) / count).toFixed(1).padStart(7)} µs CPU  ${(wall * 1000 / count).toFixed(1).padStart(7)} µs wall`)
}

await measure('read: fs.readFileSync', 20_000, file => fs.readFileSync(file, 'utf8'))
await measure('read: fs.promises.readFile', 20_000, file => fsp.readFile(file, 'utf8'))
await measure('update: open r+, pwrite, close', 5_000, (file) => {
  const fd = fs.openSync(file, 'r+')
  fs.writeSync(fd, body, 0)
  fs.closeSync(fd)
})
await measure('update: fs.writeFileSync (truncates)', 5_000, file => fs.writeFileSync(file, body))
await measure('update: fs.promises.writeFile', 5_000, file => fsp.writeFile(file, body))
await measure('update: temp file + rename', 5_000, (file) => {
  fs.writeFileSync(`${file}.tmp`, body)
  fs.renameSync(`${file}.tmp`, file)
})
fs.rmSync(dir, { recursive: true, force: true })
