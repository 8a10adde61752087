// Minimal GGUF v3 serializer: just enough of the format to write a model that
// llama.cpp loads. Only the value and tensor types the test model needs are
// supported; everything is little-endian as the format requires.
import { writeFile } from 'node:fs/promises';

/** GGUF metadata value type ids (format spec). */
const ValueType = {
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
} as const;

/** GGUF's default alignment, used when the file has no `general.alignment` key (we write none). */
const ALIGNMENT = 32;

/** ggml tensor type ids of the formats we emit: the two unquantized ones and Q4_0. */
export const TensorType = { F32: 0, F16: 1, Q4_0: 2 } as const;
export type TensorTypeId = (typeof TensorType)[keyof typeof TensorType];

/** Values per Q4_0 block, and its bytes: an f16 scale, then 32 four-bit quants two to a byte. */
export const Q4_0_BLOCK = 32;
export const Q4_0_BLOCK_BYTES = 2 + Q4_0_BLOCK / 2;

const halfView = new DataView(new ArrayBuffer(4));

/** An f32 as IEEE half-precision bits, rounded to nearest even, subnormals included. */
export function toHalf(value: number): number {
  halfView.setFloat32(0, value);
  const bits = halfView.getUint32(0);
  const sign = (bits >>> 16) & 0x8000;
  const exponent = ((bits >>> 23) & 0xff) - 127 + 15;
  const mantissa = bits & 0x7fffff;
  if (exponent >= 31) return sign | 0x7c00;
  // Normal: the top 10 mantissa bits; subnormal (below 2^-14): the mantissa with its implicit one,
  // shifted down to multiples of 2^-24. Either way the bits shifted out round to nearest even.
  const significand = exponent > 0 ? mantissa : mantissa | 0x800000;
  const shift = exponent > 0 ? 13 : 14 - exponent;
  if (shift > 24) return sign;
  let half = (exponent > 0 ? exponent << 10 : 0) | (significand >>> shift);
  const rest = significand & ((1 << shift) - 1);
  const halfway = 1 << (shift - 1);
  if (rest > halfway || (rest === halfway && (half & 1) === 1)) half += 1;
  return sign | half;
}

/**
 * One block of 32 values in ggml's Q4_0 encoding, at `offset` of `out`: the scale d is the
 * value of largest magnitude over -8, each quant round(x / d) + 8 clamped to 0..15; byte j holds
 * value j in its low nibble and value j + 16 in its high one.
 */
export function encodeQ4_0Block(values: ArrayLike<number>, out: Uint8Array, offset: number): void {
  let extreme = 0;
  for (let i = 0; i < Q4_0_BLOCK; i++) if (Math.abs(values[i]!) > Math.abs(extreme)) extreme = values[i]!;
  const scale = extreme / -8;
  const inverse = scale === 0 ? 0 : 1 / scale;
  const half = toHalf(scale);
  out[offset] = half & 0xff;
  out[offset + 1] = half >>> 8;
  for (let j = 0; j < Q4_0_BLOCK / 2; j++) {
    const low = Math.min(15, Math.trunc(values[j]! * inverse + 8.5));
    const high = Math.min(15, Math.trunc(values[j + Q4_0_BLOCK / 2]! * inverse + 8.5));
    out[offset + 2 + j] = low | (high << 4);
  }
}

export type MetadataValue =
  | { type: 'u32'; value: number }
  | { type: 'i32'; value: number }
  | { type: 'f32'; value: number }
  | { type: 'bool'; value: boolean }
  | { type: 'string'; value: string }
  | { type: 'string[]'; value: readonly string[] }
  | { type: 'f32[]'; value: ArrayLike<number> }
  | { type: 'i32[]'; value: ArrayLike<number> };

export const u32 = (value: number): MetadataValue => ({ type: 'u32', value });
export const i32 = (value: number): MetadataValue => ({ type: 'i32', value });
export const f32 = (value: number): MetadataValue => ({ type: 'f32', value });
export const bool = (value: boolean): MetadataValue => ({ type: 'bool', value });
export const str = (value: string): MetadataValue => ({ type: 'string', value });

export interface Tensor {
  name: string;
  /** ggml order: dims[0] is the contiguous (innermost) dimension. */
  dims: readonly number[];
  type: TensorTypeId;
  /** Raw little-endian element bytes, already in `type`'s encoding. */
  data: Uint8Array;
}

/** Growable little-endian byte sink; the header's size is not known up front. */
class ByteSink {
  private buf = Buffer.alloc(1 << 16);
  length = 0;

  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const next = Buffer.alloc(Math.max(this.buf.length * 2, this.length + n));
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }
  u32(v: number): void { this.reserve(4); this.buf.writeUInt32LE(v, this.length); this.length += 4; }
  i32(v: number): void { this.reserve(4); this.buf.writeInt32LE(v, this.length); this.length += 4; }
  u64(v: number): void { this.reserve(8); this.buf.writeBigUInt64LE(BigInt(v), this.length); this.length += 8; }
  f32(v: number): void { this.reserve(4); this.buf.writeFloatLE(v, this.length); this.length += 4; }
  u8(v: number): void { this.reserve(1); this.buf[this.length++] = v; }
  bytes(b: Uint8Array): void { this.reserve(b.length); this.buf.set(b, this.length); this.length += b.length; }
  /** GGUF string: u64 byte length followed by UTF-8 bytes, no terminator. */
  string(s: string): void { const b = Buffer.from(s, 'utf8'); this.u64(b.length); this.bytes(b); }
  padTo(alignment: number): void { while (this.length % alignment !== 0) this.u8(0); }
  result(): Buffer { return this.buf.subarray(0, this.length); }
}

function writeValue(out: ByteSink, v: MetadataValue): void {
  switch (v.type) {
    case 'u32': out.u32(ValueType.UINT32); out.u32(v.value); break;
    case 'i32': out.u32(ValueType.INT32); out.i32(v.value); break;
    case 'f32': out.u32(ValueType.FLOAT32); out.f32(v.value); break;
    case 'bool': out.u32(ValueType.BOOL); out.u8(v.value ? 1 : 0); break;
    case 'string': out.u32(ValueType.STRING); out.string(v.value); break;
    case 'string[]':
      out.u32(ValueType.ARRAY); out.u32(ValueType.STRING); out.u64(v.value.length);
      for (const s of v.value) out.string(s);
      break;
    case 'f32[]':
      out.u32(ValueType.ARRAY); out.u32(ValueType.FLOAT32); out.u64(v.value.length);
      for (let i = 0; i < v.value.length; i++) out.f32(v.value[i]!);
      break;
    case 'i32[]':
      out.u32(ValueType.ARRAY); out.u32(ValueType.INT32); out.u64(v.value.length);
      for (let i = 0; i < v.value.length; i++) out.i32(v.value[i]!);
      break;
  }
}

/**
 * Serialize a GGUF v3 file: header, metadata, tensor infos, then tensor data,
 * each tensor starting on an ALIGNMENT boundary (llama.cpp mmaps the data
 * section and rejects misaligned offsets).
 */
export function encodeGguf(
  metadata: ReadonlyArray<readonly [string, MetadataValue]>,
  tensors: readonly Tensor[],
): Buffer {
  const head = new ByteSink();
  head.bytes(Buffer.from('GGUF', 'ascii'));
  head.u32(3);
  head.u64(tensors.length);
  head.u64(metadata.length);
  for (const [key, value] of metadata) {
    head.string(key);
    writeValue(head, value);
  }

  let offset = 0;
  const offsets: number[] = [];
  for (const t of tensors) {
    offsets.push(offset);
    head.string(t.name);
    head.u32(t.dims.length);
    for (const d of t.dims) head.u64(d);
    head.u32(t.type);
    head.u64(offset);
    offset += Math.ceil(t.data.length / ALIGNMENT) * ALIGNMENT;
  }
  head.padTo(ALIGNMENT);

  const header = head.result();
  const file = Buffer.alloc(header.length + offset);
  header.copy(file, 0);
  tensors.forEach((t, i) => file.set(t.data, header.length + offsets[i]!));
  return file;
}

export async function writeGguf(
  path: string,
  metadata: ReadonlyArray<readonly [string, MetadataValue]>,
  tensors: readonly Tensor[],
): Promise<void> {
  await writeFile(path, encodeGguf(metadata, tensors));
}
