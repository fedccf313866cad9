import { OrgsyncError } from '../../../errors.js';

/** A file that cannot be opened or read: a path or permission problem, not bad content (exit 1, not 2). */
export function fileUnreadable(file: string, err: unknown): OrgsyncError {
  const code = (err as NodeJS.ErrnoException).code;
  return new OrgsyncError({
    code: 'FILE_UNREADABLE',
    message: code === 'ENOENT' ? `file not found: ${file}` : `cannot read ${file}: ${(err as Error).message}`,
    hint: 'Check the path and that the file is readable.',
  });
}
