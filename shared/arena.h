/*
 * arena.h: per-request memory. Everything allocated from an arena is freed
 * at once by arena_free(); nothing is freed piecemeal.
 */
#ifndef COMMERCE_ARENA_H
#define COMMERCE_ARENA_H

#include <stddef.h>

struct arena_block;

struct arena {
	struct arena_block	*head;
};

/* Zeroed memory of len bytes, or NULL when out of memory. */
void	*arena_alloc(struct arena *, size_t len);

/* Copies of a string or of len bytes (NUL-terminated), or NULL. */
char	*arena_strdup(struct arena *, const char *);
char	*arena_strndup(struct arena *, const char *, size_t len);

/* printf into the arena; NULL on failure. */
char	*arena_printf(struct arena *, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

void	 arena_free(struct arena *);

#endif
