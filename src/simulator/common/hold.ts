/**
 * A gate a test closes to stop the simulator at a known point and opens again when it has done what it needed
 * there (killed a receiver, closed a server while a call is in flight): "hold after K" lets K more passes through,
 * then keeps the rest waiting, in order, until the next release. Open by default, so it costs nothing otherwise.
 */
export interface HoldState {
  /** The gate is closed (once `allowance` is used up, passes wait). */
  holding: boolean;
  /** Passes still let through before the gate stops them. */
  allowance: number;
  /** Passes waiting at the gate now. */
  held: number;
}

export class Hold {
  /** null: open. */
  private allowance: number | null = null;
  private readonly waiting: Array<() => void> = [];

  /** Lets `after` more passes through (waiting ones first, in order), then holds every later one. */
  hold(after = 0): HoldState {
    this.allowance = after;
    while (this.allowance > 0 && this.waiting.length > 0) {
      this.allowance--;
      (this.waiting.shift() as () => void)();
    }
    return this.state();
  }

  /** Opens the gate: every waiting pass goes on, and later ones are not stopped. */
  release(): HoldState {
    this.allowance = null;
    for (const go of this.waiting.splice(0)) go();
    return this.state();
  }

  /** Resolves at once while the gate is open or has allowance left; otherwise when it is released. */
  async pass(): Promise<void> {
    if (this.allowance === null) return;
    if (this.allowance > 0 && this.waiting.length === 0) {
      this.allowance--;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  state(): HoldState {
    return { holding: this.allowance !== null, allowance: this.allowance ?? 0, held: this.waiting.length };
  }
}
