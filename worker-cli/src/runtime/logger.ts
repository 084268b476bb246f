/** What the runtime needs of a logger; the CLI passes one that writes lines to stderr or a file. */
export interface Logger {
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

export function lineLogger(write: (line: string) => void = (l) => process.stderr.write(l)): Logger {
  const at = (level: string) => (msg: string) => write(`${new Date().toISOString()} ${level} ${msg}\n`);
  return { info: at('INFO'), warn: at('WARN'), error: at('ERROR') };
}

export const silentLogger: Logger = { info() {}, warn() {}, error() {} };
