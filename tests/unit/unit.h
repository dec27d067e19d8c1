/*
 * unit.h: the smallest harness for the unit tests of pure modules.
 *
 *   UNIT_CASE("name")   begins a named case (and ends the previous one)
 *   UNIT_CHECK(cond)    records a failure with file:line and the
 *                       expression, and goes on
 *   UNIT_SKIP("name", "why")
 *                       reports a case that cannot run here (ends the
 *                       previous one); tests/unit/kernel.h has the
 *                       probes that decide it for the sandbox tests
 *   unit_done()         ends the last case; returns the exit status,
 *                       0 when every case passed, else 1
 *
 * Each case prints one line on stdout:
 *   PASS unit/<test>: <name>
 *   FAIL unit/<test>: <name>: <file>:<line>: <expression>
 *   SKIP unit/<test>: <name>: <why>
 * where <test> is the source file's name without ".c" (and
 * "/<variant>" after unit_variant_set). Every failed
 * check is also written to stderr.
 */
#ifndef DATAAGENT_UNIT_H
#define DATAAGENT_UNIT_H

#include <stdio.h>
#include <string.h>

struct unit_state {
	char us_suite[64];
	const char *us_case;	/* NULL before the first case */
	int us_case_fails;
	char us_detail[512];	/* the case's first failure */
	int us_failed_cases;
	int us_checks_outside;	/* failures outside any case */
	char us_variant[32];	/* "" or e.g. "mysql": unit/<test>/<variant> */
};

static struct unit_state unit_st;

static inline void
unit_suite_set(const char *file)
{
	const char *base = strrchr(file, '/');
	size_t n;

	base = base != NULL ? base + 1 : file;
	n = strcspn(base, ".");
	snprintf(unit_st.us_suite, sizeof(unit_st.us_suite), "%.*s%s%s",
	    (int)n, base, unit_st.us_variant[0] != '\0' ? "/" : "",
	    unit_st.us_variant);
}

static inline void
unit_case_end(void)
{
	if (unit_st.us_case == NULL)
		return;
	if (unit_st.us_case_fails == 0)
		printf("PASS unit/%s: %s\n", unit_st.us_suite,
		    unit_st.us_case);
	else {
		printf("FAIL unit/%s: %s: %s%s\n", unit_st.us_suite,
		    unit_st.us_case, unit_st.us_detail,
		    unit_st.us_case_fails > 1 ? " (and more)" : "");
		unit_st.us_failed_cases++;
	}
	fflush(stdout);
	unit_st.us_case = NULL;
}

/* Runs the following cases as a named variant of the same test (the
 * same cases on another backend, say); "" ends it. */
static inline void
unit_variant_set(const char *variant)
{
	unit_case_end();
	snprintf(unit_st.us_variant, sizeof(unit_st.us_variant), "%s",
	    variant);
}

static inline void
unit_case_begin(const char *file, const char *name)
{
	unit_case_end();
	unit_suite_set(file);
	unit_st.us_case = name;
	unit_st.us_case_fails = 0;
	unit_st.us_detail[0] = '\0';
}

static inline void
unit_check_failed(const char *file, int line, const char *expr)
{
	unit_suite_set(file);
	fprintf(stderr, "%s:%d: check failed: %s\n", file, line, expr);
	if (unit_st.us_case == NULL) {
		unit_st.us_checks_outside++;
		return;
	}
	if (unit_st.us_case_fails++ == 0)
		snprintf(unit_st.us_detail, sizeof(unit_st.us_detail),
		    "%s:%d: %s", file, line, expr);
}

/*
 * Ends the current case and reports name as not run: "SKIP ...: why",
 * or, when fail is set, "FAIL ...: why", counted as a failed case (a
 * skip that the circumstances do not excuse).
 */
static inline void
unit_case_skip(const char *file, const char *name, const char *why, int fail)
{
	unit_case_end();
	unit_suite_set(file);
	printf("%s unit/%s: %s: %s\n", fail ? "FAIL" : "SKIP",
	    unit_st.us_suite, name, why);
	fflush(stdout);
	if (fail) {
		fprintf(stderr, "%s: %s: %s\n", file, name, why);
		unit_st.us_failed_cases++;
	}
}

static inline int
unit_done(void)
{
	unit_case_end();
	if (unit_st.us_checks_outside > 0)
		printf("FAIL unit/%s: %d check(s) outside any case\n",
		    unit_st.us_suite, unit_st.us_checks_outside);
	fflush(stdout);
	return unit_st.us_failed_cases > 0 || unit_st.us_checks_outside > 0;
}

#define UNIT_CASE(name) unit_case_begin(__FILE__, (name))
#define UNIT_SKIP(name, why) unit_case_skip(__FILE__, (name), (why), 0)
#define UNIT_CHECK(cond) do {						\
	if (!(cond))							\
		unit_check_failed(__FILE__, __LINE__, #cond);		\
} while (0)

#endif
