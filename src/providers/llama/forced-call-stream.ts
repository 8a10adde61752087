/** What a piece of a forced call's JSON adds to the call: its name, once known, and argument text. */
export interface ForcedCallPiece {
  /** Set once: the call starts (OpenAI's first tool-call delta carries the name). */
  name?: string;
  /** Argument text to send on, as it came. */
  arguments: string;
}

/** The wrapper up to the arguments value, read only once the value has begun (whitespace before it may still be coming). */
const HEAD = /^\s*\{\s*"name"\s*:\s*"([^"\\]*)"\s*,\s*"arguments"\s*:\s*(?=\S)/;

/**
 * Reads a forced tool call's JSON as the engine writes it, `{"name": "<tool>", "arguments": <value>}`
 * (the grammar's order, tool-schema.ts), so that the call streams as OpenAI streams one: the call
 * starts once its name is written, and its arguments go on as they are generated, the wrapper's
 * closing brace left out. A reply cut by the token limit keeps what was written (`end`), and a
 * call whose name was cut is named only when a single tool fits what was written.
 */
export class ForcedCallStream {
  private text = '';
  private name: string | undefined;
  /** Where the arguments value starts in `text`, once the head is read. */
  private start = -1;
  /** How far into `text` the arguments were sent on. */
  private sent = 0;
  /** Where the arguments value ends (past its closing bracket), once it has. */
  private end_ = -1;
  // The scan of the arguments value: bracket depth, inside a string, after a backslash.
  private scanned = 0;
  private depth = 0;
  private inString = false;
  private escaped = false;

  constructor(private readonly names: readonly string[]) {}

  /** True once the call has started (its name was sent). */
  get started(): boolean {
    return this.name !== undefined;
  }

  push(text: string): ForcedCallPiece {
    this.text += text;
    const piece: ForcedCallPiece = { arguments: '' };
    if (this.start === -1) {
      const head = HEAD.exec(this.text);
      if (!head) return piece;
      this.name = head[1]!;
      piece.name = this.name;
      this.start = this.sent = this.scanned = head[0].length;
    }
    piece.arguments = this.take(this.scan());
    return piece;
  }

  /** The generation is over: what is left of the call (all of it, if its name never was whole). */
  end(): ForcedCallPiece | undefined {
    if (this.start === -1) {
      // Whole but not in the grammar's order (it always is): read as JSON.
      const whole = wholeCall(this.text);
      if (whole) {
        this.name = whole.name;
        return whole;
      }
      const written = /"name"\s*:\s*"([^"\\]*)/.exec(this.text)?.[1] ?? '';
      const fits = this.names.filter((name) => name.startsWith(written));
      // A cut that leaves several tools possible makes no call: never a call without a name.
      if (fits.length !== 1) return undefined;
      this.name = fits[0]!;
      return { name: this.name, arguments: '' };
    }
    // A value that is not an object or array (never, for an object schema) is only known whole here.
    const upTo = this.end_ !== -1 ? this.end_ : this.bracketed() ? this.text.length : this.text.trimEnd().replace(/\}$/, '').length;
    return { arguments: this.take(upTo) };
  }

  private bracketed(): boolean {
    const first = this.text[this.start];
    return first === '{' || first === '[';
  }

  /** How far the arguments are known to run: to their end once closed, else to what was scanned. */
  private scan(): number {
    if (this.end_ !== -1) return this.end_;
    if (this.scanned >= this.text.length) return this.bracketed() ? this.scanned : this.start;
    if (!this.bracketed()) return this.start;
    const text = this.text;
    for (let at = this.scanned; at < text.length; at++) {
      const character = text[at];
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (character === '\\') this.escaped = true;
        else if (character === '"') this.inString = false;
      } else if (character === '"') this.inString = true;
      else if (character === '{' || character === '[') this.depth++;
      else if (character === '}' || character === ']') {
        this.depth--;
        if (this.depth === 0) {
          this.end_ = this.scanned = at + 1;
          return this.end_;
        }
      }
    }
    this.scanned = text.length;
    return this.scanned;
  }

  private take(upTo: number): string {
    if (upTo <= this.sent) return '';
    const out = this.text.slice(this.sent, upTo);
    this.sent = upTo;
    return out;
  }
}

function wholeCall(text: string): { name: string; arguments: string } | undefined {
  try {
    const parsed = JSON.parse(text) as { name?: unknown; arguments?: unknown };
    return typeof parsed.name === 'string' ? { name: parsed.name, arguments: JSON.stringify(parsed.arguments ?? {}) } : undefined;
  } catch {
    return undefined;
  }
}
