import { h } from './dom';

/**
 * A table body that holds only the rows in (and near) its scroll box: at 1,000 learners the page keeps
 * some forty rows in the DOM instead of a thousand, so a refresh, the every-second clock and scrolling
 * touch forty rows. Rows have one height (the stylesheet keeps their cells to one or two lines), so the
 * rows above and below the window are two spacer rows of the right height and the scroll bar is true.
 *
 * Screen readers still learn the whole size: the table gets aria-rowcount, each row its aria-rowindex.
 * Keyboard: the window reaches OVERSCAN rows past the scroll box, so Tab always finds the next row
 * rendered, and the browser scrolling it into view moves the window along.
 */
const OVERSCAN = 12;

export interface VirtualRow {
  tr: HTMLTableRowElement;
}

export class VirtualRows<T, R extends VirtualRow> {
  private readonly rows = new Map<string, R>();
  private readonly top: HTMLTableCellElement;
  private readonly bottom: HTMLTableCellElement;
  private items: readonly T[] = [];
  private rowHeight = 0;
  private frame = 0;

  constructor(
    private readonly scroller: HTMLElement,
    private readonly body: HTMLElement,
    private readonly table: HTMLElement,
    private readonly opts: { columns: number; key: (t: T) => string; create: (t: T) => R; update: (row: R, t: T) => void; estimate: () => number },
  ) {
    this.top = h('td', { colspan: String(opts.columns) });
    this.bottom = h('td', { colspan: String(opts.columns) });
    scroller.addEventListener('scroll', () => this.later(), { passive: true });
    new ResizeObserver(() => this.later()).observe(scroller);
    this.clear();
  }

  clear(): void {
    this.rows.clear();
    this.items = [];
    this.body.replaceChildren(h('tr', { class: 'spacer', 'aria-hidden': 'true' }, this.top), h('tr', { class: 'spacer', 'aria-hidden': 'true' }, this.bottom));
    this.render();
  }

  setItems(items: readonly T[]): void {
    this.items = items;
    this.render();
  }

  /** After a change of row height (compact rows on or off). */
  remeasure(): void {
    this.rowHeight = 0;
    this.render();
  }

  /** The rendered rows with their items, in order. */
  *rendered(): Iterable<[T, R]> {
    for (const t of this.items) {
      const row = this.rows.get(this.opts.key(t));
      if (row) yield [t, row];
    }
  }

  row(key: string): R | undefined {
    return this.rows.get(key);
  }

  /** Scroll the row of `key` into the window (it is rendered afterwards). */
  reveal(key: string): R | undefined {
    const i = this.items.findIndex((t) => this.opts.key(t) === key);
    if (i < 0) return undefined;
    const height = this.rowHeight || this.opts.estimate();
    const y = i * height;
    if (y < this.scroller.scrollTop || y + height > this.scroller.scrollTop + this.scroller.clientHeight) this.scroller.scrollTop = Math.max(0, y - height);
    this.render();
    return this.rows.get(key);
  }

  private later(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.render();
    });
  }

  render(): void {
    const height = this.rowHeight || this.opts.estimate();
    const viewport = this.scroller.clientHeight || window.innerHeight;
    const first = Math.min(Math.max(0, Math.floor(this.scroller.scrollTop / height) - OVERSCAN), Math.max(0, this.items.length - 1));
    const last = Math.min(this.items.length, first + Math.ceil(viewport / height) + 2 * OVERSCAN);
    const wanted = this.items.slice(first, last);
    const keep = new Set(wanted.map(this.opts.key));
    for (const [k, row] of this.rows) if (!keep.has(k)) (row.tr.remove(), this.rows.delete(k));
    let prev: Element = this.top.parentElement!;
    wanted.forEach((t, i) => {
      const k = this.opts.key(t);
      let row = this.rows.get(k);
      if (!row) this.rows.set(k, (row = this.opts.create(t)));
      this.opts.update(row, t);
      row.tr.setAttribute('aria-rowindex', String(first + i + 2)); // the header row is 1
      if (prev.nextElementSibling !== row.tr) prev.after(row.tr);
      prev = row.tr;
    });
    if (!this.rowHeight && wanted.length) {
      const measured = this.rows.get(this.opts.key(wanted[0]))!.tr.getBoundingClientRect().height;
      if (measured > 0) this.rowHeight = measured;
    }
    const rowHeight = this.rowHeight || height;
    this.top.style.height = `${first * rowHeight}px`;
    this.bottom.style.height = `${(this.items.length - last) * rowHeight}px`;
    this.table.setAttribute('aria-rowcount', String(this.items.length + 1));
  }
}
