import { Flags } from '@oclif/core';
import type { MessageInitShape } from '@bufbuild/protobuf';
import type { JobSpecSchema } from '../../../gen/edge/v1/job_pb.js';
import { DEFAULT_QUEUE } from '../../../shared/names.js';
import { parseKeyValues } from './key-values.js';
import { secretsFromFlags } from './secret-flags.js';

/** The flags that describe a job, shared by `edge job submit` and `edge run`. */
export const jobSpecFlags = {
  cwd: Flags.string({ description: 'working directory on the worker' }),
  env: Flags.string({ char: 'e', description: 'environment variable for the job (repeatable)', multiple: true, helpValue: 'KEY=VALUE' }),
  label: Flags.string({ char: 'l', description: 'label for the job (repeatable)', multiple: true, helpValue: 'KEY=VALUE' }),
  'max-attempts': Flags.integer({ description: 'attempts allowed in all', default: 1, min: 1 }),
  priority: Flags.integer({ char: 'p', description: 'higher runs first', default: 0 }),
  queue: Flags.string({ char: 'q', description: 'queue of the job', default: DEFAULT_QUEUE }),
  secret: Flags.string({
    description:
      'pass your environment variable NAME to the job as a secret: stored encrypted, never shown, masked as [masked] in its log (repeatable). ' +
      'The value is read from your environment, never from the command line, which ps shows to every user',
    multiple: true,
    helpValue: 'NAME',
  }),
  'secret-file': Flags.string({
    description: "a secret whose value is a file's content (one trailing newline dropped), set as NAME for the job (repeatable)",
    multiple: true,
    helpValue: 'NAME=PATH',
  }),
  slots: Flags.integer({ description: 'concurrency slots the job takes on its worker', default: 1, min: 1 }),
  timeout: Flags.integer({ description: 'run time limit in seconds (0: none)', default: 0, min: 0 }),
};

export interface JobSpecFlagValues {
  cwd?: string;
  env?: string[];
  label?: string[];
  'max-attempts': number;
  priority: number;
  queue: string;
  secret?: string[];
  'secret-file'?: string[];
  slots: number;
  timeout: number;
}

/** The spec the flags and the command after "--" describe; throws on a malformed KEY=VALUE or a secret it cannot read. */
export function specFromFlags(flags: JobSpecFlagValues, argv: string[]): MessageInitShape<typeof JobSpecSchema> {
  return {
    queue: flags.queue,
    argv,
    env: parseKeyValues('env', flags.env),
    labels: parseKeyValues('label', flags.label),
    secretEnv: secretsFromFlags(flags.secret, flags['secret-file']),
    cwd: flags.cwd ?? '',
    slots: flags.slots,
    priority: flags.priority,
    timeoutSeconds: flags.timeout,
    maxAttempts: flags['max-attempts'],
  };
}
