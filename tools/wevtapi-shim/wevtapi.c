/*
 * wevtapi.dll shim: a test event log service for kraken-sentry's live Windows Event Log code
 * (crates/sentry-host/src/windows/eventlog.rs) under Wine.
 *
 * TEST TOOLING ONLY. Nothing kraken-sentry ships loads or depends on this file. On Windows the
 * system's wevtapi.dll talks to the Event Log service; Wine's builtin wevtapi.dll is a set of
 * stubs (EvtOpenLog returns NULL, others abort), so without this shim the live code path never
 * runs under Wine. scripts/test-wine-eventlog.sh builds it with x86_64-w64-mingw32-gcc and puts it
 * next to one test exe, with WINEDLLOVERRIDES=wevtapi=n.
 *
 * The "event log" is a directory named by the environment variable KRAKEN_WEVTAPI_DIR:
 *   <root>\<channel>\<record id>.xml   one event each, its XML as EvtRender would give it (UTF-8)
 *   <root>\<channel>\control.txt       failures to inject: "<call> <win32 error>" per line
 *   <root>\<channel>\channel-type.txt  optional EvtChannelConfigType (default 0, Admin)
 *   <root>\<channel>\calls.log         written by the shim: one line per call on the channel
 *   <root>\<channel>\Archive-<channel>-*.evtx  archives of the log, beside the log file that
 *                                      EvtChannelLoggingConfigLogFilePath names there
 *   <root>\calls.log                   written by the shim: calls tied to no channel
 * README.md beside this file describes the behaviour and the Microsoft documentation it follows.
 *
 * It exports exactly the functions WindowsApi calls (wevtapi.def). Every call runs under one
 * lock, so tests may call it from several threads.
 */
#define WIN32_LEAN_AND_MEAN
#define __USE_MINGW_ANSI_STDIO 1
#include <windows.h>
#include <winevt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>
#include <wctype.h>

/* Longest channel or provider name, and longest path, in WCHARs. */
#define NAME_LEN 256
#define PATH_LEN 1024
/* The most event handles one EvtNext hands out (see README: larger requests fail with 1734). */
#define MAX_EVENTS_PER_NEXT 1024

/* CLOSED_EVENT: an event whose subscription or query was closed, which closed it too (a handle
 * no call takes; closing it again fails). */
enum kind { LOG = 1, SUBSCRIPTION, QUERY, EVENT, BOOKMARK, PUBLISHER, CHANNEL_ENUM, CHANNEL_CONFIG, CLOSED_EVENT };

static const char *const kind_names[] = {
    "?", "log", "subscription", "query", "event", "bookmark", "publisher", "channel-enum", "channel-config",
    "closed-event",
};

/* One open handle. */
struct object {
    struct object *next;
    ULONG_PTR handle;
    enum kind kind;
    WCHAR channel[NAME_LEN]; /* "" when the object belongs to no channel */
    /* EVENT: its record id. BOOKMARK: the bookmarked record (when has_record). SUBSCRIPTION,
     * QUERY: the last record delivered (forward: next are above it; reverse: below it). */
    unsigned long long record;
    BOOL has_record;
    BOOL reverse;   /* QUERY: newest first; EVENT: from such a query; BOOKMARK: last updated so */
    BOOL rendered;  /* EvtRender was called on it before */
    DWORD stale;    /* SUBSCRIPTION: the error every EvtNext now returns (15011, 15012) */
    BOOL strict;    /* SUBSCRIPTION: EvtSubscribeStrict (told when records it would give are gone) */
    unsigned long long seen; /* SUBSCRIPTION: the newest record it has seen in the channel */
    HANDLE signal;  /* SUBSCRIPTION: the caller's event */
    ULONGLONG deliver_at; /* SUBSCRIPTION: GetTickCount64() before which it has no events yet */
    ULONG_PTR parent; /* EVENT: the subscription or query that handed it out */
    WCHAR *text;    /* EVENT: its XML; PUBLISHER: the provider's name */
    WCHAR **names;  /* CHANNEL_ENUM */
    DWORD name_count, name_next;
    DWORD channel_type; /* CHANNEL_CONFIG */
};

static SRWLOCK lock = SRWLOCK_INIT;
static struct object *objects;
static ULONG_PTR next_handle = 0x4000;

/* ---- helpers ------------------------------------------------------------------------------- */

static BOOL append(WCHAR *out, size_t cap, const WCHAR *part)
{
    size_t have = wcslen(out), add = wcslen(part);
    if (have + add + 1 > cap)
        return FALSE;
    memcpy(out + have, part, (add + 1) * sizeof(WCHAR));
    return TRUE;
}

/* The event log root, without a trailing separator; FALSE when KRAKEN_WEVTAPI_DIR is unset. */
static BOOL root_dir(WCHAR *out)
{
    DWORD n = GetEnvironmentVariableW(L"KRAKEN_WEVTAPI_DIR", out, PATH_LEN);
    if (n == 0 || n >= PATH_LEN)
        return FALSE;
    while (n > 1 && (out[n - 1] == L'\\' || out[n - 1] == L'/'))
        out[--n] = 0;
    return TRUE;
}

/* A channel name the shim can keep in a folder of its own. */
static BOOL valid_name(const WCHAR *name)
{
    size_t len = name ? wcslen(name) : 0;
    if (len == 0 || len >= NAME_LEN || wcscmp(name, L".") == 0 || wcscmp(name, L"..") == 0)
        return FALSE;
    return wcspbrk(name, L"\\/:*?\"<>|") == NULL;
}

/* <root>\<channel> into dir: 0, or the error for a channel that is not there. */
static DWORD channel_dir(const WCHAR *channel, WCHAR *dir)
{
    DWORD attributes;
    if (!root_dir(dir))
        return RPC_S_SERVER_UNAVAILABLE;
    if (!valid_name(channel) || !append(dir, PATH_LEN, L"\\") || !append(dir, PATH_LEN, channel))
        return ERROR_EVT_CHANNEL_NOT_FOUND;
    attributes = GetFileAttributesW(dir);
    if (attributes == INVALID_FILE_ATTRIBUTES || !(attributes & FILE_ATTRIBUTE_DIRECTORY))
        return ERROR_EVT_CHANNEL_NOT_FOUND;
    return 0;
}

/* dir\name into path. */
static BOOL file_in(const WCHAR *dir, const WCHAR *name, WCHAR *path)
{
    path[0] = 0;
    return append(path, PATH_LEN, dir) && append(path, PATH_LEN, L"\\") && append(path, PATH_LEN, name);
}

/* A whole file, NUL-terminated, in *data (malloc'd); FALSE if it cannot be read. */
static BOOL read_file(const WCHAR *path, char **data, DWORD *size)
{
    HANDLE file = CreateFileW(path, GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                              NULL, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
    LARGE_INTEGER length;
    DWORD got = 0;
    BOOL ok = FALSE;
    *data = NULL;
    if (file == INVALID_HANDLE_VALUE)
        return FALSE;
    if (GetFileSizeEx(file, &length) && length.QuadPart < 64 * 1024 * 1024) {
        *data = malloc((size_t)length.QuadPart + 1);
        if (*data && ReadFile(file, *data, (DWORD)length.QuadPart, &got, NULL) && got == length.QuadPart) {
            (*data)[got] = 0;
            *size = got;
            ok = TRUE;
        }
    }
    CloseHandle(file);
    if (!ok) {
        free(*data);
        *data = NULL;
    }
    return ok;
}

/* Replaces a file's contents in place (the test may hold it open); FALSE if it could not. */
static BOOL write_file(const WCHAR *path, const char *data, DWORD size)
{
    HANDLE file = CreateFileW(path, GENERIC_WRITE, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL,
                              CREATE_ALWAYS, FILE_ATTRIBUTE_NORMAL, NULL);
    DWORD written = 0;
    BOOL ok;
    if (file == INVALID_HANDLE_VALUE)
        return FALSE;
    ok = WriteFile(file, data, size, &written, NULL) && written == size;
    CloseHandle(file);
    return ok;
}

/* UTF-8 to a malloc'd UTF-16 string. */
static WCHAR *widen(const char *text, int length)
{
    int units = length ? MultiByteToWideChar(CP_UTF8, 0, text, length, NULL, 0) : 0;
    WCHAR *wide = malloc(((size_t)units + 1) * sizeof(WCHAR));
    if (!wide)
        return NULL;
    if (units)
        MultiByteToWideChar(CP_UTF8, 0, text, length, wide, units);
    wide[units] = 0;
    return wide;
}

static void narrow(const WCHAR *text, char *out, int cap)
{
    int n = WideCharToMultiByte(CP_UTF8, 0, text, -1, out, cap, NULL, NULL);
    if (n <= 0)
        out[0] = 0;
}

/* Appends one line to <channel>\calls.log (or <root>\calls.log for no channel). */
static void log_call(const WCHAR *channel, const char *format, ...)
{
    WCHAR dir[PATH_LEN], path[PATH_LEN];
    char line[1024];
    va_list args;
    HANDLE file;
    DWORD written;
    int n;
    if (channel && channel[0]) {
        if (channel_dir(channel, dir))
            return;
    } else if (!root_dir(dir)) {
        return;
    }
    if (!file_in(dir, L"calls.log", path))
        return;
    va_start(args, format);
    n = vsnprintf(line, sizeof line - 1, format, args);
    va_end(args);
    if (n < 0)
        return;
    if (n > (int)sizeof line - 2)
        n = (int)sizeof line - 2;
    line[n++] = '\n';
    file = CreateFileW(path, FILE_APPEND_DATA, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL,
                       OPEN_ALWAYS, FILE_ATTRIBUTE_NORMAL, NULL);
    if (file == INVALID_HANDLE_VALUE)
        return;
    WriteFile(file, line, (DWORD)n, &written, NULL);
    CloseHandle(file);
}

/*
 * The failure control.txt of dir asks `call` to report: the code of the first line
 * "<call> <code>", which is removed when consume is TRUE (one-shot failures), or 0.
 */
static DWORD control(const WCHAR *dir, const char *call, BOOL consume)
{
    WCHAR path[PATH_LEN];
    char *data, *line, *rest, *out;
    DWORD size, code = 0;
    size_t call_len = strlen(call);
    if (!file_in(dir, L"control.txt", path) || !read_file(path, &data, &size))
        return 0;
    out = malloc((size_t)size + 1);
    if (!out) {
        free(data);
        return 0;
    }
    out[0] = 0;
    for (line = data; line && *line; line = rest) {
        char *start = line, *end;
        rest = strchr(line, '\n');
        if (rest)
            *rest++ = 0;
        while (*start == ' ' || *start == '\t')
            start++;
        if (code == 0 && strncmp(start, call, call_len) == 0 && (start[call_len] == ' ' || start[call_len] == '\t')) {
            unsigned long value = strtoul(start + call_len, &end, 10);
            if (end != start + call_len && value != 0) {
                code = (DWORD)value;
                if (consume)
                    continue; /* the line is dropped */
            }
        }
        strcat(out, line);
        if (rest)
            strcat(out, "\n");
    }
    if (code && consume && !write_file(path, out, (DWORD)strlen(out))) {
        /* A failure that cannot be used up is not injected: it would repeat forever. */
        log_call(NULL, "control.txt: cannot remove \"%s %lu\"; not injected", call, code);
        code = 0;
    }
    free(out);
    free(data);
    return code;
}

static int compare_ids(const void *a, const void *b)
{
    unsigned long long x = *(const unsigned long long *)a, y = *(const unsigned long long *)b;
    return x < y ? -1 : x > y;
}

/* The number `text` starts with (at most ~0ULL / 10 or so), and where its digits end. */
static unsigned long long number(const WCHAR *text, const WCHAR **end)
{
    unsigned long long value = 0;
    for (*end = text; **end >= L'0' && **end <= L'9'; (*end)++) {
        if (value > (~0ULL - 9) / 10)
            return 0;
        value = value * 10 + (unsigned)(**end - L'0');
    }
    return value;
}

/* The record id a file name "<digits>.xml" names, or 0. */
static unsigned long long record_of(const WCHAR *name)
{
    const WCHAR *end;
    unsigned long long id = number(name, &end);
    return end != name && _wcsicmp(end, L".xml") == 0 ? id : 0;
}

/* `value` in decimal followed by `suffix`, into out (32 WCHARs). */
static void decimal(unsigned long long value, const WCHAR *suffix, WCHAR *out)
{
    WCHAR digits[24];
    int n = 0, i = 0;
    do {
        digits[n++] = (WCHAR)(L'0' + value % 10);
        value /= 10;
    } while (value);
    while (n)
        out[i++] = digits[--n];
    out[i] = 0;
    append(out, 32, suffix);
}

/* The record ids of the channel in dir, ascending (malloc'd). */
static unsigned long long *list_records(const WCHAR *dir, size_t *count)
{
    WCHAR pattern[PATH_LEN];
    WIN32_FIND_DATAW found;
    HANDLE search;
    unsigned long long *ids = NULL;
    size_t cap = 0;
    *count = 0;
    if (!file_in(dir, L"*", pattern))
        return NULL;
    search = FindFirstFileW(pattern, &found);
    if (search == INVALID_HANDLE_VALUE)
        return NULL;
    do {
        unsigned long long id = (found.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY) ? 0 : record_of(found.cFileName);
        if (!id)
            continue;
        if (*count == cap) {
            unsigned long long *more = realloc(ids, (cap ? cap * 2 : 64) * sizeof *ids);
            if (!more)
                break;
            ids = more;
            cap = cap ? cap * 2 : 64;
        }
        ids[(*count)++] = id;
    } while (FindNextFileW(search, &found));
    FindClose(search);
    if (*count)
        qsort(ids, *count, sizeof *ids, compare_ids);
    return ids;
}

static BOOL record_exists(const WCHAR *dir, unsigned long long id)
{
    WCHAR name[32], path[PATH_LEN];
    decimal(id, L".xml", name);
    return file_in(dir, name, path) && GetFileAttributesW(path) != INVALID_FILE_ATTRIBUTES;
}

/* A record's XML as UTF-16 (malloc'd), without a UTF-8 BOM or trailing line breaks; NULL if gone. */
static WCHAR *read_record(const WCHAR *dir, unsigned long long id)
{
    WCHAR name[32], path[PATH_LEN];
    char *data, *text;
    DWORD size;
    WCHAR *xml;
    decimal(id, L".xml", name);
    if (!file_in(dir, name, path) || !read_file(path, &data, &size))
        return NULL;
    text = data;
    if (size >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) {
        text += 3;
        size -= 3;
    }
    while (size && (text[size - 1] == '\n' || text[size - 1] == '\r' || text[size - 1] == ' '))
        size--;
    xml = widen(text, (int)size);
    free(data);
    return xml;
}

static struct object *new_object(enum kind kind, const WCHAR *channel)
{
    struct object *object = calloc(1, sizeof *object);
    if (!object)
        return NULL;
    object->kind = kind;
    if (channel)
        wcsncpy(object->channel, channel, NAME_LEN - 1);
    object->handle = next_handle;
    next_handle += 4;
    object->next = objects;
    objects = object;
    return object;
}

static struct object *find(EVT_HANDLE handle, enum kind kind)
{
    struct object *object;
    for (object = objects; object; object = object->next)
        if (object->handle == (ULONG_PTR)handle)
            return kind == 0 || object->kind == kind ? object : NULL;
    return NULL;
}

/*
 * A reader's handles still open on a channel: logs, subscriptions, queries, events, bookmarks
 * (not channel configurations, which a channel listing opens on every channel at any time).
 */
static unsigned open_on(const WCHAR *channel)
{
    struct object *object;
    unsigned n = 0;
    for (object = objects; object; object = object->next)
        if (channel[0] && object->kind != CHANNEL_CONFIG && object->kind != CLOSED_EVENT &&
            _wcsicmp(object->channel, channel) == 0)
            n++;
    return n;
}

static void free_object(struct object *object)
{
    DWORD i;
    for (i = 0; i < object->name_count; i++)
        free(object->names[i]);
    free(object->names);
    free(object->text);
    free(object);
}

/* The channel's name as UTF-8 for the call log. */
#define U8(name, wide) char name[NAME_LEN * 3]; narrow(wide, name, sizeof name)

/*
 * The value of `attribute` in the element that starts at `tag` (up to its '>'), in either quote
 * style, with the five predefined entities replaced; FALSE if absent or longer than cap.
 */
static BOOL attribute(const WCHAR *tag, const WCHAR *name, WCHAR *out, size_t cap)
{
    const WCHAR *end = wcschr(tag, L'>'), *p = tag;
    size_t len = wcslen(name), n = 0;
    if (!end)
        end = tag + wcslen(tag);
    while ((p = wcsstr(p, name)) && p < end) {
        const WCHAR *value = p + len;
        WCHAR quote;
        BOOL at_start = p > tag && iswspace(p[-1]);
        p = value;
        while (iswspace(*value))
            value++;
        if (!at_start || *value != L'=')
            continue;
        value++;
        while (iswspace(*value))
            value++;
        quote = *value;
        if (quote != L'\'' && quote != L'"')
            return FALSE;
        for (value++; *value && *value != quote; value++) {
            WCHAR c = *value;
            static const struct { const WCHAR *entity; WCHAR c; } entities[] = {
                {L"&amp;", L'&'}, {L"&apos;", L'\''}, {L"&quot;", L'"'}, {L"&lt;", L'<'}, {L"&gt;", L'>'},
            };
            size_t e;
            for (e = 0; c == L'&' && e < sizeof entities / sizeof entities[0]; e++) {
                size_t elen = wcslen(entities[e].entity);
                if (wcsncmp(value, entities[e].entity, elen) == 0) {
                    c = entities[e].c;
                    value += elen - 1;
                    break;
                }
            }
            if (n + 1 >= cap)
                return FALSE;
            out[n++] = c;
        }
        out[n] = 0;
        return *value == quote;
    }
    return FALSE;
}

/* The text content of the first element `<name ...>` or `<name>` of xml (raw), or FALSE. */
static BOOL element_text(const WCHAR *xml, const WCHAR *name, WCHAR *out, size_t cap)
{
    size_t len = wcslen(name), n = 0;
    const WCHAR *p = xml;
    while ((p = wcsstr(p, name))) {
        const WCHAR *text;
        p += len;
        if (p[-(ptrdiff_t)len - 1] != L'<' || (*p != L'>' && !iswspace(*p) && *p != L'/'))
            continue;
        text = wcschr(p, L'>');
        if (!text || text[-1] == L'/')
            return FALSE;
        for (text++; *text && *text != L'<'; text++) {
            if (n + 1 >= cap)
                break;
            out[n++] = *text;
        }
        out[n] = 0;
        return TRUE;
    }
    return FALSE;
}

/* "<BookmarkList>...</BookmarkList>" for a bookmark, in the form EvtRender gives. */
static WCHAR *bookmark_xml(const struct object *bookmark)
{
    WCHAR escaped[NAME_LEN * 6] = L"", id[32];
    WCHAR *xml;
    const WCHAR *c;
    size_t cap;
    if (!bookmark->has_record) {
        static const WCHAR empty[] = L"<BookmarkList>\r\n</BookmarkList>";
        xml = malloc(sizeof empty);
        if (xml)
            memcpy(xml, empty, sizeof empty);
        return xml;
    }
    for (c = bookmark->channel; *c; c++) {
        const WCHAR one[2] = {*c, 0};
        append(escaped, sizeof escaped / sizeof escaped[0],
               *c == L'&' ? L"&amp;" : *c == L'\'' ? L"&apos;" : *c == L'<' ? L"&lt;" : one);
    }
    decimal(bookmark->record, L"", id);
    cap = wcslen(escaped) + 128;
    xml = malloc(cap * sizeof(WCHAR));
    if (!xml)
        return NULL;
    xml[0] = 0;
    append(xml, cap, bookmark->reverse ? L"<BookmarkList Direction='backward'>" : L"<BookmarkList>");
    append(xml, cap, L"\r\n  <Bookmark Channel='");
    append(xml, cap, escaped);
    append(xml, cap, L"' RecordId='");
    append(xml, cap, id);
    append(xml, cap, L"' IsCurrent='true'/>\r\n</BookmarkList>");
    return xml;
}

/* The error path of an export: `error` is what GetLastError will report. */
#define FAIL(code) do { error = (code); goto done; } while (0)

/* Every export runs under the lock; the last error is set on failure and left alone on success. */
#define ENTER DWORD saved_error = GetLastError(), error = 0; AcquireSRWLockExclusive(&lock)
#define LEAVE ReleaseSRWLockExclusive(&lock); SetLastError(error ? error : saved_error)

/* What a thread that sets a subscription's event after a delay is given. */
struct late_signal {
    HANDLE signal; /* a duplicate of the caller's event, closed by the thread */
    DWORD delay_ms;
};

static DWORD WINAPI set_signal_later(LPVOID parameter)
{
    struct late_signal *late = parameter;
    Sleep(late->delay_ms);
    SetEvent(late->signal);
    CloseHandle(late->signal);
    free(late);
    return 0;
}

/* Sets `signal` `delay_ms` from now, on a thread of its own (with its own handle to the event,
 * so that the caller may close theirs first). */
static void signal_later(HANDLE signal, DWORD delay_ms)
{
    struct late_signal *late = malloc(sizeof *late);
    HANDLE thread;
    if (!late)
        return;
    late->delay_ms = delay_ms;
    if (!DuplicateHandle(GetCurrentProcess(), signal, GetCurrentProcess(), &late->signal, 0, FALSE,
                         DUPLICATE_SAME_ACCESS)) {
        free(late);
        return;
    }
    thread = CreateThread(NULL, 0, set_signal_later, late, 0, NULL);
    if (!thread) {
        CloseHandle(late->signal);
        free(late);
        return;
    }
    CloseHandle(thread);
}

/* ---- exports -------------------------------------------------------------------------------- */

EVT_HANDLE WINAPI EvtOpenLog(EVT_HANDLE session, LPCWSTR path, DWORD flags)
{
    WCHAR dir[PATH_LEN];
    ULONG_PTR handle = 0;
    struct object *log;
    ENTER;
    if (session)
        FAIL(ERROR_INVALID_HANDLE);
    if (flags == EvtOpenFilePath)
        FAIL(ERROR_NOT_SUPPORTED);
    if (!path || flags != EvtOpenChannelPath)
        FAIL(ERROR_INVALID_PARAMETER);
    if ((error = channel_dir(path, dir)))
        goto done;
    if ((error = control(dir, "open", TRUE)))
        goto done;
    if (!(log = new_object(LOG, path)))
        FAIL(ERROR_OUTOFMEMORY);
    handle = log->handle;
done:
    if (path && valid_name(path)) {
        U8(name, path);
        log_call(path, "EvtOpenLog %s -> %lu", name, error);
    }
    LEAVE;
    return (EVT_HANDLE)handle;
}

EVT_HANDLE WINAPI EvtSubscribe(EVT_HANDLE session, HANDLE signal, LPCWSTR channel, LPCWSTR query,
                               EVT_HANDLE bookmark_handle, PVOID context, EVT_SUBSCRIBE_CALLBACK callback,
                               DWORD flags)
{
    WCHAR dir[PATH_LEN];
    DWORD origin = flags & EvtSubscribeOriginMask;
    BOOL strict = (flags & EvtSubscribeStrict) != 0;
    struct object *bookmark = NULL, *subscription;
    unsigned long long after = 0, *ids = NULL;
    size_t count = 0;
    ULONG_PTR handle = 0;
    DWORD delay;
    ENTER;
    (void)context;
    if (session)
        FAIL(ERROR_INVALID_HANDLE);
    if (callback)
        FAIL(ERROR_NOT_SUPPORTED); /* push subscriptions are not part of the shim */
    if (!signal || !channel || origin == 0 ||
        (flags & ~(DWORD)(EvtSubscribeOriginMask | EvtSubscribeTolerateQueryErrors | EvtSubscribeStrict)))
        FAIL(ERROR_INVALID_PARAMETER);
    if ((origin == EvtSubscribeStartAfterBookmark) != (bookmark_handle != NULL))
        FAIL(ERROR_INVALID_PARAMETER);
    if (bookmark_handle && !(bookmark = find(bookmark_handle, BOOKMARK)))
        FAIL(ERROR_INVALID_HANDLE);
    if ((error = channel_dir(channel, dir)))
        goto done;
    if (query && query[0] && wcscmp(query, L"*") != 0)
        FAIL(ERROR_EVT_INVALID_QUERY);
    if ((error = control(dir, "subscribe", TRUE)))
        goto done;
    ids = list_records(dir, &count);
    if (origin == EvtSubscribeToFutureEvents) {
        after = count ? ids[count - 1] : 0;
    } else if (origin == EvtSubscribeStartAtOldestRecord) {
        after = count ? ids[0] - 1 : 0;
    } else if (origin == EvtSubscribeStartAfterBookmark) {
        BOOL found = bookmark->has_record && _wcsicmp(bookmark->channel, channel) == 0 &&
                     record_exists(dir, bookmark->record);
        if (!found && strict)
            FAIL(ERROR_NOT_FOUND);
        after = bookmark->has_record ? bookmark->record : 0;
    }
    if (!(subscription = new_object(SUBSCRIPTION, channel)))
        FAIL(ERROR_OUTOFMEMORY);
    subscription->record = after;
    subscription->strict = strict;
    subscription->seen = count ? ids[count - 1] : 0;
    subscription->signal = signal;
    handle = subscription->handle;
    /* "delivery-delay <ms>" (kept): the service hands a new subscription its events only after
     * a while, and signals the event then (see README). */
    if ((delay = control(dir, "delivery-delay", FALSE))) {
        subscription->deliver_at = GetTickCount64() + delay;
        if (count && ids[count - 1] > after)
            signal_later(signal, delay);
    } else if (count && ids[count - 1] > after) {
        SetEvent(signal);
    }
done:
    if (channel && valid_name(channel)) {
        static const char *const origins[] = {"?", "future", "oldest", "after"};
        log_call(channel, "EvtSubscribe %s %llu%s -> %lu", origins[origin],
                 bookmark && bookmark->has_record ? bookmark->record : 0ULL, strict ? " strict" : "", error);
    }
    free(ids);
    LEAVE;
    return (EVT_HANDLE)handle;
}

EVT_HANDLE WINAPI EvtQuery(EVT_HANDLE session, LPCWSTR path, LPCWSTR query, DWORD flags)
{
    WCHAR dir[PATH_LEN];
    DWORD direction = flags & (EvtQueryForwardDirection | EvtQueryReverseDirection);
    struct object *results;
    ULONG_PTR handle = 0;
    ENTER;
    if (session)
        FAIL(ERROR_INVALID_HANDLE);
    if (flags & EvtQueryFilePath)
        FAIL(ERROR_NOT_SUPPORTED);
    if (!path || !(flags & EvtQueryChannelPath) || direction == (EvtQueryForwardDirection | EvtQueryReverseDirection) ||
        (flags & ~(DWORD)(EvtQueryChannelPath | EvtQueryForwardDirection | EvtQueryReverseDirection |
                          EvtQueryTolerateQueryErrors)))
        FAIL(ERROR_INVALID_PARAMETER);
    if ((error = channel_dir(path, dir)))
        goto done;
    if (query && query[0] && wcscmp(query, L"*") != 0)
        FAIL(ERROR_EVT_INVALID_QUERY);
    if ((error = control(dir, "query", TRUE)))
        goto done;
    if (!(results = new_object(QUERY, path)))
        FAIL(ERROR_OUTOFMEMORY);
    results->reverse = direction == EvtQueryReverseDirection;
    handle = results->handle;
done:
    if (path && valid_name(path))
        log_call(path, "EvtQuery %s -> %lu", direction == EvtQueryReverseDirection ? "reverse" : "forward", error);
    LEAVE;
    return (EVT_HANDLE)handle;
}

/* Only what the rules use: a forward query's results moved to the bookmarked record (offset 0),
 * so that the next EvtNext returns it; where it is gone, the first record after it, else the
 * last (the EVT_SEEK_FLAGS remarks). */
WINBOOL WINAPI EvtSeek(EVT_HANDLE result_set, LONGLONG position, EVT_HANDLE bookmark_handle, DWORD timeout,
                       DWORD flags)
{
    WCHAR dir[PATH_LEN];
    struct object *results, *bookmark = NULL;
    unsigned long long *ids = NULL;
    size_t count = 0, at = 0;
    BOOL strict = (flags & EvtSeekStrict) != 0, found = FALSE;
    ENTER;
    if (!(results = find(result_set, QUERY)))
        FAIL(ERROR_INVALID_HANDLE);
    if (timeout || (flags & ~(DWORD)(EvtSeekOriginMask | EvtSeekStrict)))
        FAIL(ERROR_INVALID_PARAMETER);
    if ((flags & EvtSeekOriginMask) != EvtSeekRelativeToBookmark || results->reverse || position != 0)
        FAIL(ERROR_NOT_SUPPORTED);
    if (!(bookmark = find(bookmark_handle, BOOKMARK)))
        FAIL(ERROR_INVALID_HANDLE);
    if ((error = channel_dir(results->channel, dir)))
        goto done;
    if ((error = control(dir, "seek", TRUE)))
        goto done;
    ids = list_records(dir, &count);
    /* The bookmarked record, else (by record id, as the documentation says) the first after it. */
    if (bookmark->has_record && _wcsicmp(bookmark->channel, results->channel) == 0) {
        while (at < count && ids[at] < bookmark->record)
            at++;
        found = at < count && ids[at] == bookmark->record;
    } else {
        at = count;
    }
    if (strict && !found)
        FAIL(ERROR_NOT_FOUND); /* the shim's choice of code: the documentation names none */
    if (count) {
        at = at < count ? at : count - 1;
        results->record = ids[at] - 1;
        results->has_record = TRUE;
    }
done:
    if (results)
        log_call(results->channel, "EvtSeek bookmark %llu + %lld%s -> %lu",
                 bookmark && bookmark->has_record ? bookmark->record : 0ULL, position, strict ? " strict" : "", error);
    free(ids);
    LEAVE;
    return error == 0;
}

WINBOOL WINAPI EvtNext(EVT_HANDLE result_set, DWORD size, EVT_HANDLE *events, DWORD timeout, DWORD flags,
                       PDWORD returned)
{
    WCHAR dir[PATH_LEN];
    struct object *results;
    unsigned long long *ids = NULL, first = 0, last = 0;
    size_t count = 0, i;
    DWORD n = 0, failure_with_events = 0;
    ENTER;
    (void)timeout; /* never waits: the answer is always there */
    if (returned)
        *returned = 0;
    if (!(results = find(result_set, 0)) || (results->kind != SUBSCRIPTION && results->kind != QUERY)) {
        results = NULL;
        FAIL(ERROR_INVALID_HANDLE);
    }
    if (!events || !returned || size == 0 || flags)
        FAIL(ERROR_INVALID_PARAMETER);
    if (results->stale)
        FAIL(results->stale);
    if ((error = channel_dir(results->channel, dir)))
        goto done;
    /* Not delivered yet ("delivery-delay"): nothing, whatever the wait asked (the shim never
     * waits; a caller waits on the signal event). Delivered once the event is set, whatever
     * the tick count says (the thread's Sleep and GetTickCount64 keep different clocks). */
    if (results->kind == SUBSCRIPTION && GetTickCount64() < results->deliver_at &&
        WaitForSingleObject(results->signal, 0) != WAIT_OBJECT_0)
        FAIL(ERROR_NO_MORE_ITEMS);
    error = control(dir, "next", TRUE);
    if (!error && size > MAX_EVENTS_PER_NEXT)
        error = RPC_S_INVALID_BOUND;
    if (error && results->kind == SUBSCRIPTION) {
        /* A stale or moved result set stays so: only a new subscription reads on. */
        if (error == ERROR_EVT_QUERY_RESULT_STALE || error == ERROR_EVT_QUERY_RESULT_INVALID_POSITION)
            results->stale = error;
        /* A failed oversized request still moves the read position past what it would have
         * returned: those events are lost to this subscription. */
        if (error == RPC_S_INVALID_BOUND) {
            ids = list_records(dir, &count);
            for (i = 0; i < count && n < size; i++) {
                if (ids[i] > results->record) {
                    results->record = ids[i];
                    n++;
                }
            }
            n = 0;
        }
    }
    if (error)
        goto done;
    /* "strict-noisy 15011" (kept): every Strict subscription's EvtNext fails so, as
     * forwarded-event logs were found to answer. */
    if (results->kind == SUBSCRIPTION && results->strict && (error = control(dir, "strict-noisy", FALSE))) {
        results->stale = error;
        goto done;
    }
    ids = list_records(dir, &count);
    if (results->kind == SUBSCRIPTION) {
        /* Records after the last one it gave left the log from its oldest end (overwritten):
         * the oldest left is past the next id (a subscription starts at a record there, or just
         * before the oldest), or none is left of those it saw. One that has seen no record (made
         * on an empty channel) cannot tell what the first ids were. Strict says so, for good;
         * without it they are passed over unsaid. */
        BOOL overwritten = results->seen && (count ? ids[0] > results->record + 1 : results->record < results->seen);
        if (count && ids[count - 1] > results->seen)
            results->seen = ids[count - 1];
        /* "silent-overwrites 1" (kept): Strict passes over them unsaid too (see README). */
        if (overwritten && results->strict && !control(dir, "silent-overwrites", FALSE)) {
            results->stale = ERROR_EVT_QUERY_RESULT_STALE;
            FAIL(ERROR_EVT_QUERY_RESULT_STALE);
        }
    }
    /* "next-with-events <code>": the events are handed out (and the result set moves past
     * them), yet the call fails with <code> (not documented either way; the source keeps them). */
    failure_with_events = control(dir, "next-with-events", TRUE);
    for (i = 0; i < count && n < size; i++) {
        size_t at = results->reverse ? count - 1 - i : i;
        unsigned long long id = ids[at];
        struct object *event;
        WCHAR *xml;
        if (results->reverse ? results->has_record && id >= results->record : id <= results->record)
            continue;
        results->record = id;
        results->has_record = TRUE;
        if (!(xml = read_record(dir, id)))
            continue; /* removed since the listing */
        if (!(event = new_object(EVENT, results->channel))) {
            free(xml);
            break;
        }
        event->record = id;
        event->reverse = results->reverse;
        event->parent = results->handle;
        event->text = xml;
        events[n++] = (EVT_HANDLE)event->handle;
        if (n == 1)
            first = id;
        last = id;
    }
    *returned = n;
    if (n == 0)
        FAIL(ERROR_NO_MORE_ITEMS);
    error = failure_with_events;
    if (results->kind == SUBSCRIPTION && i < count)
        SetEvent(results->signal); /* more are waiting */
done:
    if (results) {
        if (n)
            log_call(results->channel, "EvtNext %s %lu -> %lu (%llu..%llu)", kind_names[results->kind], size, n,
                     first, last);
        else
            log_call(results->channel, "EvtNext %s %lu -> %lu", kind_names[results->kind], size, error);
    }
    free(ids);
    LEAVE;
    return error == 0;
}

WINBOOL WINAPI EvtRender(EVT_HANDLE context, EVT_HANDLE fragment, DWORD flags, DWORD size, PVOID buffer,
                         PDWORD used, PDWORD property_count)
{
    WCHAR dir[PATH_LEN];
    struct object *object = NULL;
    WCHAR *text = NULL;
    DWORD needed = 0;
    BOOL first;
    ENTER;
    if (flags == EvtRenderEventValues)
        FAIL(ERROR_NOT_SUPPORTED); /* needs a render context: not part of the shim */
    if (context || !used || !property_count || (size && !buffer) ||
        (flags != EvtRenderEventXml && flags != EvtRenderBookmark))
        FAIL(ERROR_INVALID_PARAMETER);
    if (!(object = find(fragment, flags == EvtRenderBookmark ? BOOKMARK : EVENT)))
        FAIL(ERROR_INVALID_HANDLE);
    *property_count = 0;
    first = !object->rendered;
    object->rendered = TRUE;
    text = flags == EvtRenderBookmark ? bookmark_xml(object) : NULL;
    if (flags == EvtRenderBookmark && !text)
        FAIL(ERROR_OUTOFMEMORY);
    needed = (DWORD)((wcslen(text ? text : object->text) + 1) * sizeof(WCHAR));
    if (object->channel[0] && channel_dir(object->channel, dir) == 0) {
        if ((error = control(dir, flags == EvtRenderBookmark ? "render-bookmark" : "render", TRUE)))
            goto done;
        if (first && (error = control(dir, "first-render", FALSE)))
            goto done;
    }
    if (!buffer || size < needed)
        FAIL(ERROR_INSUFFICIENT_BUFFER);
    memcpy(buffer, text ? text : object->text, needed);
done:
    if (error == ERROR_INSUFFICIENT_BUFFER)
        *used = needed;
    else if (error == 0)
        *used = needed;
    if (object && object->channel[0])
        log_call(object->channel, "EvtRender %s %llu size %lu -> %lu (needs %lu)", kind_names[object->kind],
                 object->record, size, error, needed);
    free(text);
    LEAVE;
    return error == 0;
}

EVT_HANDLE WINAPI EvtCreateBookmark(LPCWSTR xml)
{
    WCHAR channel[NAME_LEN], record[32], dir[PATH_LEN];
    struct object *bookmark;
    const WCHAR *p = xml, *chosen = NULL, *end;
    unsigned long long id = 0;
    ULONG_PTR handle = 0;
    ENTER;
    channel[0] = 0;
    if (xml) {
        while (iswspace(*p))
            p++;
        if (wcsncmp(p, L"<BookmarkList", 13) != 0)
            FAIL(ERROR_INVALID_PARAMETER);
        /* The bookmark marked IsCurrent='true', else the first. */
        for (p = wcsstr(p + 13, L"<Bookmark"); p; p = wcsstr(p + 9, L"<Bookmark")) {
            WCHAR current[8];
            if (!iswspace(p[9]))
                continue;
            if (!chosen)
                chosen = p;
            if (attribute(p, L"IsCurrent", current, 8) && _wcsicmp(current, L"true") == 0) {
                chosen = p;
                break;
            }
        }
        if (chosen && (!attribute(chosen, L"Channel", channel, NAME_LEN) ||
                       !attribute(chosen, L"RecordId", record, 32) || !(id = number(record, &end)) || *end))
            FAIL(ERROR_INVALID_PARAMETER);
    }
    if (channel[0] && channel_dir(channel, dir) == 0 && (error = control(dir, "create-bookmark", TRUE)))
        goto done;
    if (!(bookmark = new_object(BOOKMARK, channel)))
        FAIL(ERROR_OUTOFMEMORY);
    if (chosen) {
        bookmark->record = id;
        bookmark->has_record = TRUE;
    }
    handle = bookmark->handle;
done:
    if (channel[0]) {
        U8(name, channel);
        log_call(channel, "EvtCreateBookmark %s -> %lu", name, error);
    }
    LEAVE;
    return (EVT_HANDLE)handle;
}

WINBOOL WINAPI EvtUpdateBookmark(EVT_HANDLE bookmark_handle, EVT_HANDLE event_handle)
{
    WCHAR dir[PATH_LEN];
    struct object *bookmark, *event;
    ENTER;
    bookmark = find(bookmark_handle, BOOKMARK);
    event = find(event_handle, EVENT);
    if (!bookmark || !event)
        FAIL(ERROR_INVALID_HANDLE);
    if (channel_dir(event->channel, dir) == 0 && (error = control(dir, "update-bookmark", TRUE)))
        goto done;
    wcscpy(bookmark->channel, event->channel);
    bookmark->record = event->record;
    bookmark->has_record = TRUE;
    bookmark->reverse = event->reverse;
done:
    if (event)
        log_call(event->channel, "EvtUpdateBookmark %llu -> %lu", event->record, error);
    LEAVE;
    return error == 0;
}

EVT_HANDLE WINAPI EvtOpenPublisherMetadata(EVT_HANDLE session, LPCWSTR provider, LPCWSTR log_file, LCID locale,
                                           DWORD flags)
{
    WCHAR root[PATH_LEN];
    struct object *publisher;
    ULONG_PTR handle = 0;
    ENTER;
    (void)locale;
    if (session)
        FAIL(ERROR_INVALID_HANDLE);
    if (log_file)
        FAIL(ERROR_NOT_SUPPORTED);
    if (!provider || !provider[0] || flags)
        FAIL(ERROR_INVALID_PARAMETER);
    if (!root_dir(root))
        FAIL(RPC_S_SERVER_UNAVAILABLE);
    if ((error = control(root, "publisher", TRUE)))
        goto done;
    if (wcsstr(provider, L"NoMetadata"))
        FAIL(ERROR_EVT_PUBLISHER_METADATA_NOT_FOUND);
    if (!(publisher = new_object(PUBLISHER, NULL)) || !(publisher->text = _wcsdup(provider)))
        FAIL(ERROR_OUTOFMEMORY);
    handle = publisher->handle;
done:
    if (provider) {
        U8(name, provider);
        log_call(NULL, "EvtOpenPublisherMetadata %s -> %lu", name, error);
    }
    LEAVE;
    return (EVT_HANDLE)handle;
}

WINBOOL WINAPI EvtFormatMessage(EVT_HANDLE publisher_handle, EVT_HANDLE event_handle, DWORD message_id,
                                DWORD value_count, PEVT_VARIANT values, DWORD flags, DWORD size, LPWSTR buffer,
                                PDWORD used)
{
    WCHAR dir[PATH_LEN], provider[NAME_LEN], event_id[32], data[PATH_LEN * 32];
    struct object *publisher = NULL, *event = NULL;
    WCHAR *message = NULL;
    DWORD needed = 0, partial = 0;
    size_t cap;
    ENTER;
    if (flags != EvtFormatMessageEvent)
        FAIL(ERROR_NOT_SUPPORTED); /* only whole event messages are part of the shim */
    if (!used || message_id || (value_count && !values) || (size && !buffer))
        FAIL(ERROR_INVALID_PARAMETER);
    if (!publisher_handle)
        FAIL(ERROR_EVT_MESSAGE_NOT_FOUND);
    publisher = find(publisher_handle, PUBLISHER);
    event = find(event_handle, EVENT);
    if (!publisher || !event)
        FAIL(ERROR_INVALID_HANDLE);
    if (channel_dir(event->channel, dir) == 0 && (error = control(dir, "format", TRUE)))
        goto done;
    /* "format-partial <code>": the message is formatted (as far as the buffer allows) and the
     * call fails with <code> all the same, as for an insert it cannot resolve (15029); a buffer
     * too small then also fails with <code>, with the size needed. */
    if (channel_dir(event->channel, dir) == 0)
        partial = control(dir, "format-partial", TRUE);
    /* The event's provider must be the publisher's: its messages come from that metadata. */
    {
        const WCHAR *tag = wcsstr(event->text, L"<Provider");
        if (!tag || !attribute(tag, L"Name", provider, NAME_LEN) || _wcsicmp(provider, publisher->text) != 0)
            FAIL(ERROR_EVT_MESSAGE_ID_NOT_FOUND);
    }
    if (!element_text(event->text, L"EventID", event_id, 32))
        wcscpy(event_id, L"?");
    if (!element_text(event->text, L"Data", data, sizeof data / sizeof data[0]))
        data[0] = 0;
    /* "Shim message for event <id> of <provider>[: <first Data text>]" */
    cap = wcslen(provider) + wcslen(data) + 64;
    if (!(message = malloc(cap * sizeof(WCHAR))))
        FAIL(ERROR_OUTOFMEMORY);
    message[0] = 0;
    append(message, cap, L"Shim message for event ");
    append(message, cap, event_id);
    append(message, cap, L" of ");
    append(message, cap, provider);
    if (data[0]) {
        append(message, cap, L": ");
        append(message, cap, data);
    }
    needed = (DWORD)wcslen(message) + 1;
    if (!buffer || size < needed)
        FAIL(partial ? partial : ERROR_INSUFFICIENT_BUFFER);
    memcpy(buffer, message, needed * sizeof(WCHAR));
    if (partial)
        FAIL(partial);
done:
    if (error == 0 || error == ERROR_INSUFFICIENT_BUFFER || (partial && error == partial))
        *used = needed;
    if (event)
        log_call(event->channel, "EvtFormatMessage %llu size %lu -> %lu (needs %lu)", event->record, size, error,
                 needed);
    free(message);
    LEAVE;
    return error == 0;
}

EVT_HANDLE WINAPI EvtOpenChannelEnum(EVT_HANDLE session, DWORD flags)
{
    WCHAR root[PATH_LEN], pattern[PATH_LEN];
    WIN32_FIND_DATAW found;
    HANDLE search;
    struct object *list = NULL;
    ULONG_PTR handle = 0;
    ENTER;
    if (session)
        FAIL(ERROR_INVALID_HANDLE);
    if (flags)
        FAIL(ERROR_INVALID_PARAMETER);
    if (!root_dir(root) || !file_in(root, L"*", pattern))
        FAIL(RPC_S_SERVER_UNAVAILABLE);
    if ((error = control(root, "channel-enum", TRUE)))
        goto done;
    if (!(list = new_object(CHANNEL_ENUM, NULL)))
        FAIL(ERROR_OUTOFMEMORY);
    handle = list->handle;
    /* The channel folders, in the order the file system lists them (callers sort). */
    search = FindFirstFileW(pattern, &found);
    if (search == INVALID_HANDLE_VALUE)
        goto done;
    do {
        WCHAR **more;
        if (!(found.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY) || !valid_name(found.cFileName))
            continue;
        if (!(more = realloc(list->names, (list->name_count + 1) * sizeof *more)))
            break;
        list->names = more;
        if ((list->names[list->name_count] = _wcsdup(found.cFileName)))
            list->name_count++;
    } while (FindNextFileW(search, &found));
    FindClose(search);
done:
    log_call(NULL, "EvtOpenChannelEnum -> %lu (%lu channels)", error, handle ? list->name_count : 0);
    LEAVE;
    return (EVT_HANDLE)handle;
}

WINBOOL WINAPI EvtNextChannelPath(EVT_HANDLE enum_handle, DWORD size, LPWSTR buffer, PDWORD used)
{
    WCHAR root[PATH_LEN];
    struct object *list;
    DWORD needed = 0;
    ENTER;
    if (!(list = find(enum_handle, CHANNEL_ENUM)))
        FAIL(ERROR_INVALID_HANDLE);
    if (!used || (size && !buffer))
        FAIL(ERROR_INVALID_PARAMETER);
    if (list->name_next >= list->name_count)
        FAIL(ERROR_NO_MORE_ITEMS);
    needed = (DWORD)wcslen(list->names[list->name_next]) + 1;
    *used = needed;
    if (root_dir(root) && (error = control(root, "channel-path", TRUE)))
        goto done;
    if (!buffer || size < needed)
        FAIL(ERROR_INSUFFICIENT_BUFFER);
    memcpy(buffer, list->names[list->name_next++], needed * sizeof(WCHAR));
done:
    if (list)
        log_call(NULL, "EvtNextChannelPath size %lu -> %lu (needs %lu)", size, error, needed);
    LEAVE;
    return error == 0;
}

EVT_HANDLE WINAPI EvtOpenChannelConfig(EVT_HANDLE session, LPCWSTR channel, DWORD flags)
{
    WCHAR dir[PATH_LEN], path[PATH_LEN];
    struct object *config;
    char *data;
    DWORD size;
    ULONG_PTR handle = 0;
    ENTER;
    if (session)
        FAIL(ERROR_INVALID_HANDLE);
    if (!channel || flags)
        FAIL(ERROR_INVALID_PARAMETER);
    if ((error = channel_dir(channel, dir)))
        goto done;
    if (!(config = new_object(CHANNEL_CONFIG, channel)))
        FAIL(ERROR_OUTOFMEMORY);
    if (file_in(dir, L"channel-type.txt", path) && read_file(path, &data, &size)) {
        config->channel_type = (DWORD)strtoul(data, NULL, 10);
        free(data);
    }
    handle = config->handle;
done:
    LEAVE;
    return (EVT_HANDLE)handle;
}

WINBOOL WINAPI EvtGetChannelConfigProperty(EVT_HANDLE config_handle, EVT_CHANNEL_CONFIG_PROPERTY_ID property,
                                           DWORD flags, DWORD size, PEVT_VARIANT value, PDWORD used)
{
    struct object *config;
    ENTER;
    if (!(config = find(config_handle, CHANNEL_CONFIG)))
        FAIL(ERROR_INVALID_HANDLE);
    if (!used || flags || (size && !value))
        FAIL(ERROR_INVALID_PARAMETER);
    if (property == EvtChannelLoggingConfigLogFilePath) {
        /* As Windows writes it, with an environment variable to expand (%SystemRoot%\...):
         * %KRAKEN_WEVTAPI_DIR%\<channel>\<channel>.evtx, the text right after the variant. */
        WCHAR text[PATH_LEN];
        DWORD bytes;
        int n = swprintf(text, PATH_LEN, L"%%KRAKEN_WEVTAPI_DIR%%\\%ls\\%ls.evtx", config->channel,
                         config->channel);
        if (n < 0 || n >= PATH_LEN - 1)
            FAIL(ERROR_INVALID_PARAMETER);
        bytes = (DWORD)((n + 1) * sizeof(WCHAR));
        *used = sizeof(EVT_VARIANT) + bytes;
        if (!value || size < *used)
            FAIL(ERROR_INSUFFICIENT_BUFFER);
        memset(value, 0, sizeof *value);
        value->Type = EvtVarTypeString;
        value->StringVal = (LPCWSTR)(value + 1);
        memcpy(value + 1, text, bytes);
        goto done;
    }
    if (property != EvtChannelConfigType && property != EvtChannelConfigEnabled)
        FAIL(ERROR_NOT_SUPPORTED);
    *used = sizeof(EVT_VARIANT);
    if (!value || size < sizeof(EVT_VARIANT))
        FAIL(ERROR_INSUFFICIENT_BUFFER);
    memset(value, 0, sizeof *value);
    if (property == EvtChannelConfigType) {
        value->Type = EvtVarTypeUInt32;
        value->UInt32Val = config->channel_type;
    } else {
        value->Type = EvtVarTypeBoolean;
        value->BooleanVal = TRUE;
    }
done:
    LEAVE;
    return error == 0;
}

WINBOOL WINAPI EvtClose(EVT_HANDLE handle)
{
    struct object **link, *object = NULL;
    ENTER;
    for (link = &objects; *link; link = &(*link)->next) {
        if ((*link)->handle == (ULONG_PTR)handle) {
            object = *link;
            *link = object->next;
            break;
        }
    }
    if (!object)
        FAIL(ERROR_INVALID_HANDLE);
    /* "When you close a parent handle, any opened handles that were created using the handle
     * are also closed" (EvtClose): the events a subscription or query handed out. */
    if (object->kind == SUBSCRIPTION || object->kind == QUERY) {
        struct object *child;
        for (child = objects; child; child = child->next)
            if (child->kind == EVENT && child->parent == object->handle)
                child->kind = CLOSED_EVENT;
    }
    /* Already closed with its parent: a second close of the handle. */
    if (object->kind == CLOSED_EVENT)
        error = ERROR_INVALID_HANDLE;
    if (object->channel[0] && object->kind != CHANNEL_CONFIG)
        log_call(object->channel, "EvtClose %s %llu -> %lu (open %u)", kind_names[object->kind], object->record,
                 error, open_on(object->channel));
    free_object(object);
done:
    LEAVE;
    return error == 0;
}

BOOL WINAPI DllMain(HINSTANCE instance, DWORD reason, LPVOID reserved)
{
    (void)reserved;
    if (reason == DLL_PROCESS_ATTACH)
        DisableThreadLibraryCalls(instance);
    return TRUE;
}
