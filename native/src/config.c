/* Mirrors decodeVgpuConfig in contracts/vgpu-config.ts: same keys, same limits, same verdicts.
 * Works on (pointer, length) pairs so NUL bytes or a missing final newline cannot confuse it. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#define MAX_SAFE_INTEGER 9007199254740991ULL

typedef struct {
    char key[LW_MAX_LINE + 1];
    const char *value;
    size_t value_len;
    int line;
} entry;

int lw_parse_decimal(const char *text, size_t len, uint64_t *out) {
    if (len == 0 || len > 16) return -1;
    if (len > 1 && text[0] == '0') return -1;
    uint64_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] < '0' || text[i] > '9') return -1;
        n = n * 10 + (uint64_t)(text[i] - '0');
    }
    if (n > MAX_SAFE_INTEGER) return -1;
    *out = n;
    return 0;
}

static int equals(const char *text, size_t len, const char *word) {
    return strlen(word) == len && memcmp(text, word, len) == 0;
}

static int valid_uuid(const char *v, size_t len) {
    if (len < 1 || len > 96) return 0;
    for (size_t i = 0; i < len; i++) {
        char c = v[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return 0;
    }
    return 1;
}

static int valid_path(const char *v, size_t len) {
    if (len < 1 || len > 255 || v[0] != '/') return 0;
    for (size_t i = 0; i < len; i++) {
        char c = v[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '_' || c == '/' || c == '-'))
            return 0;
    }
    /* No ".." segment: a component exactly "..". */
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || v[i] == '/') {
            if (i - start == 2 && v[start] == '.' && v[start + 1] == '.') return 0;
            start = i + 1;
        }
    }
    return 1;
}

/* device.<0|[1-9][0-9]?>.<uuid|memory_limit>: returns 1 with index and field (0 uuid, 1 limit). */
static int device_key(const char *k, size_t len, int *index, int *field) {
    if (len < 8 || memcmp(k, "device.", 7) != 0) return 0;
    size_t i = 7, digits = 0;
    int n = 0;
    while (i < len && k[i] >= '0' && k[i] <= '9') {
        n = n * 10 + (k[i] - '0');
        i++;
        digits++;
    }
    if (digits == 0 || digits > 2 || (digits == 2 && k[7] == '0')) return 0;
    if (i >= len || k[i] != '.') return 0;
    i++;
    if (equals(k + i, len - i, "uuid")) *field = 0;
    else if (equals(k + i, len - i, "memory_limit")) *field = 1;
    else return 0;
    *index = n;
    return 1;
}

#define FAIL(...)                                  \
    do {                                           \
        snprintf(err, errlen, __VA_ARGS__);        \
        return -1;                                 \
    } while (0)

int lw_config_parse(const char *text, size_t len, lw_config *out, char *err, size_t errlen) {
    static __thread entry entries[64];
    int count = 0;
    memset(out, 0, sizeof(*out));

    size_t pos = 0;
    int line = 0;
    while (pos < len) {
        const char *start = text + pos;
        const char *nl = memchr(start, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - start) : len - pos;
        pos += n + (nl ? 1 : 0);
        line++;
        if (n > LW_MAX_LINE) FAIL("line %d: longer than %d bytes", line, LW_MAX_LINE);
        if (n == 0 || start[0] == '#') continue;
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)start[i];
            if (c < 0x21 || c > 0x7e) FAIL("line %d: only printable ASCII without spaces is allowed", line);
        }
        const char *eq = memchr(start, '=', n);
        if (eq == NULL || eq == start) FAIL("line %d: expected key=value", line);
        size_t klen = (size_t)(eq - start);
        for (int j = 0; j < count; j++) {
            if (strlen(entries[j].key) == klen && memcmp(entries[j].key, start, klen) == 0)
                FAIL("line %d: %.*s given twice", line, (int)klen, start);
        }
        /* 64 distinct keys cover every valid file (3 + region + 16 devices x 2); more is a bad key. */
        if (count == 64) FAIL("line %d: too many keys", line);
        memcpy(entries[count].key, start, klen);
        entries[count].key[klen] = '\0';
        entries[count].value = eq + 1;
        entries[count].value_len = n - klen - 1;
        entries[count].line = line;
        count++;
    }

    int version_line = 0;
    for (int j = 0; j < count; j++) {
        if (strcmp(entries[j].key, "version") == 0) {
            version_line = entries[j].line;
            if (!equals(entries[j].value, entries[j].value_len, "1"))
                FAIL("line %d: unsupported version \"%.*s\" (this side reads 1)", version_line,
                     (int)(entries[j].value_len > 64 ? 64 : entries[j].value_len), entries[j].value);
        }
    }
    if (version_line == 0) FAIL("version is missing");

    int have_mode = 0, have_device = 0;
    for (int j = 0; j < count; j++) {
        const entry *e = &entries[j];
        const char *v = e->value;
        size_t vl = e->value_len;
        uint64_t num;
        int index, field;
        if (strcmp(e->key, "version") == 0) continue;
        if (strcmp(e->key, "core_limit") == 0) {
            if (lw_parse_decimal(v, vl, &num) != 0 || num < 1 || num > 100)
                FAIL("line %d: core_limit must be 1..100", e->line);
            out->core_limit = (int)num;
        } else if (strcmp(e->key, "core_mode") == 0) {
            if (equals(v, vl, "hard")) out->soft = 0;
            else if (equals(v, vl, "soft")) out->soft = 1;
            else FAIL("line %d: core_mode must be hard or soft", e->line);
            have_mode = 1;
        } else if (strcmp(e->key, "shared_region") == 0) {
            if (!valid_path(v, vl))
                FAIL("line %d: shared_region must be an absolute path of [A-Za-z0-9._/-] without \"..\"", e->line);
            memcpy(out->shared_region, v, vl);
            out->shared_region[vl] = '\0';
        } else if (device_key(e->key, strlen(e->key), &index, &field)) {
            if (index >= LW_MAX_DEVICES) FAIL("line %d: device index must be 0..%d", e->line, LW_MAX_DEVICES - 1);
            lw_device_config *d = &out->devices[index];
            d->present = 1;
            have_device = 1;
            if (field == 0) {
                if (!valid_uuid(v, vl)) FAIL("line %d: uuid must be 1..96 of [A-Za-z0-9-]", e->line);
                memcpy(d->uuid, v, vl);
                d->uuid[vl] = '\0';
            } else {
                if (lw_parse_decimal(v, vl, &num) != 0 || num < 1)
                    FAIL("line %d: memory_limit must be a whole number of bytes >= 1", e->line);
                d->memory_limit = num;
            }
        } else {
            FAIL("line %d: unknown key \"%.64s\"", e->line, e->key);
        }
    }
    if (out->core_limit == 0) FAIL("core_limit is missing");
    if (!have_mode) FAIL("core_mode is missing");
    if (!have_device) FAIL("no device is listed");
    for (int i = 0; i < LW_MAX_DEVICES; i++) {
        if (out->devices[i].present && out->devices[i].memory_limit == 0)
            FAIL("device.%d.memory_limit is missing", i);
    }
    return 0;
}
