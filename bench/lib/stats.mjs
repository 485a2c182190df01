import { readFile } from 'node:fs/promises'

export function median(values) {
  const list = values.filter(v => typeof v === 'number' && Number.isFinite(v)).sort((a, b) => a - b)
  if (list.length === 0) return null
  const mid = Math.floor(list.length / 2)
  return list.length % 2 ? list[mid] : (list[mid - 1] + list[mid]) / 2
}

export function range(values) {
  const list = values.filter(v => typeof v === 'number' && Number.isFinite(v))
  return list.length ? [Math.min(...list), Math.max(...list)] : null
}

export const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

/** CPU time of a process (all its threads), in ms: utime + stime from /proc/<pid>/stat (USER_HZ 100). */
export async function cpuMs(pid) {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) * 10 || 0
}
