/*
 * keys.c -- node identity and network key files (include/weft/keys.h).
 *
 * Driver-level code: POSIX file I/O and libsodium are allowed here.  The
 * rules it enforces: key files are private (no group/other permission
 * bits, else WEFT_ERR_KEY_PERMS, as ssh refuses world-readable keys), are
 * small text files of 64 hex characters, and are created atomically with
 * mode 0600: written to a mkstemp() file in the same directory, fsynced,
 * then link()ed into place (which, unlike rename, fails when the target
 * exists, so a concurrent creator or an existing key is never clobbered),
 * and the directory is fsynced so the new name survives a crash.
 *
 * Like OpenSSH's StrictModes, a key file or data directory that another
 * user owns (root aside), or that group or others may write, is refused:
 * whoever can write it can replace the key.  Every refusal leaves a
 * sentence naming the path, what is wrong and the command that fixes it
 * in weft_keys_last_error().
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "weft/crypto.h"
#include "weft/keys.h"

#define KEY_HEX_CHARS 64

static char last_error[PATH_MAX + 256];

const char *weft_keys_last_error(void) { return last_error; }

static int failf(int rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int failf(int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return rc;
}

/* Another user (root aside) owns st: they could write what it holds. */
static int foreign_owner(const struct stat *st)
{
    return st->st_uid != geteuid() && st->st_uid != 0;
}

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

static void tohex(char *out, const uint8_t *in, size_t n)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[in[i] >> 4];
        out[2 * i + 1] = d[in[i] & 15];
    }
}

/*
 * Parses exactly 64 hex digits out of text; whitespace is skipped and '#'
 * starts a comment running to the end of the line.  Returns 0 or
 * WEFT_ERR_CORRUPT (with the file's size and what was found in
 * last_error; path names the file there).
 */
static int parse_key_text(const char *path, const char *text, size_t len, uint8_t out[32])
{
    size_t nd = 0;
    int hi = 0;

    for (size_t i = 0; i < len; i++) {
        int ch = (unsigned char)text[i];
        if (ch == '#') {
            while (i < len && text[i] != '\n')
                i++;
            continue;
        }
        if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r')
            continue;
        int v = hexval(ch);
        if (v < 0) {
            failf(0, "%s: %zu bytes, expected 32 bytes written as 64 hex digits: byte "
                     "0x%02x at offset %zu is not a hex digit", path, len, ch, i);
            goto corrupt;
        }
        if (nd >= KEY_HEX_CHARS) {
            failf(0, "%s: %zu bytes, expected 32 bytes written as 64 hex digits: more "
                     "than 64 hex digits", path, len);
            goto corrupt;
        }
        if (nd % 2 == 0)
            hi = v;
        else
            out[nd / 2] = (uint8_t)(hi << 4 | v);
        nd++;
    }
    if (nd == KEY_HEX_CHARS)
        return 0;
    failf(0, "%s: %zu bytes, expected 32 bytes written as 64 hex digits: it holds %zu hex "
             "digits", path, len, nd);
corrupt:
    sodium_memzero(out, 32);
    return WEFT_ERR_CORRUPT;
}

/*
 * Reads a private key file into buf (cap bytes, at most
 * WEFT_KEY_FILE_MAX_BYTES).  Owner and permission bits are checked on the
 * open descriptor (fstat), so the file checked is the file read.  Returns
 * the length, WEFT_ERR_NOT_FOUND, WEFT_ERR_KEY_PERMS, WEFT_ERR_CORRUPT or
 * WEFT_ERR_IO, with last_error set.
 */
static ptrdiff_t read_key_file(const char *path, char *buf, size_t cap)
{
    struct stat st;
    size_t got = 0;
    ptrdiff_t rc;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

    if (fd < 0)
        return errno == ENOENT ? failf(WEFT_ERR_NOT_FOUND, "%s: no such file", path)
                               : failf(WEFT_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    if (fstat(fd, &st) != 0) {
        rc = failf(WEFT_ERR_IO, "cannot stat %s: %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = failf(WEFT_ERR_CORRUPT, "%s is not a regular file", path);
        goto out;
    }
    if (foreign_owner(&st)) {
        rc = failf(WEFT_ERR_KEY_PERMS, "%s is owned by uid %u, not by this user (uid %u): "
                   "its owner could replace the key; fix: chown %u %s (or make a new key)",
                   path, (unsigned)st.st_uid, (unsigned)geteuid(), (unsigned)geteuid(), path);
        goto out;
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        rc = failf(WEFT_ERR_KEY_PERMS, "%s has mode %04o: group or others may read or write "
                   "the key; fix: chmod 600 %s", path, (unsigned)(st.st_mode & 07777), path);
        goto out;
    }
    if ((size_t)st.st_size > cap) {
        rc = failf(WEFT_ERR_CORRUPT, "%s: %lld bytes, expected 32 bytes written as 64 hex "
                   "digits (at most %zu bytes with comments)", path, (long long)st.st_size,
                   cap - 1);
        goto out;
    }
    /* Bounded by cap; a file growing under us is caught below. */
    while (got < cap) {
        ssize_t r = read(fd, buf + got, cap - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = failf(WEFT_ERR_IO, "cannot read %s: %s", path, strerror(errno));
            goto out;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    rc = got == cap ? failf(WEFT_ERR_CORRUPT, "%s: grew past %zu bytes while read", path, cap)
                    : (ptrdiff_t)got;
out:
    close(fd);
    return rc;
}

int weft_private_dir_check(const char *dir)
{
    struct stat st;
    if (!dir)
        return WEFT_ERR_INVAL;
    if (stat(dir, &st) != 0)
        return errno == ENOENT ? failf(WEFT_ERR_NOT_FOUND, "%s: no such directory", dir)
                               : failf(WEFT_ERR_IO, "cannot stat %s: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return failf(WEFT_ERR_IO, "%s is not a directory", dir);
    if (foreign_owner(&st))
        return failf(WEFT_ERR_KEY_PERMS, "%s is owned by uid %u, not by this user (uid %u): "
                     "its owner could replace the identity key; fix: chown %u %s",
                     dir, (unsigned)st.st_uid, (unsigned)geteuid(), (unsigned)geteuid(), dir);
    if (st.st_mode & (S_IWGRP | S_IWOTH))
        return failf(WEFT_ERR_KEY_PERMS, "%s has mode %04o: %s may write in it and replace "
                     "the identity key; fix: chmod 700 %s", dir, (unsigned)(st.st_mode & 07777),
                     (st.st_mode & S_IWOTH) ? "anyone" : "its group", dir);
    return 0;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* fsync the directory holding path so a new name in it is durable. */
static int sync_parent_dir(const char *path)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : 0;
    int fd, rc;

    if (!slash) {
        memcpy(dir, ".", 2);
    } else if (n == 0) {
        memcpy(dir, "/", 2);
    } else {
        if (n >= sizeof dir)
            return -1;
        memcpy(dir, path, n);
        dir[n] = 0;
    }
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    rc = fsync(fd);
    close(fd);
    return rc;
}

/*
 * Creates path with the given contents, mode 0600, atomically and without
 * replacing an existing file.  Returns 0, WEFT_ERR_EXISTS, WEFT_ERR_INVAL
 * (path too long) or WEFT_ERR_IO.
 */
static int create_private_file(const char *path, const char *data, size_t n)
{
    char tmp[PATH_MAX];
    int fd, rc = WEFT_ERR_IO;

    if (snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path) >= (int)sizeof tmp)
        return failf(WEFT_ERR_INVAL, "%s: path too long", path);
    fd = mkstemp(tmp); /* O_EXCL, mode 0600 */
    if (fd < 0)
        return failf(WEFT_ERR_IO, "cannot create %s: %s", path, strerror(errno));
    if (fchmod(fd, 0600) != 0 || write_all(fd, data, n) != 0 ||
        fsync(fd) != 0) {
        failf(WEFT_ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
        close(fd);
        goto out;
    }
    if (close(fd) != 0) {
        failf(WEFT_ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
        goto out;
    }
    if (link(tmp, path) != 0) {
        rc = errno == EEXIST
                 ? failf(WEFT_ERR_EXISTS, "%s already exists (left untouched)", path)
                 : failf(WEFT_ERR_IO, "cannot create %s: %s", path, strerror(errno));
        goto out;
    }
    rc = sync_parent_dir(path) == 0
             ? 0
             : failf(WEFT_ERR_IO, "cannot sync the directory of %s: %s", path, strerror(errno));
out:
    unlink(tmp);
    return rc;
}

int weft_network_key_load(const char *path, uint8_t key[32])
{
    char text[WEFT_KEY_FILE_MAX_BYTES];
    ptrdiff_t n;
    int rc;

    if (!path || !key)
        return WEFT_ERR_INVAL;
    sodium_memzero(key, 32);
    n = read_key_file(path, text, sizeof text);
    if (n < 0)
        return (int)n;
    rc = parse_key_text(path, text, (size_t)n, key);
    sodium_memzero(text, sizeof text);
    return rc;
}

int weft_network_key_generate(const char *path)
{
    uint8_t key[32];
    char text[KEY_HEX_CHARS + 1];
    int rc;

    if (!path)
        return WEFT_ERR_INVAL;
    if (access(path, F_OK) == 0) /* early exit; link() below is the real check */
        return failf(WEFT_ERR_EXISTS, "%s already exists (left untouched; remove it first to "
                     "make a new key)", path);
    weft_rand_os(NULL, key, sizeof key);
    tohex(text, key, sizeof key);
    text[KEY_HEX_CHARS] = '\n';
    rc = create_private_file(path, text, sizeof text);
    sodium_memzero(key, sizeof key);
    sodium_memzero(text, sizeof text);
    return rc;
}

int weft_network_key_from_passphrase(const char *pass, uint8_t key[32])
{
    static const char label[] = "weft-netkey-v1";

    if (!pass || !key)
        return WEFT_ERR_INVAL;
    if (sodium_init() < 0)
        return WEFT_ERR_CRYPTO;
    crypto_generichash(key, 32, (const unsigned char *)pass, strlen(pass),
                       (const unsigned char *)label, sizeof label - 1);
    return 0;
}

/* Loads identity from path: seed -> Ed25519 key pair. */
static int identity_load(const char *path, uint8_t secret[64],
                         weft_node_id *id)
{
    char text[WEFT_KEY_FILE_MAX_BYTES];
    uint8_t seed[32];
    ptrdiff_t n = read_key_file(path, text, sizeof text);
    int rc;

    if (n < 0)
        return (int)n;
    rc = parse_key_text(path, text, (size_t)n, seed);
    sodium_memzero(text, sizeof text);
    if (rc == 0)
        crypto_sign_seed_keypair(id->key, secret, seed);
    sodium_memzero(seed, sizeof seed);
    return rc;
}

int weft_identity_load_or_create(const char *data_dir, uint8_t secret[64],
                                 weft_node_id *id, int *created)
{
    char path[PATH_MAX];
    int rc;

    if (!data_dir || !secret || !id)
        return WEFT_ERR_INVAL;
    sodium_memzero(secret, 64);
    if (created)
        *created = 0;
    if (sodium_init() < 0)
        return WEFT_ERR_CRYPTO;
    if (snprintf(path, sizeof path, "%s/identity.key", data_dir) >=
        (int)sizeof path)
        return failf(WEFT_ERR_INVAL, "%s: path too long", data_dir);
    if (mkdir(data_dir, 0700) != 0 && errno != EEXIST)
        return failf(WEFT_ERR_IO, "cannot create %s: %s", data_dir, strerror(errno));
    if ((rc = weft_private_dir_check(data_dir)) != 0)
        return rc;

    rc = identity_load(path, secret, id);
    if (rc != WEFT_ERR_NOT_FOUND)
        goto done;

    /* Create: "# weft node id <hex>\n<seed hex>\n". */
    uint8_t seed[32], pk[32], sk[64];
    char text[192];
    int len;
    weft_rand_os(NULL, seed, sizeof seed);
    crypto_sign_seed_keypair(pk, sk, seed);
    len = snprintf(text, sizeof text, "# weft node id ");
    tohex(text + len, pk, 32);
    len += 64;
    text[len++] = '\n';
    tohex(text + len, seed, 32);
    len += 64;
    text[len++] = '\n';
    rc = create_private_file(path, text, (size_t)len);
    sodium_memzero(seed, sizeof seed);
    sodium_memzero(sk, sizeof sk);
    sodium_memzero(text, sizeof text);
    if (rc == WEFT_ERR_EXISTS) {
        /* Lost a race with another creator: use its key. */
        rc = identity_load(path, secret, id);
        goto done;
    }
    if (rc != 0)
        goto done;
    rc = identity_load(path, secret, id); /* read back what was written */
    if (rc == 0 && created)
        *created = 1;
done:
    if (rc != 0)
        sodium_memzero(secret, 64);
    return rc;
}
