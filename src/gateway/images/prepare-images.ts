import type { ChatCompletionContentPartImage, ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import { ValidationError } from '../../errors/errors.js';
import type { ChatRequest } from '../../providers/provider.js';
import type { PlannedTarget } from '../route-planner.js';
import { checkImageDataUrl } from './image-data.js';
import { fetchRemoteImage, type DownloadAllowance, type RemoteImageFetchOptions } from './fetch-remote-image.js';

export interface ImageRules extends RemoteImageFetchOptions {
  /** Fetch http(s) image URLs for backends that take bytes only; off, such requests are refused. */
  fetchRemote: boolean;
}

/**
 * One request's downloads: at most this many images (OpenAI takes up to 500 image inputs per
 * request), this many at a time, and this many bytes in all (OpenAI's 50 MB payload per request,
 * or one image's limit when that is larger). Without them a 1 MB body of short URLs would make the
 * server open thousands of connections at once and hold gigabytes of downloads.
 */
const MAX_DOWNLOADS = 500;
const PARALLEL_DOWNLOADS = 4;
const MAX_DOWNLOAD_BYTES = 50 * 1024 * 1024;

interface ImagePart {
  part: ChatCompletionContentPartImage;
  param: string;
  remote: boolean;
}

/** The image parts of a request, with the `param` that names each; empty for text-only requests. */
function imageParts(messages: readonly ChatCompletionMessageParam[]): ImagePart[] {
  const found: ImagePart[] = [];
  for (let index = 0; index < messages.length; index++) {
    const content = messages[index]!.content;
    if (typeof content === 'string' || !Array.isArray(content)) continue;
    for (let partIndex = 0; partIndex < content.length; partIndex++) {
      const part = content[partIndex] as { type?: string };
      if (part.type !== 'image_url') continue;
      const image = part as ChatCompletionContentPartImage;
      const url = image.image_url.url;
      found.push({ part: image, param: `messages[${index}].content[${partIndex}].image_url.url`, remote: url.startsWith('http://') || url.startsWith('https://') });
    }
  }
  return found;
}

const seesImages = (target: PlannedTarget) => target.resolved.info?.vision !== false && target.resolved.provider.vision !== false;
const needsBytes = (target: PlannedTarget) => target.resolved.provider.remoteImages === 'bytes';

export interface PreparedImages {
  /** The plan's targets that can take this request's images. */
  targets: PlannedTarget[];
  /** The request as a target gets it: remote images as bytes for backends that need bytes. */
  requestFor(target: PlannedTarget): ChatRequest;
}

/**
 * The image rules, once per request that holds images (a text-only request pays for one scan of
 * its messages): data URLs checked (type, base64, size, first bytes); targets that cannot see
 * images set aside; remote URLs passed on to backends that take URLs, and for backends that need
 * bytes either fetched under the SSRF guard (when enabled) or refused with a 400.
 */
export async function prepareImages(request: ChatRequest, targets: PlannedTarget[], rules: ImageRules, signal: AbortSignal): Promise<PreparedImages | undefined> {
  const parts = imageParts(request.messages);
  if (parts.length === 0) return undefined;
  for (const { part, param, remote } of parts) if (!remote) checkImageDataUrl(part.image_url.url, param, rules.maxBytes);

  const seeing = targets.filter(seesImages);
  if (seeing.length === 0) {
    throw new ValidationError(
      `Invalid '${parts[0]!.param}': the model \`${request.model}\` does not accept image inputs. Send text only, or use a model with vision.`,
      parts[0]!.param,
      'image_input_not_supported',
    );
  }
  const remote = parts.filter((part) => part.remote);
  if (remote.length === 0 || !seeing.some(needsBytes)) return { targets: seeing, requestFor: () => request };

  if (!rules.fetchRemote) {
    // Backends that take URLs can still serve it; only when none is left is it the request's fault.
    const byUrl = seeing.filter((target) => !needsBytes(target));
    if (byUrl.length === 0) {
      throw new ValidationError(
        `Invalid '${remote[0]!.param}': the model \`${request.model}\` takes image bytes only, and this server does not download image URLs. Send the image as a base64 data URL.`,
        remote[0]!.param,
        'image_url_not_allowed',
      );
    }
    return { targets: byUrl, requestFor: () => request };
  }

  if (remote.length > MAX_DOWNLOADS) {
    throw new ValidationError(
      `Invalid '${remote[MAX_DOWNLOADS]!.param}': at most ${MAX_DOWNLOADS} image URLs can be downloaded for one request; send the others as base64 data URLs.`,
      remote[MAX_DOWNLOADS]!.param,
      'image_url_not_allowed',
    );
  }
  const fetched = await downloadAll(remote, rules, signal);
  const withBytes: ChatRequest = {
    ...request,
    messages: request.messages.map((message) => {
      if (typeof message.content === 'string' || !Array.isArray(message.content)) return message;
      const content = (message.content as Array<{ type: string }>).map((part) => {
        const url = fetched.get(part as ChatCompletionContentPartImage);
        return url === undefined ? part : { ...part, image_url: { ...(part as ChatCompletionContentPartImage).image_url, url } };
      });
      return { ...message, content } as ChatCompletionMessageParam;
    }),
  };
  return { targets: seeing, requestFor: (target) => (needsBytes(target) ? withBytes : request) };
}

/** The remote images as data URLs, a few downloads at a time under one byte allowance; the first failure stops the rest. */
async function downloadAll(remote: ImagePart[], rules: ImageRules, signal: AbortSignal): Promise<Map<ChatCompletionContentPartImage, string>> {
  const total = Math.max(rules.maxBytes, MAX_DOWNLOAD_BYTES);
  const allowance: DownloadAllowance = { remaining: total, total };
  const fetched = new Map<ChatCompletionContentPartImage, string>();
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  signal.addEventListener('abort', onAbort, { once: true });
  if (signal.aborted) stop.abort();
  let next = 0;
  const worker = async () => {
    while (next < remote.length && !stop.signal.aborted) {
      const { part, param } = remote[next++]!;
      fetched.set(part, await fetchRemoteImage(part.image_url.url, param, rules, stop.signal, allowance));
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(PARALLEL_DOWNLOADS, remote.length) }, () => worker().catch((error: unknown) => {
      stop.abort();
      throw error;
    })));
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
  return fetched;
}
