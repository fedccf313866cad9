import type { FastifyReply, FastifyRequest } from 'fastify';
import { Random } from '../random.js';

/** Faults that break the transport rather than answer: the same on every platform. */
export const TRANSPORT_FAULTS = ['http502', 'reset', 'hang'] as const;
export type TransportFault = (typeof TRANSPORT_FAULTS)[number];

const isTransportFault = (kind: string): kind is TransportFault =>
  (TRANSPORT_FAULTS as readonly string[]).includes(kind);

/**
 * Seeded fault injection: which calls fail is decided by a generator seeded from the simulator's seed, so a run
 * with the same seed and the same calls meets the same faults. Also owns the connections a 'hang' fault holds open,
 * so the server can drop them when it closes.
 */
export class FaultInjector<K extends string> {
  private readonly random: Random;
  private readonly hanging = new Set<FastifyReply>();

  constructor(seed: number) {
    this.random = new Random(seed ^ 0x5eed);
  }

  /** One draw per call: null (no fault) or one of `kinds`. */
  draw(rate: number, kinds: readonly K[]): K | null {
    if (rate <= 0 || this.random.next() >= rate) return null;
    if (kinds.length === 0) return null;
    return kinds[Math.floor(this.random.next() * kinds.length)] as K;
  }

  /**
   * Breaks the transport for http502 (a gateway's HTML page), reset (the socket is destroyed) and hang (no
   * response, ever, until the server closes). Returns false for the kinds the platform answers itself.
   */
  async transport(kind: K, req: FastifyRequest, reply: FastifyReply): Promise<boolean> {
    if (!isTransportFault(kind)) return false;
    switch (kind) {
      case 'http502':
        await reply.code(502).type('text/html').send('<html><body><h1>502 Bad Gateway</h1></body></html>');
        return true;
      case 'reset':
        reply.hijack();
        req.raw.socket.destroy();
        return true;
      case 'hang':
        // A response that never comes: the client's timeout must fire.
        reply.hijack();
        this.hanging.add(reply);
        reply.raw.on('close', () => this.hanging.delete(reply));
        return true;
    }
  }

  /** Drops every connection a 'hang' fault still holds. */
  releaseHanging(): void {
    for (const reply of this.hanging) reply.raw.destroy();
    this.hanging.clear();
  }
}
