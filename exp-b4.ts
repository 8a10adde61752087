import { getLlama, LlamaLogLevel } from 'node-llama-cpp';
const llama = await getLlama({ gpu: false, build: 'never', skipDownload: true, progressLogs: false, logLevel: LlamaLogLevel.error });
const model = await llama.loadModel({ modelPath: '/tmp/exp/small.gguf' });
let ctxRef: any; let active = 4;
for (const mode of ['default', 'full']) {
  let pending: (() => void) | undefined;
  const schedule = mode === 'default' ? 'nextCycle' : (dispatch: () => void) => { pending = dispatch; check(); };
  const check = () => { if (pending && ctxRef._queuedDecodeSequenceIds.size >= active) { const d = pending; pending = undefined; setImmediate(d); } };
  const context = await model.createContext({ contextSize: 1024, sequences: 4, threads: 1, batching: { dispatchSchedule: schedule as any } });
  ctxRef = context;
  const origQ = (context as any)._decodeTokens.bind(context);
  (context as any)._decodeTokens = (...a: any[]) => { const p = origQ(...a); queueMicrotask(check); return p; };
  const ctx = (context as any)._ctx; const sizes: Record<number, [number, number]> = {}; let n = 0;
  (context as any)._ctx = new Proxy(ctx, { get: (t, k) => k === 'initBatch' ? (size: number) => { n = size; return t.initBatch(size); } : k === 'decodeBatch' ? () => { const t0 = performance.now(); const s = n; return t.decodeBatch().then((v: any) => { const e = (sizes[s] ??= [0, 0]); e[0]++; e[1] += performance.now() - t0; return v; }); } : (typeof t[k] === 'function' ? t[k].bind(t) : t[k]) });
  const seqs = Array.from({ length: 4 }, () => context.getSequence());
  const prompt = model.tokenize('Write a long story about a river', true);
  for (const streams of [1, 4]) {
    active = streams;
    for (const k in sizes) delete sizes[k];
    const t0 = performance.now(); let total = 0;
    await Promise.all(seqs.slice(0, streams).map(async (seq, i) => { let c = 0; for await (const t of seq.evaluate(prompt, { temperature: 1, topK: 0, topP: 1, minP: 0, seed: 1000 + i })) { void t; if (++c >= 60) break; } total += c; active--; check(); }));
    const wall = performance.now() - t0;
    console.log(mode, streams, `${(total * 1000 / wall).toFixed(0)} tok/s`, Object.entries(sizes).map(([s, [c, ms]]) => `batch ${s}: ${c}× ${(ms / c).toFixed(1)} ms`).join(', '));
  }
  await context.dispose();
}
