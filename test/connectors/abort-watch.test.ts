import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { AbortWatch } from '../../src/connectors/common/abort.js';

describe('AbortWatch: many waiters on one signal', () => {
  it('calls the waiters still waiting when the signal aborts, in the order they began, and no others', () => {
    const watch = new AbortWatch();
    const abort = new AbortController();
    const called: number[] = [];
    const stops = Array.from({ length: 5 }, (_, i) => watch.on(abort.signal, () => called.push(i)));
    stops[1]?.();
    stops[3]?.();
    abort.abort();
    expect(called).toEqual([0, 2, 4]);
    // Stopping after the signal fired changes nothing.
    stops[0]?.();
    expect(called).toEqual([0, 2, 4]);
  });

  it('puts one listener on the signal however many wait, and none once the last stops waiting', () => {
    const watch = new AbortWatch();
    const abort = new AbortController();
    const stops = Array.from({ length: 3000 }, () => watch.on(abort.signal, () => {}));
    expect(getEventListeners(abort.signal, 'abort')).toHaveLength(1);
    for (const stop of stops) stop();
    expect(getEventListeners(abort.signal, 'abort')).toHaveLength(0);
    // Waiting again after that listens again.
    let fired = 0;
    watch.on(abort.signal, () => fired++);
    expect(getEventListeners(abort.signal, 'abort')).toHaveLength(1);
    abort.abort();
    expect(fired).toBe(1);
  });

  it('a waiter that begins after the signal fired is never called, as with addEventListener', () => {
    const watch = new AbortWatch();
    const abort = new AbortController();
    let late = 0;
    watch.on(abort.signal, () => watch.on(abort.signal, () => late++));
    abort.abort();
    expect(late).toBe(0);
  });

  it('abortable and sleep give up with the reason as soon as the signal aborts, and stop listening when done', async () => {
    const watch = new AbortWatch();
    const abort = new AbortController();
    const settled = await watch.abortable(Promise.resolve('value'), abort.signal);
    expect(settled).toBe('value');
    expect(getEventListeners(abort.signal, 'abort')).toHaveLength(0);

    const never = new Promise<string>(() => {});
    const waiting = watch.abortable(never, abort.signal);
    // An hour's sleep, cut short by the signal: the test does not depend on the clock.
    const sleeping = watch.sleep(3_600_000, abort.signal);
    const reason = new Error('stop');
    abort.abort(reason);
    await expect(waiting).rejects.toBe(reason);
    await expect(sleeping).rejects.toBe(reason);
    await expect(watch.sleep(10, abort.signal)).rejects.toBe(reason);
  });
});
