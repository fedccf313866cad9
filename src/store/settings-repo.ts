/** Named values of the installation as a whole (migration 0009), such as the master key's fingerprint. */
export interface SettingsRepo {
  /** The value, or undefined when it was never set. */
  get(name: string): Promise<string | undefined>;
  /** Sets the value, replacing any earlier one. */
  set(name: string, value: string): Promise<void>;
}
