// A tiny flag reader shared by the bench scripts: they take a handful of `--name value` flags,
// too few to justify more than this.

/** The value after `--name` (or in `--name=value`), if the flag is present. */
export function flagValue(args: readonly string[], name: string): string | undefined {
  const flag = `--${name}`;
  for (let i = 0; i < args.length; i += 1) {
    const arg = args[i]!;
    if (arg === flag) {
      const value = args[i + 1];
      if (value === undefined || value.startsWith('--')) throw new Error(`${flag} needs a value`);
      return value;
    }
    if (arg.startsWith(`${flag}=`)) return arg.slice(flag.length + 1);
  }
  return undefined;
}

export function hasFlag(args: readonly string[], name: string): boolean {
  return args.includes(`--${name}`);
}

/** `--port N`: 0 (the default) lets the OS choose, and the chosen port is reported. */
export function portFlag(args: readonly string[]): number {
  const raw = flagValue(args, 'port') ?? '0';
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new Error(`--port: not a port number: ${raw}`);
  return port;
}

/**
 * Tells whoever started this process which port it listens on: the parent over IPC when forked
 * (the benchmark), and a human on stdout either way.
 */
export function announceListening(what: string, port: number): void {
  process.stdout.write(`${what} listening on http://127.0.0.1:${port}\n`);
  if (process.send) {
    process.send({ type: 'listening', port });
    // Forked by the benchmark: if it dies without stopping us, do not linger as an orphan.
    process.once('disconnect', () => process.exit(0));
  }
}
