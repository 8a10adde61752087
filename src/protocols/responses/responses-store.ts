import type { ContextItem, ResponseObject, ServerEvent } from './types.js';

/** One stored response: the object, the context it was made from, and its events for replay. */
export interface StoredResponse {
  response: ResponseObject;
  /** The previous response's context and output, then this request's input: what `input_items` lists. */
  inputItems: ContextItem[];
  /** Every event of its stream, in order, for `GET /v1/responses/{id}?stream=true`. */
  events: ServerEvent[];
}

export interface ListInputItemsOptions {
  /** An item id: list the items after it (in the order asked). */
  after?: string | undefined;
  limit: number;
  order: 'asc' | 'desc';
}

export interface InputItemsPage {
  items: ContextItem[];
  hasMore: boolean;
}

/**
 * Where responses are kept. Every call is scoped by workspace (`null` for callers without one):
 * a response made in one workspace does not exist for another.
 */
export interface ResponsesStore {
  save(workspaceId: string | null, record: StoredResponse): Promise<void>;
  get(workspaceId: string | null, id: string): Promise<StoredResponse | undefined>;
  /** True when it existed (in that workspace) and is gone now. */
  delete(workspaceId: string | null, id: string): Promise<boolean>;
  /** Undefined when the response does not exist in that workspace. */
  listInputItems(workspaceId: string | null, id: string, options: ListInputItemsOptions): Promise<InputItemsPage | undefined>;
  /**
   * The items with these ids among the inputs and outputs of the workspace's stored responses, for
   * `item_reference` input items; an id found nowhere is absent from the map.
   */
  findItems(workspaceId: string | null, ids: readonly string[]): Promise<Map<string, ContextItem>>;
  close?(): Promise<void>;
}

/** Every item of a stored response that an `item_reference` can name: its context, then its output. */
export function itemsOf(record: StoredResponse): ContextItem[] {
  return [...record.inputItems, ...(record.response.output as ContextItem[])];
}

/** One page of a context list, shared by every store (items are kept whole, in context order). */
export function pageOf(items: readonly ContextItem[], options: ListInputItemsOptions): InputItemsPage {
  const ordered = options.order === 'asc' ? items : [...items].reverse();
  let start = 0;
  if (options.after !== undefined) {
    const at = ordered.findIndex((item) => item.id === options.after);
    start = at === -1 ? ordered.length : at + 1;
  }
  const page = ordered.slice(start, start + options.limit);
  return { items: page, hasMore: start + options.limit < ordered.length };
}

/**
 * Responses in this process's memory: the default when no database is configured. The oldest go
 * first beyond `maxResponses`, so a long-running server does not grow without bound.
 */
export class MemoryResponsesStore implements ResponsesStore {
  private readonly records = new Map<string, { workspaceId: string | null; record: StoredResponse }>();
  /**
   * Workspace and item id → every stored response holding that item, oldest first: a chained
   * response holds the items of the ones before it, and deleting one must leave the item
   * referable through the others.
   */
  private readonly items = new Map<string, string[]>();

  constructor(private readonly maxResponses = 10_000) {}

  async save(workspaceId: string | null, record: StoredResponse): Promise<void> {
    // Copies in and out: a caller mutating what it holds never changes what is stored.
    this.remove(record.response.id);
    this.records.set(record.response.id, { workspaceId, record: structuredClone(record) });
    for (const item of itemsOf(record)) {
      if (!item.id) continue;
      const key = itemKey(workspaceId, item.id);
      const holders = this.items.get(key);
      if (!holders) this.items.set(key, [record.response.id]);
      else if (holders.at(-1) !== record.response.id) holders.push(record.response.id);
    }
    while (this.records.size > this.maxResponses) {
      const oldest = this.records.keys().next().value as string;
      this.remove(oldest);
    }
  }

  /** Drops a response and its place among the holders of its items. */
  private remove(id: string): boolean {
    const found = this.records.get(id);
    if (!found) return false;
    for (const item of itemsOf(found.record)) {
      const key = itemKey(found.workspaceId, item.id ?? '');
      const holders = this.items.get(key)?.filter((holder) => holder !== id);
      if (holders?.length) this.items.set(key, holders);
      else this.items.delete(key);
    }
    return this.records.delete(id);
  }

  private find(workspaceId: string | null, id: string): StoredResponse | undefined {
    const found = this.records.get(id);
    return found && found.workspaceId === workspaceId ? found.record : undefined;
  }

  async get(workspaceId: string | null, id: string): Promise<StoredResponse | undefined> {
    const found = this.find(workspaceId, id);
    return found ? structuredClone(found) : undefined;
  }

  async delete(workspaceId: string | null, id: string): Promise<boolean> {
    if (!this.find(workspaceId, id)) return false;
    return this.remove(id);
  }

  async findItems(workspaceId: string | null, ids: readonly string[]): Promise<Map<string, ContextItem>> {
    const found = new Map<string, ContextItem>();
    for (const id of ids) {
      // The last saved holder, as an id reused by a client names its latest item.
      const responseId = this.items.get(itemKey(workspaceId, id))?.at(-1);
      const record = responseId === undefined ? undefined : this.find(workspaceId, responseId);
      const item = record && itemsOf(record).find((candidate) => candidate.id === id);
      if (item) found.set(id, structuredClone(item));
    }
    return found;
  }

  async listInputItems(workspaceId: string | null, id: string, options: ListInputItemsOptions): Promise<InputItemsPage | undefined> {
    const found = this.find(workspaceId, id);
    return found ? structuredClone(pageOf(found.inputItems, options)) : undefined;
  }
}

const itemKey = (workspaceId: string | null, itemId: string) => `${workspaceId ?? ''}\u0000${itemId}`;
