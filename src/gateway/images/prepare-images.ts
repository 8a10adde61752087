import type { ChatCompletionContentPartImage, ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import { ValidationError } from '../../errors/errors.js';
import type { ChatRequest } from '../../providers/provider.js';
import type { PlannedTarget } from '../route-planner.js';
import { checkImageDataUrl } from './image-data.js';
import { fetchRemoteImage, type RemoteImageFetchOptions } from './fetch-remote-image.js';

export interface ImageRules extends RemoteImageFetchOptions {
  /** Fetch http(s) image URLs for backends that take bytes only; off, such requests are refused. */
  fetchRemote: boolean;
}

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

  const fetched = new Map<ChatCompletionContentPartImage, string>();
  await Promise.all(remote.map(async ({ part, param }) => fetched.set(part, await fetchRemoteImage(part.image_url.url, param, rules, signal))));
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
