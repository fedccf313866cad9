export interface LockRepo {
  /** Takes the lock if it is free, expired, or already ours. */
  tryAcquire(name: string, holder: string, ttlMs: number): Promise<boolean>;
  release(name: string, holder: string): Promise<void>;
}
