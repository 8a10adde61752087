// The floor: a bare node:http pass-through proxy. It forwards method, path, headers and body to the
// upstream and pipes the answer back, nothing else — the least any hop written in Node can cost.
// Switchyard's overhead is judged against this, not against calling the upstream directly.
//
//   node bin/run-ts.mjs bench/floor-proxy.ts --port 9001 --upstream http://127.0.0.1:9000
import http from 'node:http';
import { announceListening, flagValue, portFlag } from './lib/args.js';

const args = process.argv.slice(2);
const upstream = new URL(flagValue(args, 'upstream') ?? 'http://127.0.0.1:9000');
// Keep-alive to the upstream, as any real gateway has; a fresh TCP connection per request would
// make the floor needlessly slow and flatter whatever is compared with it.
const agent = new http.Agent({ keepAlive: true, maxSockets: 256, keepAliveMsecs: 60_000 });

/** Headers that describe one connection, not the message; a proxy must not forward them. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

function forwardable(headers: http.IncomingHttpHeaders, dropHost: boolean): http.OutgoingHttpHeaders {
  const out: http.OutgoingHttpHeaders = {};
  for (const name in headers) {
    if (HOP_BY_HOP.has(name) || (dropHost && name === 'host')) continue;
    out[name] = headers[name];
  }
  return out;
}

const server = http.createServer((req, res) => {
  const upstreamReq = http.request(
    {
      agent,
      protocol: upstream.protocol,
      hostname: upstream.hostname,
      port: upstream.port,
      method: req.method,
      path: req.url,
      // The client's Host names this proxy; node sets the upstream's own.
      headers: forwardable(req.headers, true),
    },
    (upstreamRes) => {
      res.writeHead(upstreamRes.statusCode ?? 502, forwardable(upstreamRes.headers, false));
      upstreamRes.pipe(res);
    },
  );
  upstreamReq.on('error', (error) => {
    if (res.headersSent) {
      res.destroy(error);
      return;
    }
    const body = JSON.stringify({ error: { message: `upstream: ${error.message}`, type: 'server_error', code: 'bad_gateway' } });
    res.writeHead(502, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  // A client that goes away must not leave its upstream request running.
  res.on('close', () => {
    if (!res.writableFinished) upstreamReq.destroy();
  });
  req.pipe(upstreamReq);
});
server.keepAliveTimeout = 60_000;

server.listen(portFlag(args), '127.0.0.1', () => {
  const address = server.address();
  announceListening(`floor proxy (→ ${upstream.origin})`, typeof address === 'object' && address ? address.port : 0);
});
