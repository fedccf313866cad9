import { Command } from 'commander';
import { loadConfig } from '../config.js';
import { rotateMasterKey } from '../connections/master-key.js';
import { MASTER_KEY_ENV, SecretBox, newMasterKey, parseMasterKey, readKeyFile } from '../connections/secret-box.js';
import { OrgsyncError } from '../errors.js';
import type { Store } from '../store/store.js';
import type { Output } from './output.js';

/** Where `orgsync admin rotate-master-key` takes the new key when no file is given. */
export const NEW_MASTER_KEY_ENV = 'ORGSYNC_NEW_MASTER_KEY';

const MAKE_ONE = 'Make one with `openssl rand -base64 32 > new.key && chmod 600 new.key`.';

/**
 * The new key: `--new-key-file`, else ORGSYNC_NEW_MASTER_KEY, else (only when the key lives in master.key) a new
 * random one that goes straight into master.key. A generated key is never printed: with the key in
 * ORGSYNC_MASTER_KEY it would have to be shown to be of use, so the operator brings one instead.
 */
function newKeyOf(file: string | undefined, env: NodeJS.ProcessEnv, current: SecretBox): { key: Buffer; from: string } {
  const fromEnv = env[NEW_MASTER_KEY_ENV];
  const envGiven = fromEnv !== undefined && fromEnv.trim() !== '';
  if (file !== undefined && envGiven) {
    throw new OrgsyncError({
      code: 'CONFIG_INVALID',
      message: `the new master key is given twice: by --new-key-file and by ${NEW_MASTER_KEY_ENV}`,
      hint: `Give it one way only: unset ${NEW_MASTER_KEY_ENV}, or leave out --new-key-file.`,
      object: '--new-key-file',
    });
  }
  if (file !== undefined) {
    const key = readKeyFile(file);
    if (!key) {
      throw new OrgsyncError({
        code: 'FILE_UNREADABLE',
        message: `--new-key-file ${file} does not exist`,
        hint: `Check the path. ${MAKE_ONE}`,
        object: '--new-key-file',
      });
    }
    return { key, from: file };
  }
  if (envGiven) return { key: parseMasterKey(fromEnv, NEW_MASTER_KEY_ENV, MAKE_ONE), from: NEW_MASTER_KEY_ENV };
  if (current.keyFile() === undefined) {
    throw new OrgsyncError({
      code: 'CONFIG_INVALID',
      message: `the master key is in ${MASTER_KEY_ENV}, so the new key must be given: with --new-key-file PATH or ${NEW_MASTER_KEY_ENV}`,
      hint: `${MAKE_ONE} Then run \`orgsync admin rotate-master-key --new-key-file new.key\`, and set ${MASTER_KEY_ENV} to the new key before the next start.`,
      object: '--new-key-file',
    });
  }
  return { key: newMasterKey(), from: 'generated' };
}

export function rotateMasterKeyCommand(
  io: Output,
  withStore: <T>(opts: { dataDir?: string }, fn: (store: Store) => Promise<T>) => Promise<T>,
  setJson: (json: boolean) => void,
): Command {
  return new Command('rotate-master-key')
    .description('re-seal every stored secret under a new master key, in one transaction (see docs/cli.md)')
    .option(
      '--new-key-file <path>',
      `the new key, 32 bytes as base64 or hex, mode 0600 (default: ${NEW_MASTER_KEY_ENV}, else a generated key written to master.key)`,
    )
    .option('--json', 'print { fingerprint, previousFingerprint, connections, keyFile } as one JSON document')
    .action(async (opts: { newKeyFile?: string; json?: boolean }, cmd: Command) => {
      setJson(opts.json === true);
      const global = cmd.optsWithGlobals<{ dataDir?: string }>();
      const { dataDir } = loadConfig(process.env, { dataDir: global.dataDir }).store;
      const current = SecretBox.fromEnvironment({ env: process.env, dataDir });
      const next = newKeyOf(opts.newKeyFile, process.env, current);
      const result = await withStore(global.dataDir !== undefined ? { dataDir: global.dataDir } : {}, (store) =>
        rotateMasterKey(store, current, next.key),
      );
      if (opts.json) {
        io.out(JSON.stringify(result));
        return;
      }
      const n = result.connections.length;
      io.out(
        [
          `Re-sealed the secrets of ${n} connection${n === 1 ? '' : 's'} under the new master key (fingerprint ${result.fingerprint}` +
            `${result.previousFingerprint ? `; the old key, ${result.previousFingerprint}, no longer opens them` : ''}).`,
          result.keyFile
            ? `The new key is in ${result.keyFile}: back it up now. Backups of the database taken before this rotation still need the old key.`
            : `Set ${MASTER_KEY_ENV} to the new key (from ${next.from}) before the next start: the old key no longer opens the stored secrets.`,
          'Restart every running `orgsync serve`: it still holds the old key.',
        ].join('\n'),
      );
    });
}
