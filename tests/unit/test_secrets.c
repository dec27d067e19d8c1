/*
 * test_secrets.c: the crypto of supervisor/secrets.c and the
 * ${secret:NAME} references of common/secretref.c.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "secrets.h"
#include "unit.h"

static const char *
lookup(const char *name, void *arg)
{
	(void)arg;
	return strcmp(name, "TOKEN") == 0 ? "v@lue" : NULL;
}

static int
write_file(const char *path, const void *buf, size_t len, mode_t mode)
{
	int fd;

	unlink(path);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode)) == -1)
		return -1;
	if (write(fd, buf, len) != (ssize_t)len) {
		close(fd);
		return -1;
	}
	fchmod(fd, mode);
	return close(fd);
}

int
main(void)
{
	uint8_t key[SECRETS_KEY_LEN], key2[SECRETS_KEY_LEN], got[SECRETS_KEY_LEN];
	uint8_t n1[SECRETS_NONCE_LEN], n2[SECRETS_NONCE_LEN], *c1, *c2;
	size_t l1, l2;
	char *v, err[256], dir[] = "/tmp/test_secrets.XXXXXX", path[64];
	char missing[80], *out;
	json_t *names;

	memset(key, 7, sizeof(key));
	memset(key2, 8, sizeof(key2));

	UNIT_CASE("seal then open gives the value back");
	UNIT_CHECK(secrets_seal(key, "alice", "TOKEN", "hunter2", 7, n1, &c1,
	    &l1) == 0);
	UNIT_CHECK(l1 == 7 + 16);
	UNIT_CHECK(memmem(c1, l1, "hunter2", 7) == NULL);
	UNIT_CHECK(secrets_open(key, "alice", "TOKEN", n1, sizeof(n1), c1, l1,
	    &v) == 0);
	UNIT_CHECK(v != NULL && strcmp(v, "hunter2") == 0);
	secrets_value_free(&v);
	UNIT_CHECK(v == NULL);

	UNIT_CASE("every write has a fresh nonce");
	UNIT_CHECK(secrets_seal(key, "alice", "TOKEN", "hunter2", 7, n2, &c2,
	    &l2) == 0);
	UNIT_CHECK(memcmp(n1, n2, sizeof(n1)) != 0);
	UNIT_CHECK(l1 == l2 && memcmp(c1, c2, l1) != 0);
	free(c2);

	UNIT_CASE("moved to another tenant or name, it does not open");
	UNIT_CHECK(secrets_open(key, "bob", "TOKEN", n1, sizeof(n1), c1, l1,
	    &v) == -1 && v == NULL);
	UNIT_CHECK(secrets_open(key, "alice", "OTHER", n1, sizeof(n1), c1, l1,
	    &v) == -1);
	/* the AAD separator: "alice"+"TOKEN" is not "aliceT"+"OKEN" */
	UNIT_CHECK(secrets_open(key, "aliceT", "OKEN", n1, sizeof(n1), c1, l1,
	    &v) == -1);

	UNIT_CASE("a wrong key, a flipped bit or a short tag does not open");
	UNIT_CHECK(secrets_open(key2, "alice", "TOKEN", n1, sizeof(n1), c1, l1,
	    &v) == -1);
	c1[0] ^= 1;
	UNIT_CHECK(secrets_open(key, "alice", "TOKEN", n1, sizeof(n1), c1, l1,
	    &v) == -1);
	c1[0] ^= 1;
	c1[l1 - 1] ^= 0x80;
	UNIT_CHECK(secrets_open(key, "alice", "TOKEN", n1, sizeof(n1), c1, l1,
	    &v) == -1);
	c1[l1 - 1] ^= 0x80;
	UNIT_CHECK(secrets_open(key, "alice", "TOKEN", n1, sizeof(n1), c1, 15,
	    &v) == -1);
	UNIT_CHECK(secrets_open(key, "alice", "TOKEN", n1, 8, c1, l1,
	    &v) == -1);
	free(c1);

	UNIT_CASE("values: up to 8 KiB, empty allowed, no NUL");
	UNIT_CHECK(secrets_value_valid("", 0));
	UNIT_CHECK(!secrets_value_valid("a\0b", 3));
	{
		char *big = malloc(SECRET_VALUE_MAX + 2);

		memset(big, 'a', SECRET_VALUE_MAX + 1);
		big[SECRET_VALUE_MAX + 1] = '\0';
		UNIT_CHECK(!secrets_value_valid(big, SECRET_VALUE_MAX + 1));
		big[SECRET_VALUE_MAX] = '\0';
		UNIT_CHECK(secrets_value_valid(big, SECRET_VALUE_MAX));
		UNIT_CHECK(secrets_seal(key, "t", "N", big, SECRET_VALUE_MAX,
		    n1, &c1, &l1) == 0);
		UNIT_CHECK(secrets_open(key, "t", "N", n1, sizeof(n1), c1, l1,
		    &v) == 0 && strlen(v) == SECRET_VALUE_MAX);
		secrets_value_free(&v);
		free(c1);
		free(big);
	}

	UNIT_CASE("secret names");
	UNIT_CHECK(secret_name_valid("GITHUB_TOKEN"));
	UNIT_CHECK(secret_name_valid("_X9"));
	UNIT_CHECK(!secret_name_valid("9X"));
	UNIT_CHECK(!secret_name_valid("lower"));
	UNIT_CHECK(!secret_name_valid(""));
	UNIT_CHECK(!secret_name_valid("A-B"));
	UNIT_CHECK(secret_name_valid("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
	UNIT_CHECK(!secret_name_valid("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));

	UNIT_CASE("the key file: root, 0600, exactly 32 bytes");
	UNIT_CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/master.key", dir);
	UNIT_CHECK(secrets_key_load(path, got, err, sizeof(err)) == 0);
	UNIT_CHECK(write_file(path, key, sizeof(key), 0600) == 0);
	UNIT_CHECK(secrets_key_load(path, got, err, sizeof(err)) == 1);
	UNIT_CHECK(memcmp(got, key, sizeof(key)) == 0);
	UNIT_CHECK(write_file(path, key, sizeof(key), 0400) == 0);
	UNIT_CHECK(secrets_key_load(path, got, err, sizeof(err)) == 1);
	UNIT_CHECK(write_file(path, key, sizeof(key), 0644) == 0);
	UNIT_CHECK(secrets_key_load(path, got, err, sizeof(err)) == -1);
	UNIT_CHECK(strstr(err, "mode 0644") != NULL);
	UNIT_CHECK(write_file(path, key, sizeof(key), 0620) == 0);
	UNIT_CHECK(secrets_key_load(path, got, err, sizeof(err)) == -1);
	UNIT_CHECK(write_file(path, key, 31, 0600) == 0);
	UNIT_CHECK(secrets_key_load(path, got, err, sizeof(err)) == -1);
	UNIT_CHECK(strstr(err, "exactly 32") != NULL);
	UNIT_CHECK(write_file(path, "0123456789012345678901234567890123",
	    33, 0600) == 0);
	UNIT_CHECK(secrets_key_load(path, got, err, sizeof(err)) == -1);
	UNIT_CHECK(write_file(path, key, sizeof(key), 0600) == 0);
	UNIT_CHECK(chown(path, 65534, 65534) == 0);
	UNIT_CHECK(secrets_key_load(path, got, err, sizeof(err)) == -1);
	UNIT_CHECK(strstr(err, "owned by root") != NULL);
	unlink(path);

	UNIT_CASE("a new key file is written 0600 and never over another");
	UNIT_CHECK(secrets_key_write(path, key2, err, sizeof(err)) == 0);
	UNIT_CHECK(secrets_key_load(path, got, err, sizeof(err)) == 1);
	UNIT_CHECK(memcmp(got, key2, sizeof(key2)) == 0);
	UNIT_CHECK(secrets_key_write(path, key, err, sizeof(err)) == -1);
	unlink(path);
	rmdir(dir);

	UNIT_CASE("${secret:NAME} references");
	names = json_object();
	UNIT_CHECK(secretref_names("a${secret:TOKEN}b${secret:lower}"
	    "${secret:X_1}${secret:}${secret:TOKEN", names) == 0);
	UNIT_CHECK(json_object_size(names) == 2);
	UNIT_CHECK(json_object_get(names, "TOKEN") != NULL);
	UNIT_CHECK(json_object_get(names, "X_1") != NULL);
	json_decref(names);
	UNIT_CHECK(secretref_expand("Bearer ${secret:TOKEN}!", lookup, NULL,
	    &out, missing, sizeof(missing)) == 0);
	UNIT_CHECK(out != NULL && strcmp(out, "Bearer v@lue!") == 0);
	free(out);
	UNIT_CHECK(secretref_expand("${secret:lower} $HOME", lookup, NULL,
	    &out, missing, sizeof(missing)) == 0);
	UNIT_CHECK(out != NULL && strcmp(out, "${secret:lower} $HOME") == 0);
	free(out);
	UNIT_CHECK(secretref_expand("x${secret:NOPE}", lookup, NULL, &out,
	    missing, sizeof(missing)) == -1);
	UNIT_CHECK(out == NULL && strcmp(missing, "NOPE") == 0);

	UNIT_CASE("mem_no_core: no core limit, not dumpable");
	{
		struct rlimit rl = { 4096, RLIM_INFINITY };

		(void)setrlimit(RLIMIT_CORE, &rl);
		UNIT_CHECK(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 1);
		UNIT_CHECK(mem_no_core(err, sizeof(err)) == 0);
		UNIT_CHECK(getrlimit(RLIMIT_CORE, &rl) == 0 &&
		    rl.rlim_cur == 0 && rl.rlim_max == 0);
		UNIT_CHECK(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0);
	}

	UNIT_CASE("a reference in args is found, and its value is never sent");
	{
		json_t *srv = json_pack("{s:[s,s,s],s:{s:s}}", "args", "-v",
		    "${secret:lower}", "x${secret:ARG_TOK}y", "env", "E",
		    "${secret:ENV_TOK}");
		char nm[SECRET_NAME_MAX + 1];
		size_t idx = 99;

		UNIT_CHECK(secretref_args_find(json_object_get(srv, "args"),
		    &idx, nm) == 1);
		UNIT_CHECK(idx == 2 && strcmp(nm, "ARG_TOK") == 0);
		names = json_object();
		UNIT_CHECK(secretref_server_names(srv, names) == 0);
		UNIT_CHECK(json_object_size(names) == 1 &&
		    json_object_get(names, "ENV_TOK") != NULL);
		json_decref(names);
		json_array_remove(json_object_get(srv, "args"), 2);
		UNIT_CHECK(secretref_args_find(json_object_get(srv, "args"),
		    &idx, nm) == 0);
		json_decref(srv);
	}

	return unit_done();
}
