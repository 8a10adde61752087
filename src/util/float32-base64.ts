/** Float32 little-endian bytes in base64: what OpenAI sends for an embedding asked with `encoding_format: "base64"`. */
export function float32Base64(values: Float32Array | readonly number[]): string {
  const vector = values instanceof Float32Array ? values : Float32Array.from(values);
  return Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength).toString('base64');
}
