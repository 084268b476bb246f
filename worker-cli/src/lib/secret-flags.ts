import fs from 'node:fs';

/**
 * Secret values for a job, from where `ps` cannot see them: `--secret NAME` takes the value of the
 * caller's environment variable NAME, `--secret-file NAME=PATH` the content of a file (one trailing
 * newline dropped). A value written on the command line is refused, not used.
 */
export function secretsFromFlags(names: string[] | undefined, files: string[] | undefined, env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of names ?? []) {
    if (name.includes('=')) {
      throw new Error(`--secret takes a variable name, not NAME=VALUE: a value on the command line is visible to every user of this machine (ps); export ${name.slice(0, name.indexOf('='))} and give --secret ${name.slice(0, name.indexOf('='))}`);
    }
    const value = env[name];
    if (value === undefined || value === '') throw new Error(`--secret ${name}: the variable ${name} is not set (or empty) in this environment; export it first`);
    out[name] = value;
  }
  for (const item of files ?? []) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new Error(`--secret-file "${item}" must look like NAME=PATH`);
    const name = item.slice(0, eq);
    const file = item.slice(eq + 1);
    let value: string;
    try {
      value = fs.readFileSync(file, 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      throw new Error(`--secret-file ${name}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    if (!value) throw new Error(`--secret-file ${name}: ${file} is empty`);
    out[name] = value;
  }
  return out;
}
