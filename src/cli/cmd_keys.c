/*
 * cmd_keys.c -- the offline commands: `weft keygen` (a new network key)
 * and `weft id` (this node's id, from its data directory).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "weft/keys.h"

int cmd_keygen(cli_args *a)
{
    if (!a->network_key || a->npos)
        return cli_usage_error("usage: weft keygen --network-key FILE");
    int rc = weft_network_key_generate(a->network_key);
    if (rc != 0) {
        fprintf(stderr, "weft: keygen: %s (%s)\n", weft_keys_last_error(), weft_err_name(rc));
        return EXIT_FAIL;
    }
    printf("network key written to %s (mode 0600); give it to every node of the mesh\n",
           a->network_key);
    return EXIT_OK;
}

/*
 * `weft id --data-dir DIR [--create]`.  A missing DIR is refused unless
 * --create: a typo must not mint a new identity (weftd itself creates its
 * data directory on first start).
 */
int cmd_id(cli_args *a)
{
    if (!a->data_dir || a->npos)
        return cli_usage_error("usage: weft id --data-dir DIR [--create]");
    struct stat st;
    if (!a->create && stat(a->data_dir, &st) != 0 && errno == ENOENT)
        return cli_usage_error("id: %s does not exist (a typo? give --create to make a new "
                               "identity there)", a->data_dir);
    uint8_t secret[64];
    weft_node_id id;
    int created = 0;
    int rc = weft_identity_load_or_create(a->data_dir, secret, &id, &created);
    memset(secret, 0, sizeof secret); /* not needed here */
    if (rc != 0) {
        fprintf(stderr, "weft: identity: %s (%s)\n", weft_keys_last_error(), weft_err_name(rc));
        return EXIT_FAIL;
    }
    char h[WEFT_ID_HEX_LEN];
    weft_id_hex(&id, h);
    if (a->json)
        printf("{\"id\":\"%s\",\"created\":%s}\n", h, created ? "true" : "false");
    else
        printf("%s\n", h);
    if (created)
        fprintf(stderr, "weft: created a new identity in %s\n", a->data_dir);
    return EXIT_OK;
}
