/** One page of a List call: its items and the token of the next page ('' at the end). */
export interface Page<T> {
  items: T[];
  next: string;
}

/**
 * Every item of a paged List call, page after page until the server says there are no more, or
 * `limit` items are in. `fetchPage` gets the page token and how many items are still wanted.
 */
export async function drainPages<T>(fetchPage: (pageToken: string, want: number) => Promise<Page<T>>, limit = Infinity): Promise<T[]> {
  const out: T[] = [];
  let pageToken = '';
  do {
    const page = await fetchPage(pageToken, limit - out.length);
    out.push(...page.items);
    pageToken = page.next;
  } while (pageToken && out.length < limit);
  return out;
}
