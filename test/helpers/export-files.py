"""Writes and reads export files with Python's own libraries (openpyxl, csv, codecs), so the files orgsync's
reader is tested with come from another writer than its parser, and the simulator's files are checked by another
reader. Driven by test/helpers/export-files.ts: one JSON request on stdin, one JSON answer on stdout."""

import csv
import datetime
import io
import json
import sys

import openpyxl


def mojibake(text):
    """UTF-8 bytes read as Windows-1252 (Latin-1 for the five bytes 1252 leaves undefined), as a wrong conversion does."""
    out = []
    for b in text.encode('utf-8'):
        try:
            out.append(bytes([b]).decode('cp1252'))
        except UnicodeDecodeError:
            out.append(chr(b))
    return ''.join(out)


def cell(value, garble):
    if isinstance(value, dict) and 'date' in value:
        return datetime.datetime.strptime(value['date'], '%Y-%m-%d')
    if isinstance(value, str) and garble:
        return mojibake(value)
    return value


def write(request):
    garble = request.get('mojibake', False)
    if request['kind'] == 'xlsx':
        wb = openpyxl.Workbook()
        wb.remove(wb.active)
        for sheet in request['sheets']:
            ws = wb.create_sheet(sheet['name'])
            for row in sheet['rows']:
                ws.append([cell(v, garble) for v in row])
            for ref in sheet.get('dates', []):
                ws[ref].number_format = 'yyyy-mm-dd'
        wb.save(request['path'])
        return {}
    text = io.StringIO(newline='')
    writer = csv.writer(text, lineterminator=request.get('newline', '\r\n'))
    for row in request['sheets'][0]['rows']:
        writer.writerow(['' if v is None else cell(v, garble) for v in row])
    encoding = {'utf8': 'utf-8', 'utf8-bom': 'utf-8-sig', 'gb18030': 'gb18030'}[request.get('encoding', 'utf8')]
    with open(request['path'], 'wb') as f:
        f.write(text.getvalue().encode(encoding))
    return {}


def plain(value):
    if value is None:
        return ''
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.strftime('%Y-%m-%d')
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def read(request):
    wb = openpyxl.load_workbook(request['path'], read_only=True)
    sheets = []
    for ws in wb.worksheets:
        rows = [[plain(v) for v in row] for row in ws.iter_rows(values_only=True)]
        sheets.append({'name': ws.title, 'rows': rows})
    return {'sheets': sheets}


def decode(request):
    encoding = {'utf8': 'utf-8', 'utf8-bom': 'utf-8-sig', 'gb18030': 'gb18030'}[request['encoding']]
    with open(request['path'], 'rb') as f:
        raw = f.read()
    if request['encoding'] == 'utf8' and raw.startswith(b'\xef\xbb\xbf'):
        raise ValueError('a BOM where none was asked for')
    if request['encoding'] == 'utf8-bom' and not raw.startswith(b'\xef\xbb\xbf'):
        raise ValueError('no BOM')
    return {'rows': list(csv.reader(io.StringIO(raw.decode(encoding), newline='')))}


request = json.load(sys.stdin)
answer = {'write': write, 'read': read, 'decode': decode}[request['op']](request)
json.dump(answer, sys.stdout, ensure_ascii=False)
