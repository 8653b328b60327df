/* echo_backend.c: loadtests/echo_backend.py in C, for load tests and cold-start measurements.
 *
 * Newline-delimited JSON-RPC on stdin/stdout: initialize (protocolVersion echoed, capability
 * tools), tools/list (one tool "echo"), tools/call (the raw "arguments" JSON, escaped, as one
 * text content item), ping; other requests get -32601, notifications and responses are ignored.
 * It reads stdin in chunks of up to 256 KiB, answers every complete line and writes all answers
 * of a chunk with one write(2). JSON is not fully parsed: the top-level object (and "params") is
 * scanned structurally for the few keys it needs; values are copied verbatim.
 *
 * Built by loadtests/run_load.py:  gcc -O2 -o .bench/echo_backend loadtests/echo_backend.c
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct { const char *p; size_t n; } span;

static char *out;
static size_t out_len, out_cap;

static void put(const char *s, size_t n) {
    if (out_len + n > out_cap) {
        while (out_len + n > out_cap) out_cap = out_cap ? out_cap * 2 : 1 << 16;
        out = realloc(out, out_cap);
        if (!out) exit(3);
    }
    memcpy(out + out_len, s, n);
    out_len += n;
}
#define PUTS(lit) put(lit, sizeof(lit) - 1)

static void flush_out(void) {
    size_t off = 0;
    while (off < out_len) {
        ssize_t w = write(1, out + off, out_len - off);
        if (w < 0) {
            if (errno == EINTR) continue;
            exit(0); /* reader went away */
        }
        off += (size_t)w;
    }
    out_len = 0;
}

static const char *ws(const char *p, const char *e) {
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) p++;
    return p;
}

/* End of the JSON value starting at p (p must not be whitespace), or NULL if malformed. */
static const char *skip(const char *p, const char *e) {
    if (p >= e) return NULL;
    if (*p == '"') {
        for (p++; p < e; p++) {
            if (*p == '\\') p++;
            else if (*p == '"') return p + 1;
        }
        return NULL;
    }
    if (*p == '{' || *p == '[') {
        int depth = 0;
        for (; p < e; p++) {
            if (*p == '"') {
                const char *q = skip(p, e);
                if (!q) return NULL;
                p = q - 1;
            } else if (*p == '{' || *p == '[') depth++;
            else if (*p == '}' || *p == ']') {
                if (--depth == 0) return p + 1;
            }
        }
        return NULL;
    }
    while (p < e && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\t' && *p != '\r')
        p++;
    return p;
}

/* Find the values of keys k1..k3 among the top-level members of the object [p, e). */
static int members(const char *p, const char *e, const char **keys, span *vals, int nkeys) {
    p = ws(p, e);
    if (p >= e || *p != '{') return -1;
    p = ws(p + 1, e);
    if (p < e && *p == '}') return 0;
    while (p < e) {
        if (*p != '"') return -1;
        const char *kend = skip(p, e);
        if (!kend) return -1;
        span key = {p + 1, (size_t)(kend - p - 2)};
        p = ws(kend, e);
        if (p >= e || *p != ':') return -1;
        p = ws(p + 1, e);
        const char *vend = skip(p, e);
        if (!vend) return -1;
        for (int i = 0; i < nkeys; i++)
            if (strlen(keys[i]) == key.n && memcmp(keys[i], key.p, key.n) == 0) {
                vals[i].p = p;
                vals[i].n = (size_t)(vend - p);
            }
        p = ws(vend, e);
        if (p < e && *p == ',') p = ws(p + 1, e);
        else if (p < e && *p == '}') return 0;
        else return -1;
    }
    return -1;
}

static int is(span s, const char *lit) {
    size_t n = strlen(lit);
    return s.n == n + 2 && memcmp(s.p + 1, lit, n) == 0;
}

static void put_escaped(span s) {
    static const char hex[] = "0123456789abcdef";
    const char *start = s.p, *p = s.p, *e = s.p + s.n;
    for (; p < e; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\' || c < 0x20) {
            put(start, (size_t)(p - start));
            if (c == '"') PUTS("\\\"");
            else if (c == '\\') PUTS("\\\\");
            else {
                char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                put(u, 6);
            }
            start = p + 1;
        }
    }
    put(start, (size_t)(p - start));
}

static void handle(const char *p, const char *e) {
    static const char *top[] = {"id", "method", "params"};
    static const char *inner[] = {"arguments", "protocolVersion"};
    span v[3] = {{0}}, pv[2] = {{0}};
    if (members(p, e, top, v, 3) < 0) {
        PUTS("{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32700,\"message\":\"Parse error\"}}\n");
        return;
    }
    if (!v[0].p || !v[1].p || v[1].p[0] != '"') return; /* notification or response */
    if (v[2].p) members(v[2].p, v[2].p + v[2].n, inner, pv, 2);
    PUTS("{\"jsonrpc\":\"2.0\",\"id\":");
    put(v[0].p, v[0].n);
    if (is(v[1], "tools/call")) {
        PUTS(",\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"");
        if (pv[0].p) put_escaped(pv[0]);
        else PUTS("{}");
        PUTS("\"}],\"isError\":false}}\n");
    } else if (is(v[1], "ping")) {
        PUTS(",\"result\":{}}\n");
    } else if (is(v[1], "tools/list")) {
        PUTS(",\"result\":{\"tools\":[{\"name\":\"echo\",\"description\":\"Return the call's "
             "arguments as text.\",\"inputSchema\":{\"type\":\"object\",\"additionalProperties\":true}}]}}\n");
    } else if (is(v[1], "initialize")) {
        PUTS(",\"result\":{\"protocolVersion\":");
        if (pv[1].p && pv[1].p[0] == '"') put(pv[1].p, pv[1].n);
        else PUTS("\"2025-11-25\"");
        PUTS(",\"capabilities\":{\"tools\":{\"listChanged\":false}},\"serverInfo\":{\"name\":"
             "\"echo-backend-c\",\"version\":\"1.0\"}}}\n");
    } else {
        PUTS(",\"error\":{\"code\":-32601,\"message\":\"Method not found\"}}\n");
    }
}

int main(void) {
    size_t cap = 1 << 18, len = 0;
    char *buf = malloc(cap);
    if (!buf) return 3;
    for (;;) {
        if (cap - len < (1 << 16)) {
            cap *= 2;
            buf = realloc(buf, cap);
            if (!buf) return 3;
        }
        ssize_t r = read(0, buf + len, cap - len);
        if (r < 0) {
            if (errno == EINTR) continue;
            return 1;
        }
        if (r == 0) return 0;
        len += (size_t)r;
        char *line = buf, *end = buf + len, *nl;
        while ((nl = memchr(line, '\n', (size_t)(end - line))) != NULL) {
            const char *s = ws(line, nl);
            if (s < nl) handle(s, nl);
            line = nl + 1;
        }
        len = (size_t)(end - line);
        memmove(buf, line, len);
        if (out_len) flush_out();
    }
}
