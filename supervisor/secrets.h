/*
 * secrets.h: tenant secrets sealed under the master key (secrets.c).
 * Only dataagentd links this; values are wiped by secrets_value_free.
 */
#ifndef DATAAGENT_SECRETS_H
#define DATAAGENT_SECRETS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define SECRETS_KEY_LEN 32
#define SECRETS_NONCE_LEN 12

struct config;
struct sup;

/* $CREDENTIALS_DIRECTORY/master.key when that is set, else master_key. */
void secrets_key_path(const struct config *cf, char *out, size_t outlen);
/*
 * Reads the key file: a regular file owned by root, no group or other
 * permission bits, exactly 32 bytes. Returns 1 with key filled, 0 when
 * the file does not exist, -1 with err for anything else.
 */
int secrets_key_load(const char *path, uint8_t key[SECRETS_KEY_LEN],
    char *err, size_t errlen);
/* Writes key to a new file (O_EXCL, 0600, fsync'd). Returns 0 or -1. */
int secrets_key_write(const char *path, const uint8_t key[SECRETS_KEY_LEN],
    char *err, size_t errlen);
/*
 * AES-256-GCM with a fresh random nonce and "tenant\0name" as AAD.
 * Returns 0 with *ct_r (malloc'd ciphertext || 16-byte tag), or -1.
 */
int secrets_seal(const uint8_t key[SECRETS_KEY_LEN], const char *tenant,
    const char *name, const char *value, size_t len,
    uint8_t nonce[SECRETS_NONCE_LEN], uint8_t **ct_r, size_t *ctlen_r);
/* Returns 0 with *value_r (malloc'd, NUL-terminated: free it with
 * secrets_value_free), or -1 when it does not authenticate. */
int secrets_open(const uint8_t key[SECRETS_KEY_LEN], const char *tenant,
    const char *name, const uint8_t *nonce, size_t noncelen,
    const uint8_t *ct, size_t ctlen, char **value_r);
/* Wipes and frees *v; sets it to NULL. */
void secrets_value_free(char **v);
/* At most SECRET_VALUE_MAX bytes, no NUL among the len bytes. */
int secrets_value_valid(const char *v, size_t len);

/* Seals and stores one secret. Returns 0 or -1 with err (never the
 * value). */
int secrets_set(struct sup *sp, const char *tenant, const char *name,
    const char *value, size_t len, char *err, size_t errlen);
/* Returns 1 with *value_r, 0 when not set, -1 with err (does not
 * decrypt, or the store failed). */
int secrets_get(struct sup *sp, const char *tenant, const char *name,
    char **value_r, char *err, size_t errlen);
/*
 * A copy of the server object with "secrets": {NAME: value} for the
 * names it refers to that are set and open, and "secrets_unusable":
 * [NAME] for those that do not decrypt. NULL when out of memory.
 */
json_t *secrets_server_json(struct sup *sp, const char *tenant,
    const json_t *srv);
/*
 * At start-up, after the store is open: finishes or undoes an
 * interrupted rotation, and refuses (-1 with err) a store with secrets
 * and no key, or a key that opens none of them.
 */
int secrets_start(struct sup *sp, char *err, size_t errlen);
/* Re-seals every secret under a new key (see secrets.c). Returns
 * {"path","secrets"} or NULL with err. */
json_t *secrets_rotate(struct sup *sp, char *err, size_t errlen);

#endif
