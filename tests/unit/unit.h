/*
 * unit.h: the unit-test harness. A test is
 *
 *	UNIT_TEST(hex_round_trip)
 *	{
 *		CHECK(hex_decode("00ff", 4, buf, sizeof(buf)) == 2);
 *		CHECK_STR(out, "00ff");
 *	}
 *
 * Tests register themselves at load time; tests/unit/main.c runs them all
 * (or those whose name contains argv[1]) and prints "N passed, N failed".
 * A failed CHECK records the file, line and expression and the test goes on,
 * so one run shows every broken case in a table.
 */
#ifndef COMMERCE_UNIT_H
#define COMMERCE_UNIT_H

#include <string.h>

typedef void (*unit_fn)(void);

void	unit_register(const char *name, unit_fn fn);
void	unit_fail(const char *file, int line, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

#define UNIT_TEST(name)							\
	static void unit_##name(void);					\
	__attribute__((constructor)) static void unit_reg_##name(void)	\
	{ unit_register(#name, unit_##name); }				\
	static void unit_##name(void)

#define CHECK(expr)							\
	do { if (!(expr)) unit_fail(__FILE__, __LINE__, "%s", #expr); } while (0)

#define CHECK_INT(got, want)						\
	do { long long g_ = (long long)(got), w_ = (long long)(want);	\
	     if (g_ != w_) unit_fail(__FILE__, __LINE__,		\
	         "%s == %lld, want %lld", #got, g_, w_); } while (0)

#define CHECK_STR(got, want)						\
	do { const char *g_ = (got), *w_ = (want);			\
	     if (g_ == NULL || strcmp(g_, w_) != 0)			\
	         unit_fail(__FILE__, __LINE__, "%s == \"%s\", want \"%s\"",\
	             #got, g_ ? g_ : "(null)", w_); } while (0)

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

#endif
