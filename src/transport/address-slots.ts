/**
 * Connections per client address in some phase (e.g. before their first request), so that one
 * address cannot hold every slot of a listener. A slot is released once, however often its
 * release is called.
 */
export class AddressSlots {
  private readonly held = new Map<string, number>();

  /** A slot for `address`, or undefined when it holds `limit` already. */
  take(address: string, limit: number): (() => void) | undefined {
    const n = this.held.get(address) ?? 0;
    if (n >= limit) return undefined;
    this.held.set(address, n + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.held.get(address) ?? 1) - 1;
      if (left > 0) this.held.set(address, left);
      else this.held.delete(address);
    };
  }
}
