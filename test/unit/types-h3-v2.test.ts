import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { run } from '../support/process'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

describe('[nuxt-server-session] types on h3 2 (h3 2.0.8 through the h3-v2 alias)', () => {
  it('type-checks the seed usage, sessionAutoSave and the devices helpers where `h3` is h3 2; event.context.sessionHandler is the session', async () => {
    const result = await run(process.execPath, [`${ROOT}node_modules/typescript/bin/tsc`, '-p', 'test/types/h3-v2/tsconfig.json'], { cwd: ROOT, timeout: 120_000 })
    expect(result.output).toBe('')
    expect(result.code).toBe(0)
  }, 130_000)
})
