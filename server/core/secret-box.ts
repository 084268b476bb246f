import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

/** Job secrets at rest: AES-256-GCM, a random 12-byte IV per value, the key's id beside the ciphertext. */

export const SECRET_KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const FORMAT = 1;

/** A key that opens nothing here: rotated away too early, or another replica's key. */
export class SecretKeyMissing extends Error {}

interface Sealed {
  v: number;
  /** Id of the key that sealed the values. */
  k: string;
  /** Per name: base64 of IV | ciphertext | tag. */
  s: Record<string, string>;
}

/** A short public id of a key (not the key: a hash of it, 64 bits), stored so rotation knows which key to use. */
export function secretKeyId(key: Buffer): string {
  return createHash('sha256').update('edge secret key id\0').update(key).digest('hex').slice(0, 16);
}

/** Reads a key given as base64 (standard or URL alphabet) of 32 bytes; says what is wrong otherwise. */
export function parseSecretKey(text: string, where: string): Buffer {
  const t = text.trim();
  const key = /^[A-Za-z0-9+/_-]+={0,2}$/.test(t) ? Buffer.from(t, t.includes('-') || t.includes('_') ? 'base64url' : 'base64') : Buffer.alloc(0);
  if (key.length !== SECRET_KEY_BYTES) {
    throw new Error(`${where} must be ${SECRET_KEY_BYTES} random bytes in base64 (make one with: openssl rand -base64 32)`);
  }
  return key;
}

/**
 * Seals and opens the secret values of one job. New values are sealed with the current key; values
 * sealed with a previous key (kept after a rotation) still open. The name is bound to its value as
 * additional data, so values cannot be swapped between names unnoticed.
 */
export class SecretBox {
  private readonly keys = new Map<string, Buffer>();
  readonly keyId: string;

  constructor(current: Buffer, previous: Buffer[] = []) {
    this.keyId = secretKeyId(current);
    this.keys.set(this.keyId, current);
    for (const k of previous) if (!this.keys.has(secretKeyId(k))) this.keys.set(secretKeyId(k), k);
  }

  seal(values: Record<string, string>): string {
    const key = this.keys.get(this.keyId)!;
    const s: Record<string, string> = {};
    for (const [name, value] of Object.entries(values)) {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      cipher.setAAD(Buffer.from(name, 'utf8'));
      const body = Buffer.concat([cipher.update(value, 'utf8'), cipher.final()]);
      s[name] = Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64');
    }
    const sealed: Sealed = { v: FORMAT, k: this.keyId, s };
    return JSON.stringify(sealed);
  }

  open(text: string): Record<string, string> {
    const sealed = JSON.parse(text) as Sealed;
    if (sealed.v !== FORMAT) throw new Error(`job secrets stored in format ${sealed.v}, which this server does not read`);
    const key = this.keys.get(sealed.k);
    if (!key) {
      throw new SecretKeyMissing(
        `the job's secrets were sealed with key ${sealed.k}, which this server does not hold (its keys: ${[...this.keys.keys()].join(', ')}); ` +
          'give every replica the same EDGE_SECRET_KEY and keep a rotated key in EDGE_SECRET_KEY_PREVIOUS until the jobs it sealed have ended',
      );
    }
    const out: Record<string, string> = {};
    for (const [name, packed] of Object.entries(sealed.s)) {
      const buf = Buffer.from(packed, 'base64');
      const decipher = createDecipheriv('aes-256-gcm', key, buf.subarray(0, IV_BYTES));
      decipher.setAAD(Buffer.from(name, 'utf8'));
      decipher.setAuthTag(buf.subarray(buf.length - TAG_BYTES));
      out[name] = Buffer.concat([decipher.update(buf.subarray(IV_BYTES, buf.length - TAG_BYTES)), decipher.final()]).toString('utf8');
    }
    return out;
  }
}
