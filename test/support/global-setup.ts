/**
 * The vitest global setup: provides every service the run needs before any test file starts (the
 * workers, forked afterwards, and the servers they spawn inherit `process.env`), and stops what it
 * started at the end. A missing piece stops the run at once with one line naming it.
 * A new service is one more `provide...()` in test/support/provide.ts, added below.
 */
import { fileURLToPath } from 'node:url'
import type { TestProject } from 'vitest/node'
import { provideChromium, providePgBouncer, providePostgres, provideRedis, SetupError } from './provide.ts'
import type { Provided } from './provide.ts'

/** The test files that drive Chromium. */
const BROWSER_TESTS = ['../e2e/browser.test.ts', '../e2e/pages.test.ts'].map(file => fileURLToPath(new URL(file, import.meta.url)))

/**
 * Whether this run includes a browser test: the file filters given on the command line (vitest
 * keeps them in `filenamePattern`), matched as vitest matches them; every file when there are none.
 */
async function runsBrowserTest(project: TestProject): Promise<boolean> {
  const filters = (project.vitest as unknown as { filenamePattern?: unknown }).filenamePattern
  if (!Array.isArray(filters) || filters.length === 0) return true
  const { testFiles } = await project.globTestFiles(filters as string[])
  return BROWSER_TESTS.some(file => testFiles.includes(file))
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started: Provided[] = []
  const stopAll = async () => {
    for (const service of started.reverse()) await service.stop()
  }
  try {
    started.push(await provideRedis())
    started.push(await providePostgres())
    started.push(await providePgBouncer())
    if (await runsBrowserTest(project)) started.push(await provideChromium())
  }
  catch (error) {
    await stopAll()
    if (error instanceof SetupError) {
      // One line, not vitest's report of an error in the global setup.
      process.stderr.write(`\n${error.message}\n\n`)
      process.exit(1)
    }
    throw error
  }
  return stopAll
}
