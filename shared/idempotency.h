/*
 * idempotency.h: create requests that a client may retry safely.
 *
 * A create handler runs between idempotent_begin_or_respond() and
 * idempotent_commit_and_respond(), inside one transaction. With an
 * Idempotency-Key header, the key is claimed in that transaction (table
 * idempotency_keys, sql/002): a retry with the same key and the same body
 * gets the first response again (with "Idempotent-Replayed: true") and
 * creates nothing; the same key with another body is a 422. Two retries
 * racing each other serialise on the key's row. A key lives 24 hours.
 * Without the header, the pair only opens and commits the transaction.
 */
#ifndef COMMERCE_IDEMPOTENCY_H
#define COMMERCE_IDEMPOTENCY_H

#include "app.h"

#define IDEMPOTENCY_KEY_MAX	255

/* Opens the transaction and claims the key. Returns 0 to go on, or -1
 * having answered (a replay, a 422, or 503/500). */
int	idempotent_begin_or_respond(struct app *, struct request *);

/*
 * Stores the response under the key (when there is one), commits and
 * answers {"success": true, "data": data}; takes ownership of data. If the
 * commit fails, answers 503 and nothing is kept. A handler that fails
 * before this answers its error and returns: the request loop rolls back.
 */
void	idempotent_commit_and_respond(struct app *, struct request *,
	    int status, struct json_object *data);

#endif
