import {defineConfig} from 'vitest/config'

export default defineConfig({
  test: {
    disableConsoleIntercept: true,
    projects: [
      {
        extends: true,
        test: {
          // No build and no Docker: command classes run in-process (test/unit/base-command.test.ts).
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          testTimeout: 60_000,
          sequence: {groupOrder: 0},
        },
      },
      {
        extends: true,
        test: {
          // Spawn the built CLI (bin/run.js → dist/): run after `npm run build`.
          name: 'commands',
          include: ['test/commands/**/*.test.ts'],
          testTimeout: 60_000,
          sequence: {groupOrder: 0},
          globalSetup: ['test/helpers/built-cli-setup.ts'],
        },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          exclude: ['test/e2e/secrets-scan.test.ts', 'test/e2e/single-binary.test.ts'],
          sequence: {groupOrder: 1},
          // The e2e files share one Docker engine and the local registry: run them one after another.
          fileParallelism: false,
          testTimeout: 300_000,
          hookTimeout: 600_000,
          globalSetup: ['test/e2e/global-setup.ts'],
        },
      },
      {
        extends: true,
        test: {
          // The single executable (npm run test:e2e:binary sets AGNES_BIN).
          name: 'e2e-binary',
          include: ['test/e2e/single-binary.test.ts'],
          testTimeout: 300_000,
          hookTimeout: 600_000,
          globalSetup: ['test/e2e/global-setup.ts'],
        },
      },
      {
        extends: true,
        test: {
          // Reads everything the e2e files printed, so it runs after all of them.
          name: 'e2e-scan',
          include: ['test/e2e/secrets-scan.test.ts'],
          sequence: {groupOrder: 2},
        },
      },
    ],
  },
})
