// A minimal DevTools-protocol client for a server started with `--inspect=127.0.0.1:0`: used
// only by the growth test, to collect garbage before reading the server's memory, so that RSS
// compares live data rather than how far the heap happened to grow under load.
import { sleep } from './stats.mjs'

export async function connectInspector(output, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs
  let url
  while (!(url = output().match(/ws:\/\/127\.0\.0\.1:\d+\/[\w-]+/)?.[0])) {
    if (Date.now() > deadline) throw new Error(`no inspector URL in the server output:\n${output()}`)
    await sleep(50)
  }
  const socket = new WebSocket(url)
  await new Promise((resolve, reject) => {
    socket.addEventListener('open', resolve, { once: true })
    socket.addEventListener('error', reject, { once: true })
  })
  let id = 0
  const pending = new Map()
  socket.addEventListener('message', (event) => {
    const message = JSON.parse(String(event.data))
    if (message.id && pending.has(message.id)) {
      pending.get(message.id)(message)
      pending.delete(message.id)
    }
  })
  const send = (method, params = {}) => new Promise((resolve, reject) => {
    const my = ++id
    const timer = setTimeout(() => {
      pending.delete(my)
      reject(new Error(`inspector ${method} timed out`))
    }, 30_000)
    pending.set(my, (message) => {
      clearTimeout(timer)
      if (message.error) reject(new Error(`${method}: ${message.error.message}`))
      else resolve(message.result)
    })
    socket.send(JSON.stringify({ id: my, method, params }))
  })
  return {
    async collectGarbage() {
      await send('HeapProfiler.collectGarbage')
    },
    async memoryUsage() {
      const { result } = await send('Runtime.evaluate', { expression: 'JSON.stringify(process.memoryUsage())', returnByValue: true })
      return JSON.parse(result.value)
    },
    close() {
      socket.close()
    },
  }
}
