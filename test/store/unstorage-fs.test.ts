import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createStorage } from 'unstorage'
import fsDriver from 'unstorage/drivers/fs'
import { UnstorageSessionStore } from 'nuxt-server-session/h3'
import { describeStoreConformance, unstorageRaw } from './conformance'

describeStoreConformance('UnstorageSessionStore over unstorage fs driver (temp dir, custom prefix)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nss-test-'))
  const storage = createStorage({ driver: fsDriver({ base: dir }) })
  return {
    store: new UnstorageSessionStore(storage, { prefix: 'nss-test-sessions' }),
    raw: unstorageRaw(storage),
    cleanup: async () => {
      await storage.dispose()
      await rm(dir, { recursive: true, force: true })
    },
  }
})
