/*
 * phone.c: phone numbers to E.164, following the normalisation steps of
 * ../shared/providers/messaging.md section 5.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "phone.h"

/* Nepali mobile prefixes: 9(6[0-3]|7[24-6]|8[0-24-68]) then 7 digits. */
static int
np_mobile(const char *d)
{
	if (strlen(d) != 10 || d[0] != '9')
		return 0;
	switch (d[1]) {
	case '6':
		return d[2] >= '0' && d[2] <= '3';
	case '7':
		return strchr("2456", d[2]) != NULL;
	case '8':
		return strchr("0124568", d[2]) != NULL;
	default:
		return 0;
	}
}

int
phone_normalize(const char *in, int allow_foreign, char out[PHONE_E164_MAX])
{
	char		 d[24], *digits = d;	/* digits: d less any "00" */
	size_t		 n = 0;
	int		 international = 0;
	const char	*p = in;

	if (strncmp(p, "whatsapp:", 9) == 0)
		p += 9;
	while (*p == ' ')
		p++;
	if (*p == '+') {
		international = 1;
		p++;
	}
	for (; *p != '\0'; p++) {
		if (isdigit((unsigned char)*p)) {
			if (n + 1 >= sizeof(d))
				return -1;
			d[n++] = *p;
		} else if (strchr(" -().", *p) == NULL)
			return -1;
	}
	d[n] = '\0';
	if (!international && n > 2 && d[0] == '0' && d[1] == '0') {
		digits += 2;
		n -= 2;
		international = 1;
	}
	if (n == 10 && !international && np_mobile(digits)) {
		snprintf(out, PHONE_E164_MAX, "+977%.10s", digits);
		return 0;
	}
	if (n == 13 && strncmp(digits, "977", 3) == 0) {
		if (!np_mobile(digits + 3))
			return -1;
		snprintf(out, PHONE_E164_MAX, "+%.15s", digits);
		return 0;
	}
	if (allow_foreign && international && n >= 8 && n <= 15 &&
	    digits[0] != '0' && strncmp(digits, "977", 3) != 0) {
		snprintf(out, PHONE_E164_MAX, "+%.15s", digits);
		return 0;
	}
	return -1;
}
