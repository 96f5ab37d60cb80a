/*
 * output.c -- `weft --json`: the daemon's `key=value` answers as one JSON
 * document (docs/DAEMON.md, "weft CLI").
 *
 * The control protocol speaks lines of `word key=value ...` with values
 * that hold no spaces (peer-supplied text is cleaned by the daemon); this
 * file turns them into JSON objects without knowing each command: a value
 * is a number when it is an integer and its key is not one of the text
 * keys below, true/false for the boolean keys, an object for tags=, an
 * array for keys that may repeat (listening=), else a string.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* Keys whose values are text even when they look like numbers (a name or
 * a hex id made of digits only). */
static const char *text_keys[] = {"id", "name", "state", "addr", "status", "version", "from",
                                  "to", "sha256", "kind", "reason", "text", "base64", "event",
                                  "id_full", "peers_file", "control", "membership", "data_dir",
                                  "result", "listening", NULL};
static const char *bool_keys[] = {"self", "established", "created", "truncated", NULL};
static const char *array_keys[] = {"listening", NULL};

static int in(const char *const *set, const char *k, size_t kl)
{
    for (; *set; set++)
        if (strlen(*set) == kl && !memcmp(*set, k, kl))
            return 1;
    return 0;
}

void json_string(FILE *f, const char *s, size_t n)
{
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", f);
        else if (c == '\t')
            fputs("\\t", f);
        else if (c < 0x20 || c == 0x7f)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static int is_int(const char *v, size_t n)
{
    size_t i = v[0] == '-' ? 1 : 0;
    if (n == i || n - i > 18 || (v[i] == '0' && n - i > 1))
        return 0;
    for (; i < n; i++)
        if (v[i] < '0' || v[i] > '9')
            return 0;
    return 1;
}

static void value(FILE *f, const char *k, size_t kl, const char *v, size_t vl)
{
    if (kl == 4 && !memcmp(k, "tags", 4)) {
        /* k1=v1,k2=v2 (keys and values hold no ',' or '='), "-" = none */
        fputc('{', f);
        int first = 1;
        for (size_t i = 0; vl && !(vl == 1 && v[0] == '-') && i < vl;) {
            size_t e = i;
            while (e < vl && v[e] != ',')
                e++;
            const char *eq = memchr(v + i, '=', e - i);
            if (eq) {
                fputs(first ? "" : ",", f);
                json_string(f, v + i, (size_t)(eq - (v + i)));
                fputc(':', f);
                json_string(f, eq + 1, (size_t)(v + e - eq - 1));
                first = 0;
            }
            i = e + 1;
        }
        fputc('}', f);
    } else if (in(bool_keys, k, kl) && vl == 1 && (v[0] == '0' || v[0] == '1')) {
        fputs(v[0] == '1' ? "true" : "false", f);
    } else if (!in(text_keys, k, kl) && is_int(v, vl)) {
        fwrite(v, 1, vl, f);
    } else {
        json_string(f, v, vl);
    }
}

typedef struct field {
    const char *k, *v;
    size_t kl, vl;
} field;

/*
 * Prints the members of one JSON object (without the braces) from text of
 * `key=value` tokens separated by spaces or newlines; a `tags=` value runs
 * to the end of its line.  Tokens without '=' are skipped.  Repeated keys
 * and array keys become arrays.  Returns the number of members printed.
 */
int json_fields(FILE *f, const char *s, int first)
{
    field fl[256];
    size_t n = 0;
    const char *p = s;
    while (*p && n < sizeof fl / sizeof fl[0]) {
        p += strspn(p, " \n");
        if (!*p)
            break;
        size_t tl = strcspn(p, " \n");
        const char *eq = memchr(p, '=', tl);
        if (eq && eq - p == 4 && !memcmp(p, "tags", 4))
            tl = strcspn(p, "\n");
        if (eq && eq > p)
            fl[n++] = (field){p, eq + 1, (size_t)(eq - p), (size_t)(p + tl - eq - 1)};
        p += tl;
    }
    int printed = 0;
    for (size_t i = 0; i < n; i++) {
        int dup = 0, count = 0;
        for (size_t j = 0; j < n; j++)
            if (fl[j].kl == fl[i].kl && !memcmp(fl[j].k, fl[i].k, fl[i].kl)) {
                dup |= j < i;
                count++;
            }
        if (dup)
            continue; /* printed with its first occurrence */
        fputs(first && !printed ? "" : ",", f);
        json_string(f, fl[i].k, fl[i].kl);
        fputc(':', f);
        if (count > 1 || in(array_keys, fl[i].k, fl[i].kl)) {
            fputc('[', f);
            int firstv = 1;
            for (size_t j = i; j < n; j++)
                if (fl[j].kl == fl[i].kl && !memcmp(fl[j].k, fl[i].k, fl[i].kl)) {
                    fputs(firstv ? "" : ",", f);
                    value(f, fl[j].k, fl[j].kl, fl[j].v, fl[j].vl);
                    firstv = 0;
                }
            fputc(']', f);
        } else {
            value(f, fl[i].k, fl[i].kl, fl[i].v, fl[i].vl);
        }
        printed++;
    }
    return printed;
}

int json_object(char *body)
{
    fputc('{', stdout);
    json_fields(stdout, body, 1);
    fputs("}\n", stdout);
    return EXIT_OK;
}

int json_records(char *body, const char *word)
{
    size_t wl = strlen(word);
    int first = 1;
    fputc('[', stdout);
    for (char *save = NULL, *l = strtok_r(body, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        if (strncmp(l, word, wl) || l[wl] != ' ')
            continue;
        fputs(first ? "\n{" : ",\n{", stdout);
        json_fields(stdout, l + wl + 1, 1);
        fputc('}', stdout);
        first = 0;
    }
    fputs(first ? "]\n" : "\n]\n", stdout);
    return EXIT_OK;
}

void json_word_line(FILE *f, const char *key, const char *line, int close)
{
    size_t wl = strcspn(line, " \n");
    fputc('{', f);
    json_string(f, key, strlen(key));
    fputc(':', f);
    json_string(f, line, wl);
    json_fields(f, line + wl, 0);
    if (close)
        fputs("}\n", f);
}
