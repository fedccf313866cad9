import path from 'node:path';
import { ValidationError } from '../errors.js';
import type { ExportReadOptions, PlatformDefinition, SourceConnector } from '../connectors/contract.js';
import { contentOf, type FileContent } from '../connectors/common/files/detect.js';
import type { EncodingChoice } from '../connectors/common/files/encoding.js';
import { JsonSnapshotSource } from '../connectors/json-snapshot/source.js';
import { PLATFORMS } from '../connectors/registry.js';
import type { Template } from './types.js';

/**
 * The source an import file is read with, for `orgsync import` and the API's imports alike: what the file is (told
 * by its content), the export options checked against it, and the defaults that follow from it.
 */

type ExportReading = PlatformDefinition & Required<Pick<PlatformDefinition, 'exportReader'>>;

/** The platforms that read their admin console's export, each a format `<id>-export`. */
export const EXPORT_READERS: readonly ExportReading[] = PLATFORMS.flatMap((p) =>
  p.exportReader ? [p as ExportReading] : [],
);
export const exportFormat = (p: PlatformDefinition): string => `${p.id}-export`;

/** Which part of the file to read and how. Rows are 0-based rows of the sheet; the first read is the header. */
export interface FileReadRequest {
  /** `auto` tells a snapshot, a workbook and a CSV apart by content; `snapshot`, `<id>-export` (xlsx), `csv` insist. */
  format: string;
  sheet?: number | string | undefined;
  startRow?: number | undefined;
  endRow?: number | undefined;
  encoding: EncodingChoice;
}

/** What the request's options are called where they were given: the CLI's flags, the API's body keys. */
export type OptionNames = Record<'sheet' | 'startRow' | 'endRow' | 'encoding', string>;

export interface FileSource {
  connector: SourceConnector;
  content: FileContent;
  /** The source name an import of this file takes unless given one: `json`, or `<platform>-export`. */
  defaultSource: string;
  /** create-update for an export file (nobody missing from it is touched), full for a snapshot. */
  defaultTemplate: Template;
}

/** What the file is; `display` is how the issues name it (the CLI: the path given; the API: the upload's name). */
export async function fileContent(
  file: string,
  format: 'auto' | 'xlsx' | 'csv',
  display: string = file,
): Promise<FileContent> {
  try {
    return await contentOf(file, format);
  } catch (err) {
    if (!(err instanceof ValidationError) || display === file) throw err;
    throw new ValidationError(
      err.what === file ? display : err.what,
      err.issues.map((i) => (i.path === file ? { ...i, path: display } : i)),
    );
  }
}

/**
 * The connector for `file` read as `request` asks; an export option where it means nothing (a sheet of a CSV, an
 * encoding of a workbook, any of them for a snapshot) or an end row before the start row is refused, named as
 * `names` says, under `what` (e.g. "import flags").
 */
export async function fileSource(
  file: string,
  request: FileReadRequest,
  options: { names: OptionNames; what: string; display?: string },
): Promise<FileSource> {
  const { names, what } = options;
  const display = options.display ?? file;
  const name = path.basename(display);
  const refuse = (option: keyof OptionNames, message: string, hint: string): ValidationError =>
    new ValidationError(what, [{ path: names[option], field: names[option].replace(/^--/, ''), message, hint }]);
  const { startRow, endRow } = request;
  if (startRow !== undefined && endRow !== undefined && endRow >= 0 && endRow < startRow) {
    throw refuse(
      'endRow',
      `the end row ${endRow} is before the start row ${startRow}`,
      `Give an ${names.endRow} at or after ${names.startRow} (rows count from 0; -1 is the last row).`,
    );
  }
  const platform = EXPORT_READERS.find((p) => exportFormat(p) === request.format) ?? EXPORT_READERS[0];
  const content =
    request.format === 'snapshot'
      ? 'snapshot'
      : await fileContent(
          file,
          request.format === 'auto' ? 'auto' : request.format === 'csv' ? 'csv' : 'xlsx',
          display,
        );
  if (content === 'snapshot' || !platform) {
    const given = (['sheet', 'startRow', 'endRow'] as const).filter((o) => request[o] !== undefined);
    const option = [...given, ...(request.encoding !== 'auto' ? (['encoding'] as const) : [])][0];
    if (option) {
      throw refuse(
        option,
        `${name} is a JSON snapshot: ${names[option]} is for export files`,
        `Leave ${names[option]} out.`,
      );
    }
    return {
      connector: new JsonSnapshotSource(file),
      content: 'snapshot',
      defaultSource: 'json',
      defaultTemplate: 'full',
    };
  }
  if (content === 'csv' && request.sheet !== undefined) {
    throw refuse('sheet', `${name} is a CSV file, which has no sheets`, `Leave ${names.sheet} out.`);
  }
  if (content === 'xlsx' && request.encoding !== 'auto') {
    throw refuse(
      'encoding',
      `${name} is an Excel workbook, whose text is always Unicode`,
      `Leave ${names.encoding} out; it is for CSV files.`,
    );
  }
  const read: ExportReadOptions = {
    content,
    encoding: request.encoding,
    ...(request.sheet !== undefined ? { sheet: request.sheet } : {}),
    ...(startRow !== undefined ? { startRow } : {}),
    ...(endRow !== undefined ? { endRow } : {}),
  };
  return {
    connector: platform.exportReader.source(file, read),
    content,
    defaultSource: exportFormat(platform),
    defaultTemplate: 'create-update',
  };
}
