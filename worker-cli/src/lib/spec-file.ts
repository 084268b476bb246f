import fs from 'node:fs';
import { fromJson, type JsonValue, type MessageInitShape } from '@bufbuild/protobuf';
import { LineCounter, parseAllDocuments, isSeq, type Node } from 'yaml';
import { JobSpecSchema } from '../../../gen/edge/v1/job_pb.js';

/** A job spec read from a file, with the line it starts on (1-based) for error messages. */
export interface SpecAtLine {
  line: number;
  spec: MessageInitShape<typeof JobSpecSchema>;
}

/** A spec file that cannot be read; the message names the file and line. */
export class SpecFileError extends Error {}

/**
 * Reads job specs from JSON Lines (one JobSpec object per line) or YAML (a list of JobSpec maps, or
 * one map per document). Fields are those of JobSpec in its JSON form: argv, queue, env, cwd, slots,
 * priority, timeoutSeconds, maxAttempts, labels (snake_case names work too). The whole file is
 * checked before anything is submitted.
 */
export function readSpecFile(file: string, format?: 'jsonl' | 'yaml'): SpecAtLine[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new SpecFileError(`cannot read ${file}: ${(err as Error).message}`);
  }
  const kind = format ?? (/\.ya?ml$/i.test(file) ? 'yaml' : 'jsonl');
  const raw = kind === 'yaml' ? yamlSpecs(file, text) : jsonLinesSpecs(file, text);
  if (!raw.length) throw new SpecFileError(`${file} holds no job spec`);
  return raw.map(({ line, value }) => ({ line, spec: toSpec(file, line, value) }));
}

function jsonLinesSpecs(file: string, text: string): { line: number; value: unknown }[] {
  const out: { line: number; value: unknown }[] = [];
  text.split('\n').forEach((l, i) => {
    if (!l.trim()) return;
    try {
      out.push({ line: i + 1, value: JSON.parse(l) });
    } catch (err) {
      throw new SpecFileError(`${file}:${i + 1}: not a JSON object: ${(err as Error).message}`);
    }
  });
  return out;
}

function yamlSpecs(file: string, text: string): { line: number; value: unknown }[] {
  const lineCounter = new LineCounter();
  const out: { line: number; value: unknown }[] = [];
  const lineOf = (node: Node | null | undefined) => (node?.range ? lineCounter.linePos(node.range[0]).line : 1);
  for (const doc of parseAllDocuments(text, { lineCounter })) {
    if (!('errors' in doc)) continue; // an empty stream
    const first = doc.errors[0];
    if (first) throw new SpecFileError(`${file}:${first.linePos?.[0].line ?? '?'}: not valid YAML: ${first.message.split('\n')[0]}`);
    if (doc.contents === null) continue;
    if (isSeq(doc.contents)) {
      const values = doc.toJS() as unknown[];
      doc.contents.items.forEach((item, i) => out.push({ line: lineOf(item as Node), value: values[i] }));
    } else out.push({ line: lineOf(doc.contents), value: doc.toJS() });
  }
  return out;
}

function toSpec(file: string, line: number, value: unknown): MessageInitShape<typeof JobSpecSchema> {
  const where = `${file}:${line}`;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new SpecFileError(`${where}: a job spec must be an object, e.g. {"argv": ["echo", "hi"]}`);
  let spec;
  try {
    spec = fromJson(JobSpecSchema, value as JsonValue);
  } catch (err) {
    throw new SpecFileError(`${where}: ${(err as Error).message}`);
  }
  if (!spec.argv.length) throw new SpecFileError(`${where}: argv is missing or empty: give the command, e.g. "argv": ["echo", "hi"]`);
  return spec;
}
