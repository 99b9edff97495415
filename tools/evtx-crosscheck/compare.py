#!/usr/bin/env python3
"""Compares `kraken-sentry eventlog read` with python-evtx, record by record, on .evtx files.

python-evtx is a pure Python parser with no code in common with the evtx crate the sentry's file
source uses, so where both read a record and agree, the sentry's mapping is not just repeating the
crate's reading. Its own habits, each checked against what Windows renders, are not counted as
differences (see README.md next to this file). Prints every difference (up to --show per field)
and a summary; exits 1 if any difference is left, 0 otherwise.

Usage: compare.py [--sentry PATH] [--show N] FILE.evtx...
"""
import argparse
import base64
import collections
import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import Evtx.Evtx as evtx

NS = '{http://schemas.microsoft.com/win/2004/08/events/event}'
# The System fields compared as they are (after the conversions in `their_record`).
PLAIN_FIELDS = ['event_id', 'level', 'task', 'channel', 'computer', 'process_id', 'thread_id',
                'user_sid', 'provider_name', 'provider_guid', 'activity_id', 'keywords']
TIME = re.compile(r'(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:\.(\d+))?(Z|\+00:00)?$')


def their_records(path, counts):
    """(record id, fields) of every record python-evtx can render, in file order."""
    out = []
    with evtx.Evtx(path) as log:
        for record in log.records():
            try:
                root = ET.fromstring(record.xml())
                out.append(their_record(root, counts))
            except Exception:  # python-evtx's own failures: counted, not compared
                counts['python-evtx could not read'] += 1
    return out


def child_text(parent, tag):
    element = parent.find(NS + tag)
    return None if element is None else (element.text or '')


def their_record(root, counts):
    system = root.find(NS + 'System')
    fields = {}
    provider = system.find(NS + 'Provider')
    fields['provider_name'] = provider.get('Name') or provider.get('EventSourceName')
    fields['provider_guid'] = (provider.get('Guid') or '').upper() or None
    fields['event_id'] = int(child_text(system, 'EventID'))
    for key, tag in [('level', 'Level'), ('task', 'Task'), ('opcode', 'Opcode')]:
        value = child_text(system, tag)
        fields[key] = int(value) if value else None
    keywords = child_text(system, 'Keywords')
    fields['keywords'] = int(keywords, 16) if keywords else None
    fields['record_id'] = int(child_text(system, 'EventRecordID'))
    fields['channel'] = child_text(system, 'Channel')
    fields['computer'] = child_text(system, 'Computer')
    execution = system.find(NS + 'Execution')
    if execution is not None:
        for key, attribute in [('process_id', 'ProcessID'), ('thread_id', 'ThreadID')]:
            value = execution.get(attribute)
            fields[key] = int(value) if value else None
    security = system.find(NS + 'Security')
    # python-evtx writes `UserID=""` where Windows writes `<Security/>`.
    fields['user_sid'] = (security.get('UserID') or None) if security is not None else None
    correlation = system.find(NS + 'Correlation')
    activity = correlation.get('ActivityID') if correlation is not None else None
    fields['activity_id'] = activity.upper() if activity else None
    created = system.find(NS + 'TimeCreated')
    fields['time_created'] = created.get('SystemTime') if created is not None else None
    fields['event_data'] = their_event_data(root, counts)
    fields['user_data'] = their_user_data(root)
    return fields['record_id'], fields


def their_user_data(root):
    """`UserData` as the sentry flattens it: its element's name, then in document order the
    attributes (as `element.attribute`) and leaf texts below it."""
    user_data = root.find(NS + 'UserData')
    if user_data is None:
        return None
    top = next(iter(user_data), None)
    if top is None:
        return {}
    local = lambda tag: tag.rsplit('}', 1)[-1]
    flat = {'_element': local(top.tag)}
    next_suffix = {}

    def put(name, value):
        key, suffix = name, next_suffix.get(name, 0)
        while key in flat:
            suffix += 1
            key = f'{name}_{suffix}'
        next_suffix[name] = suffix
        flat[key] = value

    for element in top.iter():  # document order: an element's attributes, then its text
        for attribute, value in element.attrib.items():
            put(f'{local(element.tag)}.{local(attribute)}', value)
        if element is top or len(element):
            continue
        if (element.text or '').startswith('<string>'):
            return 'array'  # a string array, as in EventData: not compared
        put(local(element.tag), element.text or '')
    return flat


def their_event_data(root, counts):
    event_data = root.find(NS + 'EventData')
    if event_data is None:
        return None
    data, position = {}, 0
    for element in event_data:
        if element.tag == NS + 'Binary' and element.text:
            # python-evtx writes binary as base64, Windows as upper-case hex.
            data['binary'] = as_hex_of_base64(element.text) or element.text
            continue
        if element.tag != NS + 'Data':
            continue
        position += 1
        text = element.text or ''
        if not element.get('Name') and text.startswith('<string>'):
            # A string array: python-evtx writes one `<string>` list where Windows writes one
            # Data per item, and it misreads arrays with empty or non-BMP items. Not compared.
            counts['python-evtx string arrays not compared'] += 1
            return 'array'
        name = element.get('Name') or 'param%d' % position
        data.setdefault(name, text)
    return data


def our_records(sentry, path, counts):
    """(record id, params) of every record the sentry gives, in file order."""
    run = subprocess.run([sentry, 'eventlog', 'read', path], capture_output=True, text=True)
    if run.returncode != 0:
        raise SystemExit(f'{path}: kraken-sentry failed: {run.stderr.strip()}')
    out = []
    for line in run.stdout.split('\n'):
        if line:
            params = json.loads(line)['params']
            if params.get('logtype') == 'system':
                out.append((params['record_id'], params))
            else:
                counts['sentry error records'] += 1
    return out


def as_time(text):
    """(seconds tuple, microseconds) of a time in either parser's format, else None."""
    match = TIME.match(text or '')
    if not match:
        return None
    fraction = (match.group(7) or '0') + '000000'
    return tuple(int(part) for part in match.groups()[:6]), int(fraction[:6])


def same_time(theirs, ours):
    a, b = as_time(theirs), as_time(ours)
    if a is None or b is None:
        return theirs == ours
    if a[0] == (1, 1, 1, 0, 0, 0) and b == ((1601, 1, 1, 0, 0, 0), 0):
        return True  # python-evtx writes a zero FILETIME as year 1, Windows as 1601
    # python-evtx goes through floats: its microseconds can be 2 off.
    return a[0] == b[0] and abs(a[1] - b[1]) <= 2


def as_hex_of_base64(text):
    try:
        return base64.b64decode(text, validate=True).hex().upper()
    except ValueError:
        return None


def same_value(theirs, ours):
    if theirs in ('', None) and ours in ('', None):
        return True
    if theirs is None or ours is None:
        return False
    if re.fullmatch(r'0x[0-9a-fA-F]+', theirs) and re.fullmatch(r'0x[0-9a-fA-F]+', ours):
        return int(theirs, 16) == int(ours, 16)  # python-evtx pads hex, Windows does not
    if theirs in ('True', 'False'):
        return ours.lower() == theirs.lower()
    if as_time(theirs) and as_time(ours):
        return same_time(theirs, ours)
    if re.fullmatch(r'[0-9A-F]+', ours) and as_hex_of_base64(theirs) == ours:
        return True  # a binary value: python-evtx writes base64, Windows upper-case hex
    # Characters XML does not allow: Windows writes `_`, python-evtx leaves them out.
    return theirs == ours or ('_' in ours and theirs == ours.replace('_', ''))


def differences(theirs, ours):
    found = []
    for key in PLAIN_FIELDS:
        mine = ours.get(key)
        if key == 'keywords':
            mine = int(mine, 16) if mine else None
        elif key in ('provider_guid', 'activity_id') and mine:
            mine = mine.upper()
        if theirs.get(key) != mine:
            found.append((key, theirs.get(key), ours.get(key)))
    # The sentry says 0 for an absent Opcode, as for an absent Level.
    if theirs.get('opcode') not in (None, ours.get('opcode')):
        found.append(('opcode', theirs.get('opcode'), ours.get('opcode')))
    if not same_time(theirs.get('time_created'), ours.get('time_created')):
        found.append(('time_created', theirs.get('time_created'), ours.get('time_created')))
    data = theirs.get('event_data')
    if data != 'array':
        found += map_differences('event_data', data or {}, ours.get('event_data') or {}, ours)
    data, mine = theirs.get('user_data'), ours.get('user_data')
    if data == 'array':
        pass
    elif (data is None) != (mine is None):
        found.append(('user_data', data, mine))
    elif data is not None:
        found += map_differences('user_data', data, mine, ours)
    return found


def map_differences(field, data, mine, ours):
    found = []
    for key in sorted(set(data) | set(mine)):
        theirs_value, our_value = data.get(key), mine.get(key)
        if ours.get('truncated') and our_value and theirs_value and our_value != theirs_value:
            # Cut at max_field_bytes (the record says so): compare what was kept.
            hex_value = as_hex_of_base64(theirs_value)
            if len(our_value) < len(theirs_value) and theirs_value.startswith(our_value):
                theirs_value = our_value
            elif hex_value and len(our_value) < len(hex_value):
                theirs_value = hex_value[:len(our_value)]
        if not same_value(theirs_value, our_value):
            found.append((f'{field}.{key}', theirs_value, our_value))
    return found


def compare_file(sentry, path, counts, shown, show):
    theirs_by_id, ours_by_id = collections.defaultdict(list), collections.defaultdict(list)
    try:
        for record_id, fields in their_records(path, counts):
            theirs_by_id[record_id].append(fields)
    except Exception as error:  # python-evtx cannot open the file at all
        counts['files python-evtx could not open'] += 1
        print(f'{path}: python-evtx: {error}')
        return
    for record_id, params in our_records(sentry, path, counts):
        ours_by_id[record_id].append(params)
    for record_id in sorted(set(theirs_by_id) - set(ours_by_id)):
        counts['records only python-evtx gives'] += len(theirs_by_id[record_id])
        print(f'{path}: record {record_id}: only python-evtx gives it')
    for record_id, ours in ours_by_id.items():
        theirs = theirs_by_id.get(record_id, [])
        if not theirs:
            counts['records only the sentry gives (python-evtx failed on them)'] += len(ours)
            continue
        if len(theirs) != len(ours):
            counts['records given a different number of times'] += 1
            print(f'{path}: record {record_id}: python-evtx {len(theirs)} times, sentry {len(ours)}')
        for their_fields, our_params in zip(theirs, ours):
            counts['records compared'] += 1
            found = differences(their_fields, our_params)
            if found:
                counts['records that differ'] += 1
            for field, a, b in found:
                counts['differences in ' + field.split('.')[0]] += 1
                shown[field] += 1
                if shown[field] <= show:
                    print(f'{path}: record {record_id}: {field}: python-evtx {a!r:.100} sentry {b!r:.100}')


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--sentry', default='target/release/kraken-sentry')
    parser.add_argument('--show', type=int, default=3, help='differences printed per field')
    parser.add_argument('files', nargs='+')
    args = parser.parse_args()
    counts, shown = collections.Counter(), collections.Counter()
    for path in args.files:
        counts['files'] += 1
        compare_file(args.sentry, path, counts, shown, args.show)
    for key, value in sorted(counts.items()):
        print(f'{key}: {value}')
    left = sum(value for key, value in counts.items()
               if key.startswith('differences') or key.startswith('records only python')
               or key.startswith('records given'))
    sys.exit(1 if left else 0)


if __name__ == '__main__':
    main()
