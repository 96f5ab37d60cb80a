/*
 * test_keys.c -- identity and network key files (src/platform/keys.c) in a
 * fresh mkdtemp() directory: creation with private modes, reload of the
 * same identity, refusal of group/other-readable files and of malformed
 * contents, network key generate/load/exists, and the passphrase KDF;
 * StrictModes-like checks of the data directory (group-writable, another
 * owner) and the messages weft_keys_last_error() gives.
 */
#include "test.h"

#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "weft/crypto.h"
#include "weft/keys.h"
#include "weft/weft.h"

static char tmpdir[256];

static void path_in(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", tmpdir, name);
}

static void write_file(const char *path, const char *text, int mode)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return;
    fputs(text, f);
    fclose(f);
    chmod(path, (mode_t)mode);
}

TEST(identity_create_and_reload)
{
    char dir[300], file[400];
    uint8_t sk[64], sk2[64];
    weft_node_id id, id2;
    int created = -1;
    struct stat st;

    path_in(dir, sizeof dir, "data"); /* does not exist yet */
    REQUIRE(weft_identity_load_or_create(dir, sk, &id, &created) == 0);
    CHECK_EQ_INT(created, 1);
    REQUIRE(stat(dir, &st) == 0);
    CHECK_EQ_INT(st.st_mode & 0777, 0700);
    snprintf(file, sizeof file, "%s/identity.key", dir);
    REQUIRE(stat(file, &st) == 0);
    CHECK_EQ_INT(st.st_mode & 0777, 0600);
    CHECK(memcmp(sk + 32, id.key, 32) == 0); /* sk = seed || pk */

    /* The key signs and its public key verifies. */
    const weft_crypto *c = weft_crypto_sodium();
    uint8_t sig[64];
    c->sign(c->ctx, sig, (const uint8_t *)"m", 1, sk);
    CHECK(c->verify(c->ctx, sig, (const uint8_t *)"m", 1, id.key) == 0);

    /* The file holds a comment with the id and the seed. */
    char text[512] = {0}, idhex[WEFT_ID_HEX_LEN];
    FILE *f = fopen(file, "r");
    REQUIRE(f);
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    CHECK_EQ_INT(n, 15 + 64 + 1 + 64 + 1);
    weft_id_hex(&id, idhex);
    CHECK(strstr(text, idhex) != NULL);

    REQUIRE(weft_identity_load_or_create(dir, sk2, &id2, &created) == 0);
    CHECK_EQ_INT(created, 0);
    CHECK(memcmp(id.key, id2.key, 32) == 0);
    CHECK(memcmp(sk, sk2, 64) == 0);

    /* A second data dir gets a different identity. */
    path_in(dir, sizeof dir, "data2");
    REQUIRE(weft_identity_load_or_create(dir, sk2, &id2, NULL) == 0);
    CHECK(memcmp(id.key, id2.key, 32) != 0);
}

TEST(identity_rejects_open_perms)
{
    char dir[300], file[400];
    uint8_t sk[64];
    weft_node_id id;

    path_in(dir, sizeof dir, "perm");
    REQUIRE(weft_identity_load_or_create(dir, sk, &id, NULL) == 0);
    snprintf(file, sizeof file, "%s/identity.key", dir);
    REQUIRE(chmod(file, 0644) == 0);
    CHECK_EQ_INT(weft_identity_load_or_create(dir, sk, &id, NULL),
                 WEFT_ERR_KEY_PERMS);
    for (int i = 0; i < 64; i++)
        CHECK(sk[i] == 0); /* nothing handed out on failure */
    REQUIRE(chmod(file, 0620) == 0);
    CHECK_EQ_INT(weft_identity_load_or_create(dir, sk, &id, NULL),
                 WEFT_ERR_KEY_PERMS);
    REQUIRE(chmod(file, 0400) == 0);
    CHECK_EQ_INT(weft_identity_load_or_create(dir, sk, &id, NULL), 0);
}

TEST(identity_rejects_garbage)
{
    char dir[300], file[400];
    uint8_t sk[64];
    weft_node_id id;
    static const char *bad[] = {
        "not hex at all\n",
        "0123\n",                                         /* too short */
        "# only a comment\n",
        "",                                               /* empty */
        ("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
         "00\n"),                                         /* too long */
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeefg\n",
    };
    path_in(dir, sizeof dir, "garbage");
    REQUIRE(mkdir(dir, 0700) == 0);
    snprintf(file, sizeof file, "%s/identity.key", dir);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        unlink(file);
        write_file(file, bad[i], 0600);
        CHECK_EQ_INT(weft_identity_load_or_create(dir, sk, &id, NULL),
                     WEFT_ERR_CORRUPT);
    }
    /* A hand-written file (uppercase, CRLF, comment) is accepted. */
    unlink(file);
    write_file(file,
               "# my key\r\n"
               "9D61B19DEFFD5A60BA844AF492EC2CC44449C5697B326919703BAC031CAE7F60"
               "\r\n",
               0600);
    REQUIRE(weft_identity_load_or_create(dir, sk, &id, NULL) == 0);
    uint8_t exp[32];
    test_unhex(exp, 32,
               "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
    CHECK(memcmp(id.key, exp, 32) == 0); /* RFC 8032 §7.1 test 1 */

    /* data_dir is a file, not a directory. */
    CHECK_EQ_INT(weft_identity_load_or_create(file, sk, &id, NULL),
                 WEFT_ERR_IO);
    CHECK_EQ_INT(weft_identity_load_or_create(NULL, sk, &id, NULL),
                 WEFT_ERR_INVAL);
}

TEST(network_key_files)
{
    char file[300];
    uint8_t k1[32], k2[32];
    struct stat st;

    path_in(file, sizeof file, "mesh.key");
    CHECK_EQ_INT(weft_network_key_load(file, k1), WEFT_ERR_NOT_FOUND);
    REQUIRE(weft_network_key_generate(file) == 0);
    REQUIRE(stat(file, &st) == 0);
    CHECK_EQ_INT(st.st_mode & 0777, 0600);
    CHECK_EQ_INT(weft_network_key_generate(file), WEFT_ERR_EXISTS);
    REQUIRE(weft_network_key_load(file, k1) == 0);
    REQUIRE(weft_network_key_load(file, k2) == 0);
    CHECK(memcmp(k1, k2, 32) == 0);
    REQUIRE(chmod(file, 0604) == 0);
    CHECK_EQ_INT(weft_network_key_load(file, k2), WEFT_ERR_KEY_PERMS);

    /* Whitespace anywhere is tolerated. */
    path_in(file, sizeof file, "spaced.key");
    write_file(file,
               "  0011 2233 4455 6677 8899 aabb ccdd eeff\n"
               "\t0011223344556677 8899aabbccddeeff  \n\n",
               0600);
    REQUIRE(weft_network_key_load(file, k1) == 0);
    CHECK(k1[0] == 0x00 && k1[1] == 0x11 && k1[15] == 0xff &&
          k1[31] == 0xff);
    path_in(file, sizeof file, "bad.key");
    write_file(file, "zz\n", 0600);
    CHECK_EQ_INT(weft_network_key_load(file, k1), WEFT_ERR_CORRUPT);
    /* A directory is not a key file. */
    CHECK_EQ_INT(weft_network_key_load(tmpdir, k1), WEFT_ERR_CORRUPT);
}

TEST(passphrase_key)
{
    uint8_t a[32], b[32], c[32];
    REQUIRE(weft_network_key_from_passphrase("correct horse", a) == 0);
    REQUIRE(weft_network_key_from_passphrase("correct horse", b) == 0);
    REQUIRE(weft_network_key_from_passphrase("correct horsf", c) == 0);
    CHECK(memcmp(a, b, 32) == 0);
    CHECK(memcmp(a, c, 32) != 0);
    /* It is BLAKE2b-256 keyed with the label, through the adapter's mac. */
    const weft_crypto *cr = weft_crypto_sodium();
    weft_iov iov = {"correct horse", 13};
    cr->mac(cr->ctx, c, 32, (const uint8_t *)"weft-netkey-v1", 14, &iov, 1);
    CHECK(memcmp(a, c, 32) == 0);
    CHECK_EQ_INT(weft_network_key_from_passphrase(NULL, a), WEFT_ERR_INVAL);
}

/* Data directory and key files an attacker could write are refused, and
 * every refusal says what to do. */
TEST(strict_modes_and_messages)
{
    char dir[300], file[400];
    uint8_t sk[64], k[32];
    weft_node_id id;

    path_in(dir, sizeof dir, "groupw");
    REQUIRE(mkdir(dir, 0700) == 0);
    REQUIRE(chmod(dir, 0770) == 0);
    CHECK_EQ_INT(weft_identity_load_or_create(dir, sk, &id, NULL), WEFT_ERR_KEY_PERMS);
    CHECK(strstr(weft_keys_last_error(), "chmod 700") != NULL);
    CHECK(strstr(weft_keys_last_error(), dir) != NULL);
    CHECK_EQ_INT(weft_private_dir_check(dir), WEFT_ERR_KEY_PERMS);
    REQUIRE(chmod(dir, 0750) == 0); /* group may read and enter, not write */
    CHECK_EQ_INT(weft_private_dir_check(dir), 0);
    REQUIRE(weft_identity_load_or_create(dir, sk, &id, NULL) == 0);

    /* A 10-byte key file: the size and what is expected. */
    path_in(file, sizeof file, "short.key");
    write_file(file, "0123456789", 0600);
    CHECK_EQ_INT(weft_network_key_load(file, k), WEFT_ERR_CORRUPT);
    CHECK(strstr(weft_keys_last_error(), "10 bytes, expected 32") != NULL);
    CHECK(strstr(weft_keys_last_error(), file) != NULL);
    write_file(file, "0123456789x", 0600);
    CHECK_EQ_INT(weft_network_key_load(file, k), WEFT_ERR_CORRUPT);
    CHECK(strstr(weft_keys_last_error(), "offset 10") != NULL);
    REQUIRE(chmod(file, 0640) == 0);
    CHECK_EQ_INT(weft_network_key_load(file, k), WEFT_ERR_KEY_PERMS);
    CHECK(strstr(weft_keys_last_error(), "chmod 600") != NULL);

    /* keygen into a missing directory names the path and errno. */
    path_in(file, sizeof file, "no/such/dir/mesh.key");
    CHECK_EQ_INT(weft_network_key_generate(file), WEFT_ERR_IO);
    CHECK(strstr(weft_keys_last_error(), file) != NULL);
    CHECK(strstr(weft_keys_last_error(), "No such file or directory") != NULL);

    /* Another owner (only root can make one here). */
    if (geteuid() == 0) {
        path_in(file, sizeof file, "theirs.key");
        REQUIRE(weft_network_key_generate(file) == 0);
        REQUIRE(chown(file, 65534, 65534) == 0);
        CHECK_EQ_INT(weft_network_key_load(file, k), WEFT_ERR_KEY_PERMS);
        CHECK(strstr(weft_keys_last_error(), "owned by uid 65534") != NULL);
        REQUIRE(chown(dir, 65534, 65534) == 0);
        CHECK_EQ_INT(weft_identity_load_or_create(dir, sk, &id, NULL), WEFT_ERR_KEY_PERMS);
        CHECK(strstr(weft_keys_last_error(), "chown") != NULL);
    }
}

static void rm_rf(const char *dir)
{
    char cmd[600];
    /* tmpdir comes from mkdtemp under /tmp: safe to quote and remove. */
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/weft-test-keys-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(identity_create_and_reload);
    RUN(identity_rejects_open_perms);
    RUN(identity_rejects_garbage);
    RUN(network_key_files);
    RUN(passphrase_key);
    RUN(strict_modes_and_messages);
    rm_rf(tmpdir);
    TEST_MAIN_END();
}
