/*
 * The unit-test runner: runs every registered test, or those whose name
 * contains argv[1], and ends with "N passed, N failed".
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"

#define UNIT_MAX	512

static struct {
	const char	*name;
	unit_fn		 fn;
} tests[UNIT_MAX];
static int	ntests;
static int	current_failures;

void
unit_register(const char *name, unit_fn fn)
{
	if (ntests == UNIT_MAX) {
		fprintf(stderr, "unit: more than %d tests\n", UNIT_MAX);
		exit(2);
	}
	tests[ntests].name = name;
	tests[ntests].fn = fn;
	ntests++;
}

void
unit_fail(const char *file, int line, const char *fmt, ...)
{
	va_list	ap;

	current_failures++;
	fprintf(stdout, "    %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stdout, fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
}

int
main(int argc, char *argv[])
{
	int	i, passed = 0, failed = 0;

	for (i = 0; i < ntests; i++) {
		if (argc > 1 && strstr(tests[i].name, argv[1]) == NULL)
			continue;
		current_failures = 0;
		tests[i].fn();
		if (current_failures == 0) {
			passed++;
			printf("ok   %s\n", tests[i].name);
		} else {
			failed++;
			printf("FAIL %s\n", tests[i].name);
		}
	}
	printf("%d passed, %d failed\n", passed, failed);
	return (failed == 0 && passed > 0) ? 0 : 1;
}
