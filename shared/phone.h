/*
 * phone.h: phone numbers to E.164. Nepal first (country code 977, mobile
 * numbers 9[6-8]x xxxxxxx per ../shared/providers/messaging.md section 5):
 * "9801234567", "+977-9801234567", "009779801234567", "whatsapp:+977..."
 * and "977 980 123 4567" are all "+9779801234567".
 */
#ifndef COMMERCE_PHONE_H
#define COMMERCE_PHONE_H

#define PHONE_E164_MAX	17	/* '+', up to 15 digits, NUL */

/*
 * Normalises in to E.164 in out. A Nepali number must be a mobile number.
 * With allow_foreign, a number written with '+' or '00' and another
 * country code is kept as E.164 (8 to 15 digits). Returns 0 or -1.
 */
int	phone_normalize(const char *in, int allow_foreign, char out[PHONE_E164_MAX]);

#endif
