import { InvalidArgumentError } from 'commander';

/** A flag's value as a whole number above zero. */
export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('expected a positive whole number');
  return n;
}
