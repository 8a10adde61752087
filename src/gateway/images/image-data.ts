import { ValidationError } from '../../errors/errors.js';

/** The image types OpenAI's vision models take (https://platform.openai.com/docs/guides/images-vision). */
export const IMAGE_MIME_TYPES: ReadonlySet<string> = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp']);

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** What the first bytes of each type must be: a PNG labelled JPEG would be refused downstream anyway. */
export function sniffImageType(head: Uint8Array): string | undefined {
  const at = (offset: number, ...bytes: number[]) => bytes.every((byte, index) => head[offset + index] === byte);
  if (at(0, 0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return 'image/png';
  if (at(0, 0xff, 0xd8, 0xff)) return 'image/jpeg';
  if (at(0, 0x47, 0x49, 0x46, 0x38) && (head[4] === 0x37 || head[4] === 0x39) && head[5] === 0x61) return 'image/gif';
  if (at(0, 0x52, 0x49, 0x46, 0x46) && at(8, 0x57, 0x45, 0x42, 0x50)) return 'image/webp';
  return undefined;
}

export function formatBytes(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${(bytes / (1024 * 1024)).toFixed(1)} MB` : `${Math.ceil(bytes / 1024)} KB`;
}

/** The image type a `data:<type>;base64,` URL declares (`image/jpg` read as `image/jpeg`), when it is one we take. */
export function dataUrlImageType(url: string): string | undefined {
  const comma = url.indexOf(',');
  const declared = /^data:([^;,]+);base64$/i.exec(comma === -1 ? '' : url.slice(0, comma))?.[1]?.toLowerCase();
  const mimeType = declared === 'image/jpg' ? 'image/jpeg' : declared;
  return mimeType !== undefined && IMAGE_MIME_TYPES.has(mimeType) ? mimeType : undefined;
}

/**
 * Checks a `data:` image URL without decoding all of it: an allowed image type, well-formed base64,
 * a decoded size within `maxBytes`, and first bytes that are what the type says.
 */
export function checkImageDataUrl(url: string, param: string, maxBytes: number): void {
  const mimeType = dataUrlImageType(url);
  if (mimeType === undefined) {
    throw new ValidationError(
      `Invalid '${param}'. Expected a base64-encoded data URL with an image MIME type (image/png, image/jpeg, image/gif or image/webp), e.g. 'data:image/png;base64,...'.`,
      param,
      'invalid_image',
    );
  }
  const data = url.slice(url.indexOf(',') + 1);
  if (data.length === 0 || data.length % 4 !== 0 || !BASE64.test(data)) {
    throw new ValidationError(`Invalid '${param}': the image data is not valid base64.`, param, 'invalid_image');
  }
  const padding = data.endsWith('==') ? 2 : data.endsWith('=') ? 1 : 0;
  const size = (data.length / 4) * 3 - padding;
  if (size > maxBytes) {
    throw new ValidationError(`Invalid '${param}': the image is ${formatBytes(size)}, over the limit of ${formatBytes(maxBytes)}.`, param, 'image_too_large');
  }
  const actual = sniffImageType(Buffer.from(data.slice(0, 16), 'base64'));
  if (actual !== mimeType) {
    throw new ValidationError(
      `Invalid '${param}': the data is ${actual ? `an ${actual} image` : 'not an image of a supported type'}, not the ${mimeType} its data URL declares.`,
      param,
      'invalid_image',
    );
  }
}
