/**
 * One line of status on stderr while something waits. On a terminal it is rewritten in place and
 * wiped before other output; otherwise each new text is printed once, as a plain line.
 */
export class StatusLine {
  private shown = '';
  private readonly tty: boolean;

  constructor(private readonly stream: NodeJS.WriteStream = process.stderr) {
    this.tty = Boolean(stream.isTTY);
  }

  set(text: string): void {
    if (text === this.shown) return;
    if (this.tty) this.stream.write(`\r\x1b[K${text}`);
    else this.stream.write(`${text}\n`);
    this.shown = text;
  }

  /** Wipes the line (on a terminal) so the next output starts at column 0. */
  clear(): void {
    if (this.tty && this.shown) this.stream.write('\r\x1b[K');
    this.shown = '';
  }

  /** A message that stays: printed on its own line. */
  note(text: string): void {
    this.clear();
    this.stream.write(`${text}\n`);
  }
}
