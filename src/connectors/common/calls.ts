/**
 * The `stats` of a reader: the API calls its client made since the reader was made. A client outlives the runs it
 * serves (one per connection, so its rate limiter counts every run's calls), and each run has a reader of its own.
 */
export function callsSince(client: { stats(): { calls: number } }): () => Record<string, unknown> {
  const before = client.stats().calls;
  return () => ({ apiCalls: client.stats().calls - before });
}
