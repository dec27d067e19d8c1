/*
 * secrets.c: tenant secrets, sealed at rest under the master key.
 *
 * The master key is 32 random bytes in a root-owned 0600 (or 0400) file,
 * or the systemd credential $CREDENTIALS_DIRECTORY/master.key. A value is
 * sealed with AES-256-GCM (OpenSSL EVP) under a fresh 12-byte random
 * nonce, with "tenant\0name" as additional authenticated data: a
 * ciphertext copied to another tenant's or name's row does not open.
 * Plaintext lives only in buffers this file hands out and the callers
 * wipe (secrets_value_free); it is never logged or audited.
 *
 * Key rotation (secrets_rotate) and what an interruption leaves:
 *   1. a new key is written to <path>.new (0600, fsync'd).
 *      Killed here: the store is untouched; the next start finds
 *      <path>.new, sees that the old key opens the secrets and deletes it.
 *   2. every row is re-sealed under the new key in ONE transaction.
 *      Killed here: SQLite rolls the transaction back; as in 1.
 *   3. COMMIT, then rename(<path>.new, <path>) and fsync of the directory.
 *      Killed between the commit and the rename: the store is sealed
 *      under the key in <path>.new. The next start sees that the old
 *      key opens nothing and the new one opens the secrets, and finishes
 *      the rename itself (secrets_start).
 *      Killed after the rename: the new key is in place; nothing to do.
 * At no point are both keys needed, and no secret is lost.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "supervisor.h"
#include "secrets.h"

#define GCM_NONCE_LEN 12
#define GCM_TAG_LEN 16

void
secrets_key_path(const struct config *cf, char *out, size_t outlen)
{
	const char *cred = getenv("CREDENTIALS_DIRECTORY");

	if (cred != NULL && cred[0] != '\0')
		snprintf(out, outlen, "%s/master.key", cred);
	else
		snprintf(out, outlen, "%s", cf->cf_master_key);
}

int
secrets_key_load(const char *path, uint8_t key[SECRETS_KEY_LEN], char *err,
    size_t errlen)
{
	struct stat sb;
	uint8_t buf[SECRETS_KEY_LEN + 1];
	ssize_t n;
	size_t got = 0;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	if (fd == -1) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "master key %s: %s", path,
		    strerror(errno));
		return -1;
	}
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode)) {
		snprintf(err, errlen, "master key %s: not a regular file",
		    path);
		goto fail;
	}
	if (sb.st_uid != 0) {
		snprintf(err, errlen, "master key %s: owned by uid %u, must "
		    "be owned by root", path, (unsigned)sb.st_uid);
		goto fail;
	}
	if ((sb.st_mode & 077) != 0) {
		snprintf(err, errlen, "master key %s: mode %04o lets group or "
		    "others read or write it; chmod 0600 it", path,
		    (unsigned)(sb.st_mode & 07777));
		goto fail;
	}
	if (sb.st_size != SECRETS_KEY_LEN) {
		snprintf(err, errlen, "master key %s: %lld bytes, must be "
		    "exactly %d (dataagentctl key generate)", path,
		    (long long)sb.st_size, SECRETS_KEY_LEN);
		goto fail;
	}
	while (got < sizeof(buf)) {
		n = read(fd, buf + got, sizeof(buf) - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (got != SECRETS_KEY_LEN) {
		snprintf(err, errlen, "master key %s: could not read exactly "
		    "%d bytes", path, SECRETS_KEY_LEN);
		OPENSSL_cleanse(buf, sizeof(buf));
		goto fail;
	}
	memcpy(key, buf, SECRETS_KEY_LEN);
	OPENSSL_cleanse(buf, sizeof(buf));
	close(fd);
	return 1;
fail:
	close(fd);
	return -1;
}

/* "tenant\0name" into aad; returns its length or 0 when too long. */
static size_t
secrets_aad(const char *tenant, const char *name, uint8_t *aad, size_t max)
{
	size_t tl = strlen(tenant), nl = strlen(name);

	if (tl + 1 + nl > max)
		return 0;
	memcpy(aad, tenant, tl);
	aad[tl] = '\0';
	memcpy(aad + tl + 1, name, nl);
	return tl + 1 + nl;
}

int
secrets_seal(const uint8_t key[SECRETS_KEY_LEN], const char *tenant,
    const char *name, const char *value, size_t len,
    uint8_t nonce[SECRETS_NONCE_LEN], uint8_t **ct_r, size_t *ctlen_r)
{
	EVP_CIPHER_CTX *ctx = NULL;
	uint8_t aad[256], *ct = NULL;
	size_t aadlen;
	int n, fin, r = -1;

	*ct_r = NULL;
	*ctlen_r = 0;
	if (len > SECRET_VALUE_MAX ||
	    (aadlen = secrets_aad(tenant, name, aad, sizeof(aad))) == 0 ||
	    RAND_bytes(nonce, SECRETS_NONCE_LEN) != 1 ||
	    (ct = malloc(len + GCM_TAG_LEN)) == NULL ||
	    (ctx = EVP_CIPHER_CTX_new()) == NULL)
		goto out;
	if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, GCM_NONCE_LEN,
	    NULL) != 1 ||
	    EVP_EncryptInit_ex(ctx, NULL, NULL, key, nonce) != 1 ||
	    EVP_EncryptUpdate(ctx, NULL, &n, aad, (int)aadlen) != 1 ||
	    EVP_EncryptUpdate(ctx, ct, &n, (const uint8_t *)value,
	    (int)len) != 1 ||
	    EVP_EncryptFinal_ex(ctx, ct + n, &fin) != 1 ||
	    (size_t)(n + fin) != len ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, GCM_TAG_LEN,
	    ct + len) != 1)
		goto out;
	*ct_r = ct;
	*ctlen_r = len + GCM_TAG_LEN;
	ct = NULL;
	r = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	free(ct);
	return r;
}

int
secrets_open(const uint8_t key[SECRETS_KEY_LEN], const char *tenant,
    const char *name, const uint8_t *nonce, size_t noncelen,
    const uint8_t *ct, size_t ctlen, char **value_r)
{
	EVP_CIPHER_CTX *ctx = NULL;
	uint8_t aad[256], tag[GCM_TAG_LEN];
	char *pt = NULL;
	size_t aadlen, len;
	int n, fin, r = -1;

	*value_r = NULL;
	if (noncelen != GCM_NONCE_LEN || ctlen < GCM_TAG_LEN ||
	    ctlen - GCM_TAG_LEN > SECRET_VALUE_MAX ||
	    (aadlen = secrets_aad(tenant, name, aad, sizeof(aad))) == 0)
		return -1;
	len = ctlen - GCM_TAG_LEN;
	memcpy(tag, ct + len, GCM_TAG_LEN);
	if ((pt = malloc(len + 1)) == NULL ||
	    (ctx = EVP_CIPHER_CTX_new()) == NULL)
		goto out;
	if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, GCM_NONCE_LEN,
	    NULL) != 1 ||
	    EVP_DecryptInit_ex(ctx, NULL, NULL, key, nonce) != 1 ||
	    EVP_DecryptUpdate(ctx, NULL, &n, aad, (int)aadlen) != 1 ||
	    EVP_DecryptUpdate(ctx, (uint8_t *)pt, &n, ct, (int)len) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, GCM_TAG_LEN,
	    tag) != 1 ||
	    EVP_DecryptFinal_ex(ctx, (uint8_t *)pt + n, &fin) != 1 ||
	    (size_t)(n + fin) != len || memchr(pt, '\0', len) != NULL)
		goto out;
	pt[len] = '\0';
	*value_r = pt;
	pt = NULL;
	r = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	if (pt != NULL) {
		OPENSSL_cleanse(pt, len + 1);
		free(pt);
	}
	return r;
}

void
secrets_value_free(char **v)
{
	if (*v == NULL)
		return;
	OPENSSL_cleanse(*v, strlen(*v));
	free(*v);
	*v = NULL;
}

int
secrets_value_valid(const char *v, size_t len)
{
	return v != NULL && len <= SECRET_VALUE_MAX && strlen(v) == len;
}

/* ------------------------------------------------------- with the store */

int
secrets_set(struct sup *sp, const char *tenant, const char *name,
    const char *value, size_t len, char *err, size_t errlen)
{
	uint8_t nonce[SECRETS_NONCE_LEN], *ct;
	size_t ctlen;
	int r;

	if (!sp->sp_have_key) {
		snprintf(err, errlen, "no master key (%s): secrets cannot be "
		    "set; create one with dataagentctl key generate and "
		    "restart dataagentd", sp->sp_key_path);
		return -1;
	}
	if (!secret_name_valid(name)) {
		snprintf(err, errlen, "a secret name must match "
		    "[A-Z_][A-Z0-9_]{0,63}");
		return -1;
	}
	if (!secrets_value_valid(value, len)) {
		snprintf(err, errlen, "a secret value is at most %d bytes "
		    "without NUL", SECRET_VALUE_MAX);
		return -1;
	}
	if (secrets_seal(sp->sp_master_key, tenant, name, value, len, nonce,
	    &ct, &ctlen) == -1) {
		snprintf(err, errlen, "cannot encrypt the secret");
		return -1;
	}
	r = store_secret_put(sp->sp_store, tenant, name, nonce, sizeof(nonce),
	    ct, ctlen, err, errlen);
	free(ct);
	return r;
}

int
secrets_get(struct sup *sp, const char *tenant, const char *name,
    char **value_r, char *err, size_t errlen)
{
	struct store_secret s;
	int r;

	*value_r = NULL;
	r = store_secret_get(sp->sp_store, tenant, name, &s, err, errlen);
	if (r != 1)
		return r;
	if (!sp->sp_have_key || secrets_open(sp->sp_master_key, tenant, name,
	    s.ss_nonce, s.ss_noncelen, s.ss_ct, s.ss_ctlen, value_r) == -1) {
		snprintf(err, errlen, "secret %s of tenant %s does not decrypt "
		    "(moved or tampered)", name, tenant);
		r = -1;
	}
	store_secret_clear(&s);
	return r;
}

json_t *
secrets_server_json(struct sup *sp, const char *tenant, const json_t *srv)
{
	json_t *out, *names, *vals, *bad, *v;
	const char *name;
	char err[STORE_ERRLEN], *value;
	int r;

	if ((out = json_deep_copy(srv)) == NULL)
		return NULL;
	if ((names = json_object()) == NULL ||
	    secretref_server_names(srv, names) == -1 ||
	    json_object_size(names) == 0) {
		json_decref(names);
		return out;
	}
	vals = json_object();
	bad = json_array();
	json_object_foreach(names, name, v) {
		r = secrets_get(sp, tenant, name, &value, err, sizeof(err));
		if (r == 1) {
			json_object_set_new(vals, name, json_string(value));
			secrets_value_free(&value);
		} else if (r == -1) {
			log_error("secret unusable", "{s:s,s:s,s:s,s:s}",
			    "tenant", tenant, "server",
			    json_string_value(json_object_get(srv, "name")),
			    "secret", name, "error", err);
			json_array_append_new(bad, json_string(name));
		}
		/* r == 0: not set; the worker says so */
	}
	json_decref(names);
	json_object_set_new(out, "secrets", vals);
	if (json_array_size(bad) > 0)
		json_object_set_new(out, "secrets_unusable", bad);
	else
		json_decref(bad);
	return out;
}

/* ------------------------------------------------------------ the key */

/* Counts the rows that open under key. */
static size_t
secrets_opening(const uint8_t key[SECRETS_KEY_LEN],
    const struct store_secret *rows, size_t n)
{
	size_t i, ok = 0;
	char *v;

	for (i = 0; i < n; i++) {
		if (secrets_open(key, rows[i].ss_tenant, rows[i].ss_name,
		    rows[i].ss_nonce, rows[i].ss_noncelen, rows[i].ss_ct,
		    rows[i].ss_ctlen, &v) == 0) {
			ok++;
			secrets_value_free(&v);
		}
	}
	return ok;
}

/* fsync of path's directory, so a rename survives a crash. */
static void
secrets_sync_dir(const char *path)
{
	char dir[PATH_MAX];
	int fd;

	snprintf(dir, sizeof(dir), "%s", path);
	if ((fd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) ==
	    -1)
		return;
	(void)fsync(fd);
	close(fd);
}

int
secrets_start(struct sup *sp, char *err, size_t errlen)
{
	struct store_secret *rows = NULL;
	uint8_t newkey[SECRETS_KEY_LEN];
	char newpath[CONFIG_STRLEN + 8];
	size_t n = 0, old_ok, new_ok;
	int r, rc = -1;

	snprintf(newpath, sizeof(newpath), "%s.new", sp->sp_key_path);
	if (store_secret_all(sp->sp_store, &rows, &n, err, errlen) == -1)
		return -1;
	old_ok = sp->sp_have_key ? secrets_opening(sp->sp_master_key, rows,
	    n) : 0;
	/* A rotation that was interrupted left <key>.new behind. */
	r = secrets_key_load(newpath, newkey, err, errlen);
	if (r == -1)
		goto out;
	if (r == 1) {
		new_ok = secrets_opening(newkey, rows, n);
		if (n > 0 && old_ok == 0 && new_ok > 0) {
			if (rename(newpath, sp->sp_key_path) == -1) {
				snprintf(err, errlen, "completing an "
				    "interrupted key rotation: rename %s: %s",
				    newpath, strerror(errno));
				goto out;
			}
			secrets_sync_dir(sp->sp_key_path);
			memcpy(sp->sp_master_key, newkey, SECRETS_KEY_LEN);
			sp->sp_have_key = 1;
			old_ok = new_ok;
			log_warn("completed an interrupted key rotation: the "
			    "new master key is in place", "{s:s}", "path",
			    sp->sp_key_path);
		} else {
			(void)unlink(newpath);
			log_warn("removed the new key of an interrupted key "
			    "rotation: the secrets are still under the old "
			    "key", "{s:s}", "path", newpath);
		}
	}
	if (n > 0 && !sp->sp_have_key) {
		snprintf(err, errlen, "the store holds %zu secret%s but there "
		    "is no master key at %s", n, n == 1 ? "" : "s",
		    sp->sp_key_path);
		goto out;
	}
	if (n > 0 && old_ok == 0) {
		snprintf(err, errlen, "the master key at %s opens none of the "
		    "store's %zu secret%s (wrong key?)", sp->sp_key_path, n,
		    n == 1 ? "" : "s");
		goto out;
	}
	if (old_ok < n)
		log_error("some secrets do not decrypt (moved or tampered)",
		    "{s:i,s:i}", "secrets", (int)n, "unusable",
		    (int)(n - old_ok));
	if (!sp->sp_have_key)
		log_warn("no master key: secrets cannot be set until one is "
		    "created (dataagentctl key generate) and dataagentd "
		    "restarted", "{s:s}", "path", sp->sp_key_path);
	rc = 0;
out:
	OPENSSL_cleanse(newkey, sizeof(newkey));
	store_secret_free_all(&rows, n);
	return rc;
}

int
secrets_key_write(const char *path, const uint8_t key[SECRETS_KEY_LEN],
    char *err, size_t errlen)
{
	size_t off = 0;
	ssize_t w;
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	if (fd == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	while (off < SECRETS_KEY_LEN) {
		w = write(fd, key + off, SECRETS_KEY_LEN - off);
		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			close(fd);
			(void)unlink(path);
			return -1;
		}
		off += (size_t)w;
	}
	if (fsync(fd) == -1 || close(fd) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		(void)unlink(path);
		return -1;
	}
	return 0;
}

/* DATAAGENT_TEST_ROTATE_DELAY_MS (tests only): a pause after each row
 * and after the commit, so a test can kill the daemon mid-rotation. */
static void
secrets_test_delay(void)
{
	const char *s = getenv("DATAAGENT_TEST_ROTATE_DELAY_MS");
	struct timespec ts;
	long ms;

	if (s == NULL || (ms = strtol(s, NULL, 10)) <= 0)
		return;
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

json_t *
secrets_rotate(struct sup *sp, char *err, size_t errlen)
{
	struct store_secret *rows = NULL;
	uint8_t newkey[SECRETS_KEY_LEN], nonce[SECRETS_NONCE_LEN], *ct;
	char newpath[CONFIG_STRLEN + 8], *v, e[STORE_ERRLEN];
	size_t n = 0, i, ctlen;
	json_t *res = NULL;
	int in_tx = 0;

	if (!sp->sp_have_key) {
		snprintf(err, errlen, "no master key to rotate (%s)",
		    sp->sp_key_path);
		return NULL;
	}
	snprintf(newpath, sizeof(newpath), "%s.new", sp->sp_key_path);
	if (store_secret_all(sp->sp_store, &rows, &n, err, errlen) == -1)
		return NULL;
	/* Every row must open first: a rotation must not turn a tampered
	 * row into one that no key opens, unnoticed. */
	for (i = 0; i < n; i++) {
		if (secrets_open(sp->sp_master_key, rows[i].ss_tenant,
		    rows[i].ss_name, rows[i].ss_nonce, rows[i].ss_noncelen,
		    rows[i].ss_ct, rows[i].ss_ctlen, &v) == -1) {
			snprintf(err, errlen, "secret %s of tenant %s does not "
			    "decrypt (moved or tampered): remove or set it "
			    "again before rotating", rows[i].ss_name,
			    rows[i].ss_tenant);
			goto fail;
		}
		secrets_value_free(&v);
	}
	if (RAND_bytes(newkey, sizeof(newkey)) != 1) {
		snprintf(err, errlen, "no random bytes for a new key");
		goto fail;
	}
	if (secrets_key_write(newpath, newkey, e, sizeof(e)) == -1) {
		snprintf(err, errlen, "cannot write the new key: %s%s", e,
		    errno == EEXIST ? " (left by an interrupted rotation? "
		    "restart dataagentd to resolve it)" : "");
		goto fail;
	}
	log_info("key rotation: new key written, re-encrypting", "{s:s,s:i}",
	    "path", newpath, "secrets", (int)n);
	if (store_begin(sp->sp_store, err, errlen) == -1)
		goto fail_unlink;
	in_tx = 1;
	for (i = 0; i < n; i++) {
		if (secrets_open(sp->sp_master_key, rows[i].ss_tenant,
		    rows[i].ss_name, rows[i].ss_nonce, rows[i].ss_noncelen,
		    rows[i].ss_ct, rows[i].ss_ctlen, &v) == -1) {
			snprintf(err, errlen, "secret %s of tenant %s does not "
			    "decrypt", rows[i].ss_name, rows[i].ss_tenant);
			goto fail_unlink;
		}
		if (secrets_seal(newkey, rows[i].ss_tenant, rows[i].ss_name,
		    v, strlen(v), nonce, &ct, &ctlen) == -1) {
			secrets_value_free(&v);
			snprintf(err, errlen, "cannot encrypt");
			goto fail_unlink;
		}
		secrets_value_free(&v);
		if (store_secret_update(sp->sp_store, rows[i].ss_tenant,
		    rows[i].ss_name, nonce, sizeof(nonce), ct, ctlen, err,
		    errlen) == -1) {
			free(ct);
			goto fail_unlink;
		}
		free(ct);
		secrets_test_delay();
	}
	if (store_commit(sp->sp_store, err, errlen) == -1) {
		in_tx = 0;
		goto fail_unlink;
	}
	in_tx = 0;
	/* From here the store needs the new key. */
	memcpy(sp->sp_master_key, newkey, SECRETS_KEY_LEN);
	log_info("key rotation: committed, renaming the new key into place",
	    "{s:s}", "path", sp->sp_key_path);
	secrets_test_delay();
	if (rename(newpath, sp->sp_key_path) == -1) {
		snprintf(err, errlen, "the secrets are re-encrypted under %s "
		    "but it cannot replace %s: %s; dataagentd finishes this "
		    "at its next start", newpath, sp->sp_key_path,
		    strerror(errno));
		log_error("key rotation: rename failed", "{s:s}", "error", err);
		goto fail;
	}
	secrets_sync_dir(sp->sp_key_path);
	log_info("key rotation: done", "{s:s,s:i}", "path", sp->sp_key_path,
	    "secrets", (int)n);
	res = json_pack("{s:s,s:i}", "path", sp->sp_key_path, "secrets",
	    (int)n);
	OPENSSL_cleanse(newkey, sizeof(newkey));
	store_secret_free_all(&rows, n);
	return res;
fail_unlink:
	if (in_tx)
		store_abort(sp->sp_store);
	(void)unlink(newpath);
fail:
	OPENSSL_cleanse(newkey, sizeof(newkey));
	store_secret_free_all(&rows, n);
	return NULL;
}
