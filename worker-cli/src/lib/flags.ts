import os from 'node:os';
import path from 'node:path';
import { Flags } from '@oclif/core';
import { DEFAULT_API_URL } from './api.js';

/** Flags that several commands share, with their environment variables and defaults. */

export const apiUrlFlag = Flags.string({
  description: 'URL of the Edge Executor API server',
  env: 'EDGE_API_URL',
  default: DEFAULT_API_URL,
  helpValue: 'URL',
});

export const apiUrlsFlag = Flags.string({
  description: 'URL of the API server; several, comma-separated, to fail over between replicas',
  env: 'EDGE_API_URL',
  default: DEFAULT_API_URL,
  helpValue: 'URL[,URL…]',
});

export const jsonFlag = Flags.boolean({ description: 'print one JSON document on stdout, nothing else' });

export const DEFAULT_STATE_DIR = path.join(os.homedir(), '.edge', 'worker');

export const stateDirFlag = Flags.string({
  description: 'folder for the worker pid file and local state',
  env: 'EDGE_STATE_DIR',
  default: DEFAULT_STATE_DIR,
  helpValue: 'DIR',
});
