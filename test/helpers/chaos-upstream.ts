import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { createRandom } from '../../src/providers/sandbox/prng.js';

/** Shares of requests that get each fault; the rest are answered well. */
export interface ChaosMix {
  /** A 500/502/503 before anything else. */
  serverError?: number;
  /** Accepted, then never answered. */
  timeout?: number;
  /** A stream cut (socket destroyed) after its first chunks; a JSON body cut halfway. */
  midStreamCut?: number;
  /** A stream that stops after its first chunk and never ends. */
  hangAfterFirst?: number;
  /** An event that is not JSON. */
  malformed?: number;
  /** One event of several megabytes. */
  oversized?: number;
  /** Chunks a few hundred ms apart. */
  trickle?: number;
}

export type ChaosFault = keyof ChaosMix | 'none';

export interface ChaosUpstream {
  baseURL: string;
  /** What was done to each request, in arrival order. */
  readonly faults: ChaosFault[];
  /** Sockets open now (a freed socket is a closed one). */
  openSockets(): number;
  close(): Promise<void>;
}

const chunk = (id: string, delta: Record<string, unknown>, finish: string | null = null) =>
  `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] })}\n\n`;

/**
 * An OpenAI-compatible chat upstream of our own that misbehaves on purpose, by a seeded draw per
 * request: errors, silence, cut streams, hangs, malformed and oversized events, trickles.
 */
export async function startChaosUpstream(mix: ChaosMix, seed = 1): Promise<ChaosUpstream> {
  const draw = createRandom(seed);
  const faults: ChaosFault[] = [];
  const sockets = new Set<Socket>();
  const pick = (): ChaosFault => {
    let roll = draw();
    for (const [fault, share] of Object.entries(mix) as Array<[keyof ChaosMix, number]>) {
      if (roll < share) return fault;
      roll -= share;
    }
    return 'none';
  };
  let counter = 0;

  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    let raw = '';
    for await (const piece of request) raw += piece;
    const body = JSON.parse(raw || '{}') as { stream?: boolean };
    const fault = pick();
    faults.push(fault);
    const id = `chatcmpl-chaos${++counter}`;
    const words = ['Chaos ', 'is ', 'a ', 'ladder.'];
    if (fault === 'serverError') {
      response.writeHead([500, 502, 503][counter % 3]!, { 'content-type': 'application/json' }).end('{"error":{"message":"chaos","type":"server_error"}}');
      return;
    }
    if (fault === 'timeout') return; // never answered; the socket closes when the client gives up
    if (!body.stream) {
      const text = JSON.stringify({
        id,
        object: 'chat.completion',
        created: 1,
        model: 'm',
        choices: [{ index: 0, message: { role: 'assistant', content: words.join('') }, logprobs: null, finish_reason: 'stop' }],
        usage: { prompt_tokens: 5, completion_tokens: 4, total_tokens: 9 },
      });
      if (fault === 'midStreamCut') {
        response.writeHead(200, { 'content-type': 'application/json', 'content-length': String(text.length) });
        response.write(text.slice(0, text.length / 2));
        response.socket?.destroy();
        return;
      }
      if (fault === 'malformed') {
        response.writeHead(200, { 'content-type': 'application/json' }).end('{"id": "broken", "choices": [');
        return;
      }
      response.writeHead(200, { 'content-type': 'application/json' }).end(text);
      return;
    }
    response.writeHead(200, { 'content-type': 'text/event-stream' });
    response.write(chunk(id, { role: 'assistant', content: '' }));
    response.write(chunk(id, { content: words[0] }));
    if (fault === 'midStreamCut') {
      // Long enough for the first chunks to be read: a reset right away can discard them unread.
      await new Promise((resolve) => setTimeout(resolve, 50));
      response.socket?.destroy();
      return;
    }
    if (fault === 'hangAfterFirst') return;
    if (fault === 'malformed') response.write('data: {this is not json\n\n');
    if (fault === 'oversized') response.write(chunk(id, { content: 'x'.repeat(4 * 1024 * 1024) }));
    for (const word of words.slice(1)) {
      if (fault === 'trickle') await new Promise((resolve) => setTimeout(resolve, 150));
      if (response.destroyed) return;
      response.write(chunk(id, { content: word }));
    }
    response.write(chunk(id, {}, 'stop'));
    response.write(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created: 1, model: 'm', choices: [], usage: { prompt_tokens: 5, completion_tokens: 4, total_tokens: 9 } })}\n\n`);
    response.end('data: [DONE]\n\n');
  };

  const server: Server = createServer((request, response) => void handle(request, response).catch(() => response.destroy()));
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    baseURL: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
    faults,
    openSockets: () => sockets.size,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
