import { protoInt64 } from '@bufbuild/protobuf';
import type { WireType } from '@bufbuild/protobuf/wire';

const INT32_MAX = 0x7fffffff;
const INT32_MIN = -0x80000000;
const UINT32_MAX = 0xffffffff;
const FLOAT32_MAX = 3.4028234663852886e38;

/**
 * The bytes of one protobuf message, written into one growing buffer: the writing side of
 * message-encoder.ts. Values are checked and written as protobuf-es's BinaryWriter does (its
 * varint code is followed here); a length-delimited field gets one byte for its length and is moved
 * along in the rare case it needs more.
 */
export class Output {
  private buf = Buffer.allocUnsafe(256);
  private pos = 0;

  finish(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }

  tag(fieldNo: number, type: WireType): this {
    this.uint32(((fieldNo << 3) | type) >>> 0);
    return this;
  }

  raw(chunk: Uint8Array): this {
    this.room(chunk.length);
    this.buf.set(chunk, this.pos);
    this.pos += chunk.length;
    return this;
  }

  /** Starts a length-delimited value; gives what endDelimited needs. */
  beginDelimited(): number {
    this.room(1);
    return ++this.pos;
  }

  endDelimited(start: number): void {
    const length = this.pos - start;
    if (length < 0x80) {
      this.buf[start - 1] = length;
      return;
    }
    const size = varintSize(length);
    this.room(size - 1);
    const buf = this.buf;
    buf.copyWithin(start - 1 + size, start, this.pos);
    let at = start - 1;
    let value = length;
    while (value > 0x7f) {
      buf[at++] = (value & 0x7f) | 0x80;
      value >>>= 7;
    }
    buf[at] = value;
    this.pos += size - 1;
  }

  uint32(value: number): void {
    checkUint32(value);
    this.room(5);
    const buf = this.buf;
    while (value > 0x7f) {
      buf[this.pos++] = (value & 0x7f) | 0x80;
      value = value >>> 7;
    }
    buf[this.pos++] = value;
  }

  int32(value: number): void {
    checkInt32(value);
    if (value >= 0) return this.uint32(value);
    // Negative: sign-extended to ten bytes, as a 64-bit value.
    this.room(10);
    for (let i = 0; i < 9; i++) {
      this.buf[this.pos++] = (value & 127) | 128;
      value = value >> 7;
    }
    this.buf[this.pos++] = 1;
  }

  sint32(value: number): void {
    checkInt32(value);
    this.uint32(((value << 1) ^ (value >> 31)) >>> 0);
  }

  bool(value: boolean): void {
    this.room(1);
    this.buf[this.pos++] = value ? 1 : 0;
  }

  fixed32(value: number): void {
    checkUint32(value);
    this.room(4);
    this.pos = this.buf.writeUInt32LE(value, this.pos);
  }

  sfixed32(value: number): void {
    checkInt32(value);
    this.room(4);
    this.pos = this.buf.writeInt32LE(value, this.pos);
  }

  float(value: number): void {
    if (typeof value !== 'number') throw new Error(`invalid float32: ${typeof value}`);
    if (Number.isFinite(value) && (value > FLOAT32_MAX || value < -FLOAT32_MAX)) throw new Error(`invalid float32: ${value}`);
    this.room(4);
    this.pos = this.buf.writeFloatLE(value, this.pos);
  }

  double(value: number): void {
    this.room(8);
    this.pos = this.buf.writeDoubleLE(value, this.pos);
  }

  int64(value: bigint | string | number): void {
    const tc = protoInt64.enc(value);
    this.varint64(tc.lo, tc.hi);
  }

  uint64(value: bigint | string | number): void {
    const tc = protoInt64.uEnc(value);
    this.varint64(tc.lo, tc.hi);
  }

  sint64(value: bigint | string | number): void {
    const tc = protoInt64.enc(value);
    const sign = tc.hi >> 31;
    this.varint64((tc.lo << 1) ^ sign, ((tc.hi << 1) | (tc.lo >>> 31)) ^ sign);
  }

  fixed64(value: bigint | string | number): void {
    this.eightBytes(protoInt64.uEnc(value));
  }

  sfixed64(value: bigint | string | number): void {
    this.eightBytes(protoInt64.enc(value));
  }

  bytes(value: Uint8Array): void {
    this.uint32(value.byteLength);
    this.raw(value);
  }

  string(value: string): void {
    const n = value.length;
    // Short ASCII, most of what goes out (ids, names, states): no call out of JavaScript.
    if (n < 0x80) {
      this.room(n + 1);
      const buf = this.buf;
      const at = this.pos + 1;
      let i = 0;
      for (; i < n; i++) {
        const c = value.charCodeAt(i);
        if (c >= 0x80) break;
        buf[at + i] = c;
      }
      if (i === n) {
        buf[this.pos] = n;
        this.pos = at + n;
        return;
      }
    }
    // Lone surrogates become U+FFFD, as with TextEncoder.
    const length = Buffer.byteLength(value, 'utf8');
    this.uint32(length);
    this.room(length);
    this.pos += this.buf.write(value, this.pos, length, 'utf8');
  }

  private eightBytes(tc: { lo: number; hi: number }): void {
    this.room(8);
    this.buf.writeInt32LE(tc.lo, this.pos);
    this.buf.writeInt32LE(tc.hi, this.pos + 4);
    this.pos += 8;
  }

  private varint64(lo: number, hi: number): void {
    this.room(10);
    const buf = this.buf;
    for (let i = 0; i < 28; i = i + 7) {
      const shift = lo >>> i;
      const hasNext = !(shift >>> 7 === 0 && hi === 0);
      buf[this.pos++] = (hasNext ? shift | 0x80 : shift) & 0xff;
      if (!hasNext) return;
    }
    const splitBits = ((lo >>> 28) & 0x0f) | ((hi & 0x07) << 4);
    const hasMoreBits = !(hi >> 3 === 0);
    buf[this.pos++] = (hasMoreBits ? splitBits | 0x80 : splitBits) & 0xff;
    if (!hasMoreBits) return;
    for (let i = 3; i < 31; i = i + 7) {
      const shift = hi >>> i;
      const hasNext = !(shift >>> 7 === 0);
      buf[this.pos++] = (hasNext ? shift | 0x80 : shift) & 0xff;
      if (!hasNext) return;
    }
    buf[this.pos++] = (hi >>> 31) & 0x01;
  }

  /** Makes room for `n` more bytes. */
  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(grown, 0, 0, this.pos);
    this.buf = grown;
  }
}

function varintSize(value: number): number {
  let size = 1;
  while (value > 0x7f) {
    size++;
    value >>>= 7;
  }
  return size;
}

function checkInt32(value: number): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value > INT32_MAX || value < INT32_MIN) throw new Error(`invalid int32: ${String(value)}`);
}

function checkUint32(value: number): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value > UINT32_MAX || value < 0) throw new Error(`invalid uint32: ${String(value)}`);
}
