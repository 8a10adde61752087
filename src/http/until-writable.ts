import type { ServerResponse } from 'node:http';

/**
 * Settles once a response whose buffer was full can take more ('drain'), or once it is gone
 * ('close'): a client that leaves while its buffer is full must not leave the writer waiting.
 */
export function untilWritable(response: ServerResponse): Promise<void> {
  if (response.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const settle = () => {
      response.off('drain', settle);
      response.off('close', settle);
      resolve();
    };
    response.on('drain', settle);
    response.on('close', settle);
  });
}
