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
