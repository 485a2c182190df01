// Summarizes a V8 CPU profile (`node --cpu-prof`) by self time: per function, and per source
// area (the module's own files, each package, Node internals, GC). Bundled server code is
// mapped back to its original source through the build's source maps where they exist.
import { existsSync, readFileSync } from 'node:fs'
import { readdir, readFile } from 'node:fs/promises'
import { SourceMap } from 'node:module'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const maps = new Map()

function sourceMapOf(file) {
  if (maps.has(file)) return maps.get(file)
  let map = null
  try {
    if (existsSync(`${file}.map`)) map = new SourceMap(JSON.parse(readFileSync(`${file}.map`, 'utf8')))
  }
  catch {
    map = null
  }
  maps.set(file, map)
  return map
}

/** Where a profiled function comes from: the original file when a source map tells. */
function locate(callFrame, root) {
  const { url, lineNumber, columnNumber } = callFrame
  if (!url) return { file: '', line: 0 }
  if (url.startsWith('node:')) return { file: url, line: lineNumber + 1 }
  let file
  try {
    file = url.startsWith('file:') ? fileURLToPath(url) : url
  }
  catch {
    return { file: url, line: lineNumber + 1 }
  }
  const map = sourceMapOf(file)
  const entry = map?.findEntry(lineNumber, columnNumber)
  if (entry?.originalSource) {
    const source = entry.originalSource.startsWith('file:') ? fileURLToPath(entry.originalSource) : resolve(dirname(file), entry.originalSource)
    return { file: relative(root, source), line: entry.originalLine + 1 }
  }
  return { file: relative(root, file), line: lineNumber + 1 }
}

/** The area a file belongs to: one of the module's files, a package, Node, or the engine. */
function areaOf(file, functionName) {
  if (!file) return functionName.startsWith('(') ? functionName : '(native / V8 builtins)'
  if (file.startsWith('node:')) return 'node: internals'
  const src = file.match(/(?:^|\/)(src\/runtime\/.*)$/)
  if (src) return `nuxt-server-session ${src[1]}`
  const pkg = file.match(/node_modules\/((?:@[^/]+\/)?[^/]+)/)
  if (pkg) return pkg[1]
  if (file.includes('.output/') || file.includes('bench/apps/')) return `app: ${file.replace(/^.*bench\/apps\//, '')}`
  return file
}

/**
 * `window` ({ from, to } in µs of the monotonic clock, as `process.hrtime.bigint() / 1000n`,
 * which V8's profiler timestamps also use on Linux) keeps only the samples taken meanwhile, so
 * start-up and session creation are left out.
 */
export async function summarizeProfile(dir, root, window) {
  const files = (await readdir(dir)).filter(f => f.endsWith('.cpuprofile'))
  if (files.length === 0) return { error: `no .cpuprofile written in ${dir}` }
  const profile = JSON.parse(await readFile(join(dir, files[0]), 'utf8'))
  const nodes = new Map(profile.nodes.map(n => [n.id, n]))
  const inWindow = (at) => {
    if (!window) return true
    return at >= window.from && at <= window.to
  }
  let windowed = 0
  let at = profile.startTime
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i] ?? 0
    if (inWindow(at)) windowed++
  }
  // Clocks that do not match would leave nothing: then the whole profile is used, and said so.
  const useWindow = Boolean(window) && windowed > 100
  const self = new Map()
  let total = 0
  at = profile.startTime
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i] ?? 0
    at += dt
    if (useWindow && !inWindow(at)) continue
    self.set(profile.samples[i], (self.get(profile.samples[i]) ?? 0) + dt)
    total += dt
  }
  const byFunction = new Map()
  const byArea = new Map()
  let idle = 0
  for (const [id, us] of self) {
    const { callFrame } = nodes.get(id)
    const name = callFrame.functionName || '(anonymous)'
    if (name === '(idle)') {
      idle += us
      continue
    }
    const where = locate(callFrame, root)
    const key = `${name} ${where.file}:${where.line}`
    const fn = byFunction.get(key) ?? { name, file: where.file, line: where.line, us: 0 }
    fn.us += us
    byFunction.set(key, fn)
    const area = areaOf(where.file, name)
    byArea.set(area, (byArea.get(area) ?? 0) + us)
  }
  const busy = total - idle
  const pct = us => Number(((100 * us) / busy).toFixed(1))
  return {
    file: relative(root, join(dir, files[0])),
    window: useWindow ? 'the timed reads only' : 'the whole process life (start-up and session creation included)',
    samples: useWindow ? windowed : profile.samples.length,
    totalMs: Math.round(total / 1000),
    busyMs: Math.round(busy / 1000),
    idlePct: Number(((100 * idle) / total).toFixed(1)),
    topFunctions: [...byFunction.values()].sort((a, b) => b.us - a.us).slice(0, 80).map(f => ({ name: f.name, where: f.file ? `${f.file}:${f.line}` : '', selfPct: pct(f.us) })),
    areas: [...byArea.entries()].sort((a, b) => b[1] - a[1]).slice(0, 40).map(([area, us]) => ({ area, selfPct: pct(us) })),
  }
}
