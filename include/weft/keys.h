/*
 * keys.h -- node identity and network key files (driver level: these
 * functions do file I/O and use libsodium; the sans-IO core never calls
 * them, it receives the loaded keys).
 *
 * A node's identity is an Ed25519 key pair; the node id is the public key.
 * The identity file <data_dir>/identity.key holds the 32-byte seed as 64
 * lowercase hex characters on one line, preceded by a comment line
 * ("# weft node id <64 hex>") for humans.  The network key (the Noise psk
 * shared by every node of a mesh) is a file of 64 hex characters.
 *
 * Key files must be private: a file readable or writable by group or
 * others, or owned by another user (root aside), is refused with
 * WEFT_ERR_KEY_PERMS (as ssh does), rather than silently used; so is a
 * data directory that another user owns or that group or others may
 * write.  After any failure weft_keys_last_error() says what was wrong
 * with which path, and how to fix it.  New files are written atomically (temporary file in the
 * same directory, fsync, then link into place, then fsync the directory),
 * with mode 0600, so a crash never leaves a half-written key.
 */
#ifndef WEFT_KEYS_H
#define WEFT_KEYS_H

#include <stdint.h>
#include "weft/weft.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Longest key file accepted; anything longer is WEFT_ERR_CORRUPT. */
#define WEFT_KEY_FILE_MAX_BYTES 4096

/*
 * Loads the node identity from <data_dir>/identity.key, creating it (and
 * data_dir itself, mode 0700, if missing; its parent must exist) from OS
 * randomness when absent.  On success secret receives the Ed25519 secret
 * key (seed || public key, the layout of weft_crypto.sign), id the public
 * key, and *created (may be NULL) 1 if the file was just created, else 0.
 * If two processes create concurrently, one wins and both load its key.
 * Lines starting with '#' and blank lines are ignored when loading.
 * Returns 0,
 *   WEFT_ERR_INVAL      a NULL argument or a path too long,
 *   WEFT_ERR_KEY_PERMS  the file is readable/writable by group or others
 *                       or owned by another user; or data_dir is owned by
 *                       another user or writable by group or others,
 *   WEFT_ERR_CORRUPT    the file is not one line of 64 hex chars (plus
 *                       comments), is too big, or is not a regular file,
 *   WEFT_ERR_IO         any other file system error.
 * secret is zeroed on failure.
 */
WEFT_EXTERN int weft_identity_load_or_create(const char *data_dir, uint8_t secret[64],
                                 weft_node_id *id, int *created);

/*
 * Checks that dir is a directory this user (or root) owns and that group
 * and others cannot write.  Returns 0, WEFT_ERR_NOT_FOUND, WEFT_ERR_IO
 * (not a directory, or stat failed), WEFT_ERR_KEY_PERMS or WEFT_ERR_INVAL.
 */
int weft_private_dir_check(const char *dir);

/* The last failure of a function of this header as one sentence: the
 * path, what is wrong and, where there is one, the command that fixes it
 * ("DIR has mode 0770: its group may write in it and replace the identity
 * key; fix: chmod 700 DIR").  Static buffer, not thread-safe. */
const char *weft_keys_last_error(void);

/*
 * Loads a network key: 64 hex chars; whitespace anywhere and '#' comment
 * lines are tolerated.  Returns 0,
 *   WEFT_ERR_INVAL      NULL argument,
 *   WEFT_ERR_NOT_FOUND  the file does not exist,
 *   WEFT_ERR_KEY_PERMS  readable/writable by group or others, or owned
 *                       by another user,
 *   WEFT_ERR_CORRUPT    not exactly 64 hex chars, too big, not a file,
 *   WEFT_ERR_IO         other file system errors.
 * key is zeroed on failure.
 */
WEFT_EXTERN int weft_network_key_load(const char *path, uint8_t key[32]);

/*
 * Writes a new random network key to path (mode 0600, atomically).
 * Returns 0, WEFT_ERR_INVAL, WEFT_ERR_EXISTS (path already exists; it is
 * left untouched) or WEFT_ERR_IO.
 */
WEFT_EXTERN int weft_network_key_generate(const char *path);

/*
 * Derives a network key from a passphrase: BLAKE2b-256 of the passphrase
 * keyed with "weft-netkey-v1".  FOR DEMOS AND TESTS ONLY: it is fast and
 * unsalted, so a guessable passphrase yields a guessable mesh key; real
 * meshes should use weft_network_key_generate().  Returns 0 or
 * WEFT_ERR_INVAL (NULL argument).
 */
WEFT_EXTERN int weft_network_key_from_passphrase(const char *pass, uint8_t key[32]);

#ifdef __cplusplus
}
#endif
#endif /* WEFT_KEYS_H */
