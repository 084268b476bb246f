/**
 * Masks secret values in a job's output as it streams: each value of MIN_SECRET_LENGTH or more
 * characters, its standard and URL-safe base64 (whole, and the stable cores of the encodings that
 * start one or two bytes into a 3-byte group, as when the value sits inside a larger encoded text)
 * and its URL-encoded form become "[masked]". A value split across two chunks is caught: the masker
 * holds back the end of a chunk while it could be the start of a value, and only that.
 */

export const MASK = '[masked]';
/** Shorter values would mask ordinary words of the output, and hide little. */
export const MIN_SECRET_LENGTH = 6;
/** A base64 core shorter than this would match unrelated text too often to be worth masking. */
const MIN_CORE_LENGTH = 8;

/** The byte patterns that stand for these values in output, longest first. */
export function maskPatterns(values: Iterable<string>): Buffer[] {
  const forms = new Set<string>();
  for (const value of values) {
    if (value.length < MIN_SECRET_LENGTH) continue;
    const raw = Buffer.from(value, 'utf8');
    forms.add(value);
    forms.add(raw.toString('base64'));
    forms.add(raw.toString('base64').replace(/=+$/, ''));
    forms.add(raw.toString('base64url'));
    forms.add(encodeURIComponent(value));
    forms.add(encodeURIComponent(value).replace(/%20/g, '+'));
    for (const core of base64Cores(raw)) forms.add(core);
  }
  return [...forms]
    .filter((f) => f.length > 0)
    .map((f) => Buffer.from(f, 'utf8'))
    .sort((a, b) => b.length - a.length);
}

/**
 * The characters of base64 that depend on the value's bytes only, when the value starts 0, 1 or 2
 * bytes into a 3-byte group of a larger encoded text (the characters at either end mix in neighbours).
 */
function base64Cores(raw: Buffer): string[] {
  const cores: string[] = [];
  for (const offset of [0, 1, 2]) {
    const padded = Buffer.concat([Buffer.alloc(offset), raw]);
    const whole = Math.floor(padded.length / 3) * 3;
    const skip = [0, 2, 3][offset]!;
    for (const alphabet of ['base64', 'base64url'] as const) {
      const core = padded.subarray(0, whole).toString(alphabet).slice(skip);
      if (core.length >= MIN_CORE_LENGTH) cores.push(core);
    }
  }
  return cores;
}

export class SecretMasker {
  private readonly patterns: Buffer[];
  private readonly mask = Buffer.from(MASK, 'utf8');
  private tail = Buffer.alloc(0);

  constructor(values: Iterable<string>) {
    this.patterns = maskPatterns(values);
  }

  get active(): boolean {
    return this.patterns.length > 0;
  }

  /** Masks a chunk; returns what may be written now (the possible start of a value waits for the next chunk). */
  push(chunk: Buffer): Buffer {
    if (!this.active) return chunk;
    const buf = this.tail.length ? Buffer.concat([this.tail, chunk]) : chunk;
    const out: Buffer[] = [];
    let pos = 0;
    for (;;) {
      const hit = this.nextMatch(buf, pos);
      if (!hit) break;
      out.push(buf.subarray(pos, hit.at), this.mask);
      pos = hit.at + hit.length;
    }
    const hold = this.heldBack(buf, pos);
    out.push(buf.subarray(pos, buf.length - hold));
    this.tail = Buffer.from(buf.subarray(buf.length - hold));
    return Buffer.concat(out);
  }

  /** The output has ended: what was held back is no value, and goes out as it is. */
  end(): Buffer {
    const rest = this.tail;
    this.tail = Buffer.alloc(0);
    return rest;
  }

  /** The leftmost occurrence of any pattern from `from`; the longest where several start there. */
  private nextMatch(buf: Buffer, from: number): { at: number; length: number } | undefined {
    let best: { at: number; length: number } | undefined;
    for (const p of this.patterns) {
      const at = buf.indexOf(p, from);
      if (at >= 0 && (!best || at < best.at)) best = { at, length: p.length };
    }
    return best;
  }

  /** How many bytes at the end of buf (after `from`) are a proper prefix of some pattern. */
  private heldBack(buf: Buffer, from: number): number {
    let hold = 0;
    for (const p of this.patterns) {
      const longest = Math.min(p.length - 1, buf.length - from);
      for (let k = longest; k > hold; k--) {
        if (buf[buf.length - k] === p[0] && buf.compare(p, 0, k, buf.length - k) === 0) {
          hold = k;
          break;
        }
      }
    }
    return hold;
  }
}
