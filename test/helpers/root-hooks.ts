import { removeTempDirs } from './databases.js';

/**
 * Root hooks for every run (.mocharc.json `require`). In a parallel run `afterAll` runs after each
 * test file, in the worker process that ran it; the files of one worker run one after the other.
 */
export const mochaHooks = {
  afterAll(): void {
    removeTempDirs();
  },
};
