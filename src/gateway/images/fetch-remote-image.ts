import { lookup as dnsLookup } from 'node:dns/promises';
import http from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { SwitchyardError, ValidationError } from '../../errors/errors.js';
import { blockedAddressReason } from './address-guard.js';
import { formatBytes, IMAGE_MIME_TYPES, sniffImageType } from './image-data.js';

export interface RemoteImageFetchOptions {
  maxBytes: number;
  timeoutMs: number;
  /** Host names (or IP literals) an operator allows although they resolve to private addresses. */
  allowPrivateHosts: ReadonlySet<string>;
  /** DNS resolution; tests give their own to map a name to a chosen address. */
  resolve?: (host: string) => Promise<Array<{ address: string; family: number }>>;
}

const defaultResolve = (host: string) => dnsLookup(host, { all: true, verbatim: true });

/** What the downloads of one request may still take, in bytes, all images together. */
export interface DownloadAllowance {
  remaining: number;
  readonly total: number;
}

/**
 * Fetches an image for a backend that takes bytes only, under an SSRF guard: the host is resolved
 * here, every address it resolves to is checked, and the connection goes to the address that was
 * checked (no second lookup, so a name that changes its answer — DNS rebinding — gets nowhere).
 * Redirects are not followed. The body is cut at `maxBytes` and the whole fetch at `timeoutMs`.
 * Returns the image as a data URL.
 */
export async function fetchRemoteImage(
  url: string,
  param: string,
  options: RemoteImageFetchOptions,
  signal: AbortSignal,
  allowance: DownloadAllowance = { remaining: options.maxBytes, total: options.maxBytes },
): Promise<string> {
  const target = new URL(url);
  if (target.protocol !== 'http:' && target.protocol !== 'https:') {
    throw new ValidationError(`Invalid '${param}': only http and https image URLs can be fetched.`, param, 'image_url_not_allowed');
  }
  const host = target.hostname.replace(/^\[|\]$/g, '');
  const allowed = options.allowPrivateHosts.has(host.toLowerCase());
  let addresses: Array<{ address: string; family: number }>;
  if (isIP(host) !== 0) {
    addresses = [{ address: host, family: isIP(host) }];
  } else {
    try {
      addresses = await (options.resolve ?? defaultResolve)(host);
    } catch {
      throw new ValidationError(`Invalid '${param}': the image host '${host}' could not be resolved.`, param, 'invalid_image_url');
    }
  }
  if (addresses.length === 0) throw new ValidationError(`Invalid '${param}': the image host '${host}' has no address.`, param, 'invalid_image_url');
  if (!allowed) {
    for (const { address } of addresses) {
      const reason = blockedAddressReason(address);
      if (reason) {
        throw new ValidationError(`Invalid '${param}': the image host '${host}' resolves to ${address}, ${reason}; Switchyard does not fetch from it.`, param, 'image_url_not_allowed');
      }
    }
  }
  const pinned = addresses[0]!;
  // The checked address, whatever the name would resolve to now.
  const lookup: LookupFunction = (_hostname, lookupOptions, callback) => {
    if (lookupOptions.all) callback(null, [{ address: pinned.address, family: pinned.family }]);
    else callback(null, pinned.address, pinned.family);
  };

  return new Promise<string>((resolve, reject) => {
    const fail = (error: SwitchyardError) => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      request.destroy();
      reject(error);
    };
    const onAbort = () => fail(new ValidationError(`Invalid '${param}': the request was cancelled while the image downloaded.`, param, 'invalid_image_url'));
    const timer = setTimeout(
      () => fail(new ValidationError(`Invalid '${param}': timed out after ${options.timeoutMs} ms while downloading the image.`, param, 'invalid_image_url')),
      options.timeoutMs,
    );
    const client = target.protocol === 'https:' ? https : http;
    const request = client.get(target, { lookup, headers: { accept: [...IMAGE_MIME_TYPES].join(', '), 'user-agent': 'switchyard-image-fetch' } }, (response) => {
      const status = response.statusCode ?? 0;
      if (status >= 300 && status < 400) return fail(new ValidationError(`Invalid '${param}': the image URL redirects, and redirects are not followed.`, param, 'invalid_image_url'));
      if (status !== 200) return fail(new ValidationError(`Invalid '${param}': downloading the image failed with HTTP ${status}.`, param, 'invalid_image_url'));
      const declared = Number(response.headers['content-length']);
      if (Number.isFinite(declared) && declared > options.maxBytes) {
        return fail(new ValidationError(`Invalid '${param}': the image is ${formatBytes(declared)}, over the limit of ${formatBytes(options.maxBytes)}.`, param, 'image_too_large'));
      }
      const overAllowance = () =>
        new ValidationError(`Invalid '${param}': the images of this request are over the limit of ${formatBytes(allowance.total)} downloaded in all.`, param, 'image_too_large');
      if (Number.isFinite(declared) && declared > allowance.remaining) return fail(overAllowance());
      const chunks: Buffer[] = [];
      let size = 0;
      response.on('data', (chunk: Buffer) => {
        size += chunk.length;
        allowance.remaining -= chunk.length;
        if (size > options.maxBytes) {
          fail(new ValidationError(`Invalid '${param}': the image is over the limit of ${formatBytes(options.maxBytes)}.`, param, 'image_too_large'));
          return;
        }
        if (allowance.remaining < 0) {
          fail(overAllowance());
          return;
        }
        chunks.push(chunk);
      });
      response.on('error', () => fail(new ValidationError(`Invalid '${param}': the connection broke while downloading the image.`, param, 'invalid_image_url')));
      response.on('end', () => {
        if (size > options.maxBytes || allowance.remaining < 0) return;
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        const bytes = Buffer.concat(chunks);
        const type = sniffImageType(bytes.subarray(0, 16));
        if (!type) return reject(new ValidationError(`Invalid '${param}': the URL did not return a PNG, JPEG, GIF or WebP image.`, param, 'invalid_image_url'));
        resolve(`data:${type};base64,${bytes.toString('base64')}`);
      });
    });
    request.on('error', (error) => fail(new ValidationError(`Invalid '${param}': the image could not be downloaded (${error.message}).`, param, 'invalid_image_url')));
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
}
