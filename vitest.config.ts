import {defineConfig} from 'vitest/config'

export default defineConfig({
  test: {
    disableConsoleIntercept: true,
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts', 'test/commands/**/*.test.ts'],
          testTimeout: 20_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          // The e2e files share one Docker engine and the local registry: run them one after another.
          fileParallelism: false,
          testTimeout: 300_000,
          hookTimeout: 600_000,
          globalSetup: ['test/e2e/global-setup.ts'],
        },
      },
    ],
  },
})
